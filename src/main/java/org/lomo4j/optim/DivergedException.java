package org.lomo4j.optim;

/**
 * The forward pass's loss was NaN or infinite. The optimizers check before backward, so no weight has
 * changed: the model still holds the weights of the steps before, which can be saved and inspected.
 */
public final class DivergedException extends IllegalStateException {
    private final int step;
    private final float loss;

    public DivergedException(int step, float loss) {
        super("loss became " + loss + " at step " + (step + 1));
        this.step = step;
        this.loss = loss;
    }

    /** The 0-based step whose forward diverged; the weights are those after {@code step} steps. */
    public int step() {
        return step;
    }

    public float loss() {
        return loss;
    }
}
