package org.lomo4j.checkpoint;

/** A checkpoint not written because a weight is NaN or infinite: {@link #tensor} names the first such tensor. */
public final class NonFiniteWeightsException extends CheckpointException {
    private final String tensor;

    public NonFiniteWeightsException(String message, String tensor) {
        super(message);
        this.tensor = tensor;
    }

    public String tensor() {
        return tensor;
    }
}
