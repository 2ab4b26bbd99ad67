package org.lomo4j.kernels;

/**
 * Linear layer without bias, {@code y = x · Wᵀ}, with W stored [OUT, IN] as in PyTorch.
 *
 * <p>x (N, IN), W (OUT, IN) at {@code wOff}, y (N, OUT).
 */
public final class Matmul {
    private Matmul() {}

    /** One row of y: {@code y[n, o] = Σ_i x[n, i] · W[o, i]}. */
    public static void forwardRow(float[] y, float[] x, float[] w, int wOff, int in, int out, int n) {
        for (int o = 0; o < out; o++) {
            forwardElement(y, x, w, wOff, in, out, n, o);
        }
    }

    /** One element, {@code y[n, o]}: what one GPU thread computes. */
    public static void forwardElement(float[] y, float[] x, float[] w, int wOff, int in, int out, int n, int o) {
        y[n * out + o] = dot(x, n * in, w, wOff + o * in, in);
    }

    /** One row of the input gradient: {@code dx[n, i] += Σ_o dy[n, o] · W[o, i]}. */
    public static void inputGradRow(float[] dx, float[] dy, float[] w, int wOff, int in, int out, int n) {
        int dxOff = n * in;
        int dyOff = n * out;
        for (int o = 0; o < out; o++) {
            float d = dy[dyOff + o];
            int wRow = wOff + o * in;
            for (int i = 0; i < in; i++) {
                dx[dxOff + i] += d * w[wRow + i];
            }
        }
    }

    /**
     * Element (n, i) of the input gradient, {@code Σ_o dy[n, o] · W[o, i]}: the sum {@link #inputGradRow} adds,
     * for one element, as one GPU thread computes it (the row form walks W's rows, which a CPU's cache wants).
     */
    public static float inputGradElement(float[] dy, float[] w, int wOff, int in, int out, int n, int i) {
        float s = 0f;
        for (int o = 0; o < out; o++) {
            s += dy[n * out + o] * w[wOff + o * in + i];
        }
        return s;
    }

    /**
     * Row {@code o} of the weight gradient into {@code g[gOff .. gOff + IN)}:
     * {@code g[i] += Σ_n dy[n, o] · x[n, i]}.
     */
    public static void weightGradRow(float[] g, int gOff, float[] dy, float[] x, int nTokens, int in, int out, int o) {
        for (int n = 0; n < nTokens; n++) {
            float d = dy[n * out + o];
            int xOff = n * in;
            for (int i = 0; i < in; i++) {
                g[gOff + i] += d * x[xOff + i];
            }
        }
    }

    /**
     * Element (o, i) of the weight gradient, {@code Σ_n dy[n, o] · x[n, i]}: the same sum as
     * {@link #weightGradRow}, for one element, as one GPU thread computes it before updating that weight.
     */
    public static float weightGradElement(float[] dy, float[] x, int nTokens, int in, int out, int o, int i) {
        float s = 0f;
        for (int n = 0; n < nTokens; n++) {
            s += dy[n * out + o] * x[n * in + i];
        }
        return s;
    }

    /** Dot product with four partial sums, so the JIT can overlap the adds; TornadoVM compiles it as is. */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        int i = 0;
        for (; i + 3 < len; i += 4) {
            s0 += a[aOff + i] * b[bOff + i];
            s1 += a[aOff + i + 1] * b[bOff + i + 1];
            s2 += a[aOff + i + 2] * b[bOff + i + 2];
            s3 += a[aOff + i + 3] * b[bOff + i + 3];
        }
        for (; i < len; i++) {
            s0 += a[aOff + i] * b[bOff + i];
        }
        return (s0 + s1) + (s2 + s3);
    }

    public static void forward(float[] y, float[] x, float[] w, int wOff, int nTokens, int in, int out) {
        for (int n = 0; n < nTokens; n++) forwardRow(y, x, w, wOff, in, out, n);
    }

    /** Reference backward: dx and the whole weight gradient dW (OUT, IN) at {@code dwOff}. */
    public static void backward(float[] dx, float[] dw, int dwOff, float[] dy, float[] x, float[] w, int wOff,
                                int nTokens, int in, int out) {
        for (int n = 0; n < nTokens; n++) inputGradRow(dx, dy, w, wOff, in, out, n);
        for (int o = 0; o < out; o++) weightGradRow(dw, dwOff + o * in, dy, x, nTokens, in, out, o);
    }
}
