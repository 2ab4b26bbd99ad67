package org.lomo4j.kernels;

/**
 * The SwiGLU gate of LLaMA's MLP: {@code h = silu(gate) · up}, with {@code silu(g) = g · σ(g)}.
 * gate, up, h all (N, F).
 */
public final class SwiGlu {
    private SwiGlu() {}

    public static void forwardRow(float[] h, float[] gate, float[] up, int f, int n) {
        int off = n * f;
        for (int j = 0; j < f; j++) {
            float g = gate[off + j];
            float sig = (float) (1.0 / (1.0 + Math.exp(-g)));
            h[off + j] = g * sig * up[off + j];
        }
    }

    /** {@code dup += dh · silu(g)}, {@code dgate += dh · up · σ(g) · (1 + g · (1 − σ(g)))}. */
    public static void backwardRow(float[] dgate, float[] dup, float[] dh, float[] gate, float[] up, int f, int n) {
        int off = n * f;
        for (int j = 0; j < f; j++) {
            float g = gate[off + j];
            float sig = (float) (1.0 / (1.0 + Math.exp(-g)));
            float d = dh[off + j];
            dup[off + j] += d * g * sig;
            dgate[off + j] += d * up[off + j] * sig * (1f + g * (1f - sig));
        }
    }

    public static void forward(float[] h, float[] gate, float[] up, int nTokens, int f) {
        for (int n = 0; n < nTokens; n++) forwardRow(h, gate, up, f, n);
    }

    public static void backward(float[] dgate, float[] dup, float[] dh, float[] gate, float[] up, int nTokens, int f) {
        for (int n = 0; n < nTokens; n++) backwardRow(dgate, dup, dh, gate, up, f, n);
    }
}
