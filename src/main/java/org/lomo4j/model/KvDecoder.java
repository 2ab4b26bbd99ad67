package org.lomo4j.model;

/**
 * Generation with a key/value cache, wherever the model runs: the JVM ({@link LlamaModel}) or a device backend
 * ({@code Backend.Forward}). One forward over the prompts fills the cache, then each new token costs a forward
 * of one position per row.
 */
public interface KvDecoder {

    /**
     * The forward of b prompts right-padded to t tokens, filling a cache of up to {@code maxLen} positions per row:
     * each row's logits at {@code last[i]}, (b, V).
     */
    float[] prefill(int[] tokens, int b, int t, int[] last, int maxLen);

    /** One new token per row, row i's at position {@code positions[i]}: the logits (rows, V) that follow it. */
    float[] decode(int[] next, int[] positions);

    /** Frees the cache of the last {@link #prefill}, where there is one to free. */
    void endGeneration();
}
