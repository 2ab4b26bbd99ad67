package org.lomo4j.model;

/**
 * Receives each weight's gradient during backward, at the moment it can be computed: after the
 * gradient flowing to the layer's input has been computed from the weight's current values.
 *
 * <p>This is where optimizers differ. The standard way ({@code FullGradients}) accumulates every gradient
 * into a buffer as large as the model; LOMO computes a row of the gradient into scratch and applies the
 * update to that row at once, so the full gradient set never exists.
 */
public interface GradientSink {

    /** Accumulates ({@code +=}) row {@code row} of a weight's gradient into {@code g[gOff .. gOff + cols)}. */
    @FunctionalInterface
    interface RowGradient {
        void accumulate(float[] g, int gOff, int row);
    }

    /**
     * The gradient of {@code weight} from one of its uses. {@code lastUse} is false only for a weight used
     * again further down the backward pass (the head tied to the embedding): its gradient is not complete
     * yet, so a sink that updates must hold it until the last use.
     */
    void accept(Tensor weight, RowGradient gradient, boolean lastUse);
}
