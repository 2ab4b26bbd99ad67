package org.lomo4j.optim;

/**
 * Dynamic loss scaling for float16 weights, as the reference LOMO does it: backward runs on the loss times
 * a scale S = 2^e, a first pass checks that every gradient is finite, a step whose gradients are not is
 * skipped and halves S (down to 1), and S doubles again after {@code window} good steps in a row.
 *
 * <p>lomo4j computes and holds gradients in fp32, so S does not rescue float16 gradients from underflow as
 * it does on a GPU; what it does here is keep a step with an inf or NaN gradient from reaching the weights.
 * Its state is two floats (e and the good steps since the last change), saved with a checkpoint so that a
 * resumed run scales exactly as the straight run did.
 */
final class LossScaler {
    static final int INITIAL_EXPONENT = 16;  // 65536, the reference's initial scale
    static final int WINDOW = 1000;          // good steps before S doubles, as in the reference

    private final float[] state;  // {e, good steps}
    private final int window;

    LossScaler(int initialExponent, int window) {
        this.state = new float[] {initialExponent, 0};
        this.window = window;
    }

    /** S. */
    double scale() {
        return Math.scalb(1.0, (int) state[0]);
    }

    /** A step's gradients were all finite: count it, and double S after a window of them. */
    void good() {
        if (++state[1] >= window) {
            state[0]++;
            state[1] = 0;
        }
    }

    /** A step's gradients were not finite: halve S, no lower than 1. */
    void overflowed() {
        state[0] = Math.max(0, state[0] - 1);
        state[1] = 0;
    }

    /** The live state, for checkpoints. */
    float[] state() {
        return state;
    }
}
