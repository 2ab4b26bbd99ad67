package org.lomo4j.optim;

import org.lomo4j.kernels.Half;
import org.lomo4j.kernels.Update;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaModel;

/**
 * Trains a model one batch at a time. The JVM's optimizers are {@link Lomo}, {@code Sgd} and {@code AdamW};
 * a {@link org.lomo4j.backend.Backend} may bring its own, which keeps the weights elsewhere (a device) and
 * copies them back to the model's array on {@link #syncToHost}.
 */
public abstract class Optimizer implements AutoCloseable {
    protected final LlamaModel model;
    protected final OptimizerConfig config;
    /** Hyper-parameters as the update kernels read them (see {@link Update}). */
    protected final float[] hp = new float[Update.SIZE];
    protected int step;
    /** Keys this step's stochastic rounding of 16-bit weights: the same for a step whenever it is run. */
    protected long roundingKey;

    protected Optimizer(LlamaModel model, OptimizerConfig config) {
        this.model = model;
        this.config = config;
    }

    public static Optimizer create(LlamaModel model, OptimizerConfig config) {
        return switch (config.kind()) {
            case LOMO -> new Lomo(model, config);
            case ADALOMO -> new AdaLomo(model, config);
            case SGD -> new Sgd(model, config);
            case ADAMW -> new AdamW(model, config);
        };
    }

    /** Forward, backward and update on one batch. */
    public abstract StepResult step(Batch batch);

    public OptimizerConfig config() {
        return config;
    }

    /** Steps taken so far; the learning-rate schedule's position. */
    public int stepCount() {
        return step;
    }

    /** Moves the schedule to {@code step}, when resuming. */
    public void setStepCount(int step) {
        this.step = step;
    }

    /**
     * The mean loss of {@code batch} under the current weights, forward only, computed where the weights are: the
     * model's own forward here, a backend's device for its optimizers. Evaluation during training calls it.
     */
    public float evalLoss(Batch batch) {
        return model.forward(batch);
    }

    /** Makes the model's parameter array current; checkpoints and evaluation call it first. */
    public void syncToHost() {
    }

    /** Bytes resident on a device by category (a backend's optimizer), or null for the JVM's own. */
    public org.lomo4j.memory.MemoryLedger deviceMemory() {
        return null;
    }

    /**
     * Turns a device backend's profiler on from the next step ({@code train --device-profile}); the JVM's own
     * optimizers have none.
     */
    public void profileDevice() {
        throw new IllegalArgumentException("--device-profile needs a device backend (--backend tornado)");
    }

    /** What the device profiler measured so far, or null when it is off. */
    public org.lomo4j.backend.DeviceProfile deviceProfile() {
        return null;
    }

    /** Releases what the optimizer holds outside the JVM heap (a device's buffers). */
    @Override
    public void close() {
    }

    /** Optimizer buffers to save with a checkpoint, by name (none for LOMO and SGD). */
    public java.util.Map<String, float[]> state() {
        return java.util.Map.of();
    }

    /** Stops the step before backward when the forward's loss is not finite, so no weight is changed by it. */
    protected final float finite(float loss) {
        if (!Float.isFinite(loss)) throw new DivergedException(step, loss);
        return loss;
    }

    /** Fills {@code hp} for the current step; the gradient scale comes from global-norm clipping. */
    protected double prepareHyperParameters(float gradScale) {
        double lr = config.schedule().at(step);
        hp[Update.LR] = (float) lr;
        hp[Update.WEIGHT_DECAY] = (float) config.weightDecay();
        hp[Update.CLIP_VALUE] = config.clipValue() > 0 ? (float) config.clipValue() : Float.POSITIVE_INFINITY;
        hp[Update.GRAD_SCALE] = gradScale;
        roundingKey = Half.key(config.seed(), step);
        return lr;
    }
}
