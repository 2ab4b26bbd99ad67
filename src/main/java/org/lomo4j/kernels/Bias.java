package org.lomo4j.kernels;

/**
 * An additive bias on a projection's output, {@code y[n, j] += b[j]}: Qwen2's q/k/v projections carry one.
 * Shapes: y and dy (N, OUT); b (OUT) at {@code bOff} in the flat parameters.
 */
public final class Bias {
    private Bias() {}

    public static void forwardRow(float[] y, float[] b, int bOff, int out, int n) {
        int off = n * out;
        for (int j = 0; j < out; j++) {
            y[off + j] += b[bOff + j];
        }
    }

    /** The bias gradient (one row of OUT): {@code g[j] += Σ_n dy[n, j]}. The input gradient is dy itself. */
    public static void weightGrad(float[] g, int gOff, float[] dy, int nTokens, int out) {
        for (int n = 0; n < nTokens; n++) {
            int off = n * out;
            for (int j = 0; j < out; j++) {
                g[gOff + j] += dy[off + j];
            }
        }
    }

    /** Element j of the bias gradient, the same sum one GPU thread computes (the row form above suits a CPU's cache). */
    public static float weightGradElement(float[] dy, int nTokens, int out, int j) {
        float s = 0f;
        for (int n = 0; n < nTokens; n++) {
            s += dy[n * out + j];
        }
        return s;
    }

    public static void forward(float[] y, float[] b, int bOff, int nTokens, int out) {
        for (int n = 0; n < nTokens; n++) forwardRow(y, b, bOff, out, n);
    }
}
