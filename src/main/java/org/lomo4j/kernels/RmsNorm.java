package org.lomo4j.kernels;

/**
 * RMSNorm as in Hugging Face LLaMA: {@code y = x / sqrt(mean(x²) + eps) · w}.
 *
 * <p>x (N, C), w (C) at {@code wOff}, y (N, C), rstd (N) keeps {@code 1/sqrt(mean(x²) + eps)} for backward.
 */
public final class RmsNorm {
    private RmsNorm() {}

    public static void forwardRow(float[] y, float[] rstd, float[] x, float[] w, int wOff, int c, float eps, int n) {
        int off = n * c;
        float ss = 0f;
        for (int i = 0; i < c; i++) {
            ss += x[off + i] * x[off + i];
        }
        float r = (float) (1.0 / Math.sqrt(ss / c + eps));
        rstd[n] = r;
        for (int i = 0; i < c; i++) {
            y[off + i] = x[off + i] * r * w[wOff + i];
        }
    }

    /**
     * Input gradient of one row. With x̂ = x·r and dx̂ = dy·w:
     * {@code dx += r · (dx̂ − x̂ · mean(dx̂ · x̂))}.
     */
    public static void inputGradRow(float[] dx, float[] dy, float[] x, float[] rstd, float[] w, int wOff, int c, int n) {
        int off = n * c;
        float r = rstd[n];
        float dot = 0f;
        for (int i = 0; i < c; i++) {
            dot += dy[off + i] * w[wOff + i] * x[off + i] * r;
        }
        float mean = dot / c;
        for (int i = 0; i < c; i++) {
            float xhat = x[off + i] * r;
            float dxhat = dy[off + i] * w[wOff + i];
            dx[off + i] += r * (dxhat - xhat * mean);
        }
    }

    /** The weight gradient (the weight is a single row of C): {@code g[i] += Σ_n dy[n, i] · x[n, i] · rstd[n]}. */
    public static void weightGrad(float[] g, int gOff, float[] dy, float[] x, float[] rstd, int nTokens, int c) {
        for (int n = 0; n < nTokens; n++) {
            int off = n * c;
            float r = rstd[n];
            for (int i = 0; i < c; i++) {
                g[gOff + i] += dy[off + i] * x[off + i] * r;
            }
        }
    }

    /** Element i of the weight gradient, the same sum one GPU thread computes (the row form above suits a CPU's cache). */
    public static float weightGradElement(float[] dy, float[] x, float[] rstd, int nTokens, int c, int i) {
        float s = 0f;
        for (int n = 0; n < nTokens; n++) {
            s += dy[n * c + i] * x[n * c + i] * rstd[n];
        }
        return s;
    }

    public static void forward(float[] y, float[] rstd, float[] x, float[] w, int wOff, int nTokens, int c, float eps) {
        for (int n = 0; n < nTokens; n++) forwardRow(y, rstd, x, w, wOff, c, eps, n);
    }

    public static void backward(float[] dx, float[] dw, int dwOff, float[] dy, float[] x, float[] rstd,
                                float[] w, int wOff, int nTokens, int c) {
        for (int n = 0; n < nTokens; n++) inputGradRow(dx, dy, x, rstd, w, wOff, c, n);
        weightGrad(dw, dwOff, dy, x, rstd, nTokens, c);
    }
}
