package org.lomo4j.kernels;

/**
 * AdaLomo's update (Lv et al., 2023, "AdaLomo: Low-memory Optimization with Adaptive Learning Rate"), one row
 * of a weight at a time. For a matrix W (R × C) with gradient ĝ (clipped as {@link Update} clips), at step t:
 * <pre>
 *   β = 1 − t^(−0.8)
 *   r_i = β·r_i + (1−β)·(mean_j ĝ_ij² + ε₁)          one value per row    ({@link #rowMoment})
 *   c_j = β·c_j + (1−β)·(mean_i ĝ_ij² + ε₁)          one value per column ({@link #columnSums}, then {@link #columnMoment})
 *   u_ij = ĝ_ij / sqrt(r_i / mean(r)) / sqrt(c_j)    the factored second moment of Adafactor, no first moment
 *   u /= max(1, RMS(u) / d)                          grouped update normalization, d = 1
 *   η = lr · max(ε₂, RMS(W))                         the step relative to the weight's own scale
 *   W ← W · (1 − η·wd) − η·u
 * </pre>
 * A vector (a norm's weight, a bias) keeps a full second moment v instead of r and c. The state is O(R + C)
 * per matrix. RMS(u) needs every row before any row changes; {@link #columnSums} gathers, as the rows go by,
 * what gives it without a second look: Σ u² = mean(r) · Σ_j (Σ_i ĝ_ij² / r_i) / c_j.
 */
public final class AdaLomoUpdate {
    private AdaLomoUpdate() {}

    /** ε₁: keeps a squared gradient of 0 from dividing by 0. */
    public static final float EPS_SQUARE = 1e-30f;
    /** ε₂: the smallest weight RMS the learning rate is scaled by, so weights at 0 still move. */
    public static final float EPS_SCALE = 1e-3f;
    /** d: the RMS an update is normalized down to when it is larger. */
    public static final float CLIP_THRESHOLD = 1f;
    /** The exponent of the second moment's step-dependent decay. */
    public static final double DECAY_RATE = -0.8;

    /** β of step {@code t} (1-based): 0 at the first step, so the moments start as that step's squares. */
    public static float beta(int t) {
        return (float) (1.0 - Math.pow(t, DECAY_RATE));
    }

    /** {@code ĝ = clamp(g, ±clip) · scale}, in place over one row. */
    public static void clipRow(float[] g, int gOff, int len, float clip, float scale) {
        for (int i = 0; i < len; i++) g[gOff + i] = Math.max(-clip, Math.min(clip, g[gOff + i])) * scale;
    }

    /** Row i's moment {@code β·r + (1−β)·(mean ĝ² + ε₁)} from its clipped gradient row. */
    public static float rowMoment(float r, float[] g, int gOff, int len, float beta) {
        double s = 0.0;
        for (int j = 0; j < len; j++) s += (double) g[gOff + j] * g[gOff + j];
        return beta * r + (1f - beta) * ((float) (s / len) + EPS_SQUARE);
    }

    /**
     * Adds one clipped gradient row to the column sums {@code sq[j] += ĝ_j²} and {@code scaled[j] += ĝ_j² / r}
     * ({@code r} the row's new moment), at {@code pOff}.
     */
    public static void columnSums(double[] sq, double[] scaled, int pOff, float[] g, int gOff, int len, float r) {
        double inv = 1.0 / r;
        for (int j = 0; j < len; j++) {
            double g2 = (double) g[gOff + j] * g[gOff + j];
            sq[pOff + j] += g2;
            scaled[pOff + j] += g2 * inv;
        }
    }

    /** Column j's moment {@code β·c + (1−β)·(Σ_i ĝ_ij² / R + ε₁)} from its column sum over the R rows. */
    public static float columnMoment(float c, double sumSquares, int rows, float beta) {
        return beta * c + (1f - beta) * ((float) (sumSquares / rows) + EPS_SQUARE);
    }

    /**
     * One row of a matrix: {@code w ← w·(1 − lr·wd) − lr · ĝ · rowFactor · colFactor[j]}, where rowFactor is
     * {@code 1 / (sqrt(r_i / mean r) · max(1, RMS(u) / d))} and {@code colFactor[j] = 1 / sqrt(c_j)}.
     */
    public static void matrixRow(float[] w, int wOff, float[] g, int gOff, float[] colFactor, int len, float rowFactor,
                                 float lr, float wd) {
        float keep = 1f - lr * wd;
        for (int j = 0; j < len; j++) w[wOff + j] = w[wOff + j] * keep - lr * (g[gOff + j] * rowFactor * colFactor[j]);
    }

    /** {@link #matrixRow} on a 16-bit weight row, narrowed by {@code rounding} as {@link Update#sgdRowHalf} does. */
    public static void matrixRowHalf(short[] w, int wOff, float[] g, int gOff, float[] colFactor, int len, float rowFactor,
                                     float lr, float wd, int format, int rounding, long key, long index0) {
        float keep = 1f - lr * wd;
        for (int j = 0; j < len; j++) {
            float wj = Half.toFloat(w[wOff + j], format) * keep - lr * (g[gOff + j] * rowFactor * colFactor[j]);
            w[wOff + j] = Half.round(wj, format, rounding, key, index0 + j);
        }
    }

    /**
     * A vector's moment {@code v ← β·v + (1−β)·(ĝ² + ε₁)}, element by element; then {@code g} is replaced by the
     * update {@code ĝ / sqrt(v)}. Returns Σ u², for RMS(u).
     */
    public static double vectorMoment(float[] v, int vOff, float[] g, int gOff, int len, float beta) {
        double s = 0.0;
        for (int j = 0; j < len; j++) {
            float gj = g[gOff + j];
            float vj = beta * v[vOff + j] + (1f - beta) * (gj * gj + EPS_SQUARE);
            v[vOff + j] = vj;
            float u = gj / (float) Math.sqrt(vj);
            g[gOff + j] = u;
            s += (double) u * u;
        }
        return s;
    }

    /** One vector's step from its update u (in {@code u}): {@code w ← w·(1 − lr·wd) − lr · u · scale}. */
    public static void vectorRow(float[] w, int wOff, float[] u, int uOff, int len, float scale, float lr, float wd) {
        float keep = 1f - lr * wd;
        for (int j = 0; j < len; j++) w[wOff + j] = w[wOff + j] * keep - lr * (u[uOff + j] * scale);
    }

    /** {@link #vectorRow} on a 16-bit weight. */
    public static void vectorRowHalf(short[] w, int wOff, float[] u, int uOff, int len, float scale, float lr, float wd, int format,
                                     int rounding, long key, long index0) {
        float keep = 1f - lr * wd;
        for (int j = 0; j < len; j++) {
            float wj = Half.toFloat(w[wOff + j], format) * keep - lr * (u[uOff + j] * scale);
            w[wOff + j] = Half.round(wj, format, rounding, key, index0 + j);
        }
    }

    /** The learning rate of one weight: {@code lr · max(ε₂, RMS(W))}, from Σ W² over its n values. */
    public static float scaledLr(float lr, double sumSquares, long n) {
        return lr * Math.max(EPS_SCALE, (float) Math.sqrt(sumSquares / n));
    }

    /** The normalization divisor {@code max(1, RMS(u) / d)} from Σ u² over n values. */
    public static float updateDivisor(double sumSquares, long n) {
        return Math.max(1f, (float) Math.sqrt(sumSquares / n) / CLIP_THRESHOLD);
    }
}
