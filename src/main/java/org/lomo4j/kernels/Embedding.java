package org.lomo4j.kernels;

/**
 * Token embedding lookup. tokens (N), table (V, C) at {@code wOff}, out (N, C).
 */
public final class Embedding {
    private Embedding() {}

    public static void forwardRow(float[] out, int[] tokens, float[] w, int wOff, int c, int n) {
        int src = wOff + tokens[n] * c;
        int dst = n * c;
        for (int i = 0; i < c; i++) {
            out[dst + i] = w[src + i];
        }
    }

    /**
     * Row {@code v} of the table's gradient: the sum of the output gradients of every position holding
     * token v. Scanning the tokens per row keeps rows independent, so they run in parallel without races.
     */
    public static void weightGradRow(float[] g, int gOff, float[] dout, int[] tokens, int nTokens, int c, int v) {
        for (int n = 0; n < nTokens; n++) {
            if (tokens[n] == v) {
                int src = n * c;
                for (int i = 0; i < c; i++) {
                    g[gOff + i] += dout[src + i];
                }
            }
        }
    }

    /**
     * Element (v, i) of the table's gradient, the same sum for one element, as one GPU thread computes it.
     * The row form above walks whole rows instead, which is what a CPU's cache wants.
     */
    public static float weightGradElement(float[] dout, int[] tokens, int nTokens, int c, int v, int i) {
        float s = 0f;
        for (int n = 0; n < nTokens; n++) {
            if (tokens[n] == v) s += dout[n * c + i];
        }
        return s;
    }

    public static void forward(float[] out, int[] tokens, float[] w, int wOff, int nTokens, int c) {
        for (int n = 0; n < nTokens; n++) forwardRow(out, tokens, w, wOff, c, n);
    }

    public static void backward(float[] dw, int dwOff, float[] dout, int[] tokens, int nTokens, int c, int vocab) {
        for (int v = 0; v < vocab; v++) weightGradRow(dw, dwOff + v * c, dout, tokens, nTokens, c, v);
    }
}
