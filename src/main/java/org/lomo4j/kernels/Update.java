package org.lomo4j.kernels;

/**
 * Parameter-update kernels over one row of a weight and its gradient. LOMO calls {@link #sgdRow} on a
 * gradient row the moment it is computed; the reference optimizers call the same kernels on a full
 * gradient buffer, which is what makes "one LOMO step equals one SGD step" testable.
 *
 * <p>Hyper-parameters travel in one small array ({@code hp}, indexed by the constants below) rather
 * than as scalars: TornadoVM compiles scalar arguments into the kernel as constants, so a learning
 * rate that changes every step would recompile the kernel every step.
 *
 * <p>The gradient a kernel applies is {@code ĝ = clamp(g, ±clipValue) · gradScale}: clip-by-value,
 * then the global-norm clipping factor, in the order of LOMO's reference implementation.
 */
public final class Update {
    private Update() {}

    public static final int LR = 0;
    public static final int WEIGHT_DECAY = 1;
    /** Clip-by-value bound; +∞ turns it off. */
    public static final int CLIP_VALUE = 2;
    /** Global-norm clipping factor {@code min(1, maxNorm / (norm + 1e-6))}; 1 turns it off. */
    public static final int GRAD_SCALE = 3;
    public static final int BETA1 = 4;
    public static final int BETA2 = 5;
    public static final int EPS = 6;
    /** Adam's bias corrections {@code 1 − β^t}. */
    public static final int BIAS_CORRECTION1 = 7;
    public static final int BIAS_CORRECTION2 = 8;
    public static final int SIZE = 9;

    /** SGD with weight decay added to the gradient: {@code w −= lr · (ĝ + wd · w)}. */
    public static void sgdRow(float[] w, int wOff, float[] g, int gOff, int len, float[] hp) {
        // Read once: w and hp might be the same array as far as the JIT knows, which would stop it vectorizing.
        float lr = hp[LR], wd = hp[WEIGHT_DECAY], clip = hp[CLIP_VALUE], scale = hp[GRAD_SCALE];
        for (int i = 0; i < len; i++) {
            w[wOff + i] = sgd(w[wOff + i], g[gOff + i], lr, wd, clip, scale);
        }
    }

    /**
     * {@link #sgdRow} on a 16-bit weight row: widened, updated in fp32, narrowed by {@code rounding}
     * ({@link Half}); element i's random bits are drawn for position {@code index0 + i} under {@code key}.
     */
    public static void sgdRowHalf(short[] w, int wOff, float[] g, int gOff, int len, float[] hp, int format, int rounding,
                                  long key, long index0) {
        float lr = hp[LR], wd = hp[WEIGHT_DECAY], clip = hp[CLIP_VALUE], scale = hp[GRAD_SCALE];
        for (int i = 0; i < len; i++) {
            float wi = sgd(Half.toFloat(w[wOff + i], format), g[gOff + i], lr, wd, clip, scale);
            w[wOff + i] = Half.round(wi, format, rounding, key, index0 + i);
        }
    }

    /** The SGD update of one weight {@code w[idx]} by its gradient {@code g}: LOMO's fused step on a device. */
    public static void sgdElement(float[] w, int idx, float g, float[] hp) {
        w[idx] = sgd(w[idx], g, hp[LR], hp[WEIGHT_DECAY], hp[CLIP_VALUE], hp[GRAD_SCALE]);
    }

    /** One weight after its step: {@code w − lr · (clamp(g, ±clip) · scale + wd · w)}. */
    private static float sgd(float w, float g, float lr, float wd, float clip, float scale) {
        float gi = Math.max(-clip, Math.min(clip, g)) * scale;
        return w - lr * (gi + wd * w);
    }

    /**
     * AdamW (Loshchilov and Hutter), decoupled weight decay:
     * {@code m = β1·m + (1−β1)·ĝ;  v = β2·v + (1−β2)·ĝ²;
     * w −= lr · (m/bc1 / (sqrt(v/bc2) + eps) + wd · w)}. m, v share the weight's layout at {@code sOff}.
     */
    public static void adamwRow(float[] w, int wOff, float[] g, int gOff, float[] m, float[] v, int sOff,
                                int len, float[] hp) {
        float lr = hp[LR];
        float wd = hp[WEIGHT_DECAY];
        float clip = hp[CLIP_VALUE];
        float scale = hp[GRAD_SCALE];
        float b1 = hp[BETA1];
        float b2 = hp[BETA2];
        float eps = hp[EPS];
        float bc1 = hp[BIAS_CORRECTION1];
        float bc2 = hp[BIAS_CORRECTION2];
        for (int i = 0; i < len; i++) {
            float step = adamwStep(g[gOff + i], m, v, sOff + i, clip, scale, b1, b2, eps, bc1, bc2);
            w[wOff + i] -= lr * (step + wd * w[wOff + i]);
        }
    }

    /** {@link #adamwRow} on a 16-bit weight row, narrowed as {@link #sgdRowHalf} does; the moments stay fp32. */
    public static void adamwRowHalf(short[] w, int wOff, float[] g, int gOff, float[] m, float[] v, int sOff, int len,
                                    float[] hp, int format, int rounding, long key, long index0) {
        float lr = hp[LR];
        float wd = hp[WEIGHT_DECAY];
        float clip = hp[CLIP_VALUE];
        float scale = hp[GRAD_SCALE];
        float b1 = hp[BETA1];
        float b2 = hp[BETA2];
        float eps = hp[EPS];
        float bc1 = hp[BIAS_CORRECTION1];
        float bc2 = hp[BIAS_CORRECTION2];
        for (int i = 0; i < len; i++) {
            float step = adamwStep(g[gOff + i], m, v, sOff + i, clip, scale, b1, b2, eps, bc1, bc2);
            float wi = Half.toFloat(w[wOff + i], format);
            w[wOff + i] = Half.round(wi - lr * (step + wd * wi), format, rounding, key, index0 + i);
        }
    }

    /** Moves moments {@code m[s]}, {@code v[s]} by gradient g and returns Adam's step {@code m̂ / (sqrt(v̂) + eps)}. */
    private static float adamwStep(float g, float[] m, float[] v, int s, float clip, float scale, float b1, float b2,
                                   float eps, float bc1, float bc2) {
        float gi = Math.max(-clip, Math.min(clip, g)) * scale;
        float mi = b1 * m[s] + (1f - b1) * gi;
        float vi = b2 * v[s] + (1f - b2) * gi * gi;
        m[s] = mi;
        v[s] = vi;
        return (mi / bc1) / ((float) Math.sqrt(vi / bc2) + eps);
    }

    /** Σ g² over one row, in double so that millions of small squares do not vanish. */
    public static double sumSquaresRow(float[] g, int gOff, int len) {
        double s = 0.0;
        for (int i = 0; i < len; i++) {
            s += (double) g[gOff + i] * g[gOff + i];
        }
        return s;
    }

    /** The global-norm clipping factor; 1 when clipping is off ({@code maxNorm ≤ 0}). */
    public static float clipScale(double norm, double maxNorm) {
        return maxNorm > 0 ? (float) Math.min(1.0, maxNorm / (norm + 1e-6)) : 1f;
    }
}
