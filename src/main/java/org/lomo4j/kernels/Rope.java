package org.lomo4j.kernels;

/**
 * Rotary position embedding, Hugging Face LLaMA convention ("rotate half"): dimension i of a head is
 * paired with dimension i + HD/2, and the pair is rotated by angle {@code t · θ^(−2i/HD)}.
 *
 * <p>x (N, heads · HD) is rotated in place; cos, sin (maxT, HD/2) come from {@link #tables}.
 */
public final class Rope {
    private Rope() {}

    /** Fills cos/sin (maxT, HD/2); angles in double so long contexts keep their precision. */
    public static void tables(float[] cos, float[] sin, int maxT, int hd, double theta) {
        double[] inv = new double[hd / 2];
        for (int i = 0; i < inv.length; i++) inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / hd);
        tables(cos, sin, maxT, inv);
    }

    /** The tables from explicit inverse frequencies, one per rotary pair (a scaled RoPE's, such as Llama 3's). */
    public static void tables(float[] cos, float[] sin, int maxT, double[] invFreq) {
        int half = invFreq.length;
        for (int t = 0; t < maxT; t++) {
            for (int i = 0; i < half; i++) {
                double angle = t * invFreq[i];
                cos[t * half + i] = (float) Math.cos(angle);
                sin[t * half + i] = (float) Math.sin(angle);
            }
        }
    }

    /** One (token, head) item: {@code item = n · heads + h}; the token's position is {@code n mod T}. */
    public static void forwardItem(float[] x, float[] cos, float[] sin, int seqLen, int heads, int hd, int item) {
        rotate(x, cos, sin, seqLen, heads, hd, item, 1f);
    }

    /** One (row, head) item of a new token per row, row i at position {@code positions[i]} (generation with a KV cache). */
    public static void forwardAtItem(float[] x, float[] cos, float[] sin, int[] positions, int heads, int hd, int item) {
        int n = item / heads;
        int h = item % heads;
        int t = positions[n];
        int half = hd / 2;
        int off = n * heads * hd + h * hd;
        for (int i = 0; i < half; i++) {
            float c = cos[t * half + i];
            float s = sin[t * half + i];
            float a = x[off + i];
            float b = x[off + half + i];
            x[off + i] = a * c - b * s;
            x[off + half + i] = b * c + a * s;
        }
    }

    /** The gradient rotates back by the opposite angle (the rotation is orthogonal). In place on dx. */
    public static void backwardItem(float[] dx, float[] cos, float[] sin, int seqLen, int heads, int hd, int item) {
        rotate(dx, cos, sin, seqLen, heads, hd, item, -1f);
    }

    private static void rotate(float[] x, float[] cos, float[] sin, int seqLen, int heads, int hd, int item, float sign) {
        int n = item / heads;
        int h = item % heads;
        int t = n % seqLen;
        int half = hd / 2;
        int off = n * heads * hd + h * hd;
        for (int i = 0; i < half; i++) {
            float c = cos[t * half + i];
            float s = sign * sin[t * half + i];
            float a = x[off + i];
            float b = x[off + half + i];
            x[off + i] = a * c - b * s;
            x[off + half + i] = b * c + a * s;
        }
    }

    public static void forward(float[] x, float[] cos, float[] sin, int nTokens, int seqLen, int heads, int hd) {
        for (int item = 0; item < nTokens * heads; item++) forwardItem(x, cos, sin, seqLen, heads, hd, item);
    }

    public static void backward(float[] dx, float[] cos, float[] sin, int nTokens, int seqLen, int heads, int hd) {
        for (int item = 0; item < nTokens * heads; item++) backwardItem(dx, cos, sin, seqLen, heads, hd, item);
    }
}
