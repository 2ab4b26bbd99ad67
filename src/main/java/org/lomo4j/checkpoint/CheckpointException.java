package org.lomo4j.checkpoint;

/** A checkpoint file that cannot be used; the message names the file and, where it applies, the tensor. */
public sealed class CheckpointException extends IllegalArgumentException permits NonFiniteWeightsException {
    public CheckpointException(String message) {
        super(message);
    }
}
