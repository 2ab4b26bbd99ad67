package org.lomo4j.tornado;

/**
 * Copies between a layer's working activations and its region of the store, one token's row at a time.
 * The device graphs of a block are compiled once and run for every layer on the same working arrays, so
 * what backward needs of each layer is kept in {@code DeviceBuffers.store}: layer l's region holds its
 * arrays one after another, each (N, width). Called from {@link Tasks}' save and restore tasks.
 */
final class Stash {
    private Stash() {}

    /** Row t of {@code a} (width floats) into the array starting at {@code s}; returns where the next array starts. */
    static int save(float[] store, int s, float[] a, int width, int t, int n) {
        for (int j = 0; j < width; j++) {
            store[s + t * width + j] = a[t * width + j];
        }
        return s + n * width;
    }

    /** The reverse of {@link #save}. */
    static int restore(float[] store, int s, float[] a, int width, int t, int n) {
        for (int j = 0; j < width; j++) {
            a[t * width + j] = store[s + t * width + j];
        }
        return s + n * width;
    }

    static void zero(float[] a, int width, int t) {
        for (int j = 0; j < width; j++) {
            a[t * width + j] = 0f;
        }
    }

    /**
     * Where the array after a half's first three starts: each half opens with its input (width c), that input
     * normed (c) and its rstd (1), so this is q in the attention half and gate in the MLP half.
     */
    static int afterNormedInput(int s, int c, int n) {
        return s + n * (2 * c + 1);
    }

    /** Where the MLP half of the layer region starting at {@code s} starts: after the attention half's N rows. */
    static int mlpHalf(int s, int c, int qd, int kvd, int heads, int n) {
        return s + n * attentionWidth(c, qd, kvd, heads);
    }

    /** Floats per token of the attention half: x, ln1, rstd1, q, k, v, the heads' log-sum-exps, att. */
    static int attentionWidth(int c, int qd, int kvd, int heads) {
        return 2 * c + 1 + qd + 2 * kvd + heads + qd;
    }

    /** Floats per token of the MLP half: res1, ln2, rstd2, gate, up, h. */
    static int mlpWidth(int c, int f) {
        return 2 * c + 1 + 3 * f;
    }
}
