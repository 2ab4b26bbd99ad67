package org.lomo4j.kernels.simd;

import org.lomo4j.kernels.Attention;

/**
 * {@link Attention} for the JVM backend: the same items, loops and indexing, with its dot products and its
 * {@code y += a·x} updates over a head's HD values done by the Vector API ({@link MatmulVector#dot},
 * {@link MatmulVector#axpy}); the softmax rows are Attention's own. Scalar float reductions do not vectorize
 * on their own, and attention's dot products were a fifth of a bench-24m step at T = 128.
 */
public final class AttentionVector {
    private AttentionVector() {}

    /** One query: {@code item = (b · NH + h) · T + t}. */
    public static void forwardItem(float[] out, float[] probs, float[] q, float[] k, float[] v,
                                   int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t = item % seqLen;
        int h = (item / seqLen) % nHeads;
        int b = item / (seqLen * nHeads);
        int kvh = h / (nHeads / nKvHeads);
        int qStride = nHeads * hd;
        int kvStride = nKvHeads * hd;
        int qOff = (b * seqLen + t) * qStride + h * hd;
        int pOff = item * seqLen;
        float scale = (float) (1.0 / Math.sqrt(hd));

        float max = Float.NEGATIVE_INFINITY;
        for (int t2 = 0; t2 <= t; t2++) {
            float s = MatmulVector.dot(q, qOff, k, (b * seqLen + t2) * kvStride + kvh * hd, hd) * scale;
            probs[pOff + t2] = s;
            max = Math.max(max, s);
        }
        Attention.softmaxRow(probs, pOff, t, seqLen, max);
        java.util.Arrays.fill(out, qOff, qOff + hd, 0f);
        for (int t2 = 0; t2 <= t; t2++) {
            MatmulVector.axpy(probs[pOff + t2], v, (b * seqLen + t2) * kvStride + kvh * hd, out, qOff, hd);
        }
    }

    /** The first backward pass for one query, as {@code Attention.backwardQueryItem}. */
    public static void backwardQueryItem(float[] dq, float[] dscores, float[] dout, float[] probs, float[] k, float[] v,
                                         int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t = item % seqLen;
        int h = (item / seqLen) % nHeads;
        int b = item / (seqLen * nHeads);
        int kvh = h / (nHeads / nKvHeads);
        int qStride = nHeads * hd;
        int kvStride = nKvHeads * hd;
        int qOff = (b * seqLen + t) * qStride + h * hd;
        int pOff = item * seqLen;
        float scale = (float) (1.0 / Math.sqrt(hd));

        float pdp = 0f;
        for (int t2 = 0; t2 <= t; t2++) {
            float dp = MatmulVector.dot(dout, qOff, v, (b * seqLen + t2) * kvStride + kvh * hd, hd);
            dscores[pOff + t2] = dp;
            pdp += probs[pOff + t2] * dp;
        }
        Attention.softmaxGradRow(dscores, probs, pOff, t, seqLen, pdp);
        for (int t2 = 0; t2 <= t; t2++) {
            MatmulVector.axpy(dscores[pOff + t2] * scale, k, (b * seqLen + t2) * kvStride + kvh * hd, dq, qOff, hd);
        }
    }

    /** The second backward pass for one key/value position, as {@code Attention.backwardKeyValueItem}. */
    public static void backwardKeyValueItem(float[] dk, float[] dv, float[] dscores, float[] probs, float[] q, float[] dout,
                                            int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t2 = item % seqLen;
        int kvh = (item / seqLen) % nKvHeads;
        int b = item / (seqLen * nKvHeads);
        int group = nHeads / nKvHeads;
        int qStride = nHeads * hd;
        int kvOff = (b * seqLen + t2) * nKvHeads * hd + kvh * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            for (int t = t2; t < seqLen; t++) {
                int sIdx = ((b * nHeads + h) * seqLen + t) * seqLen + t2;
                int qOff = (b * seqLen + t) * qStride + h * hd;
                MatmulVector.axpy(dscores[sIdx] * scale, q, qOff, dk, kvOff, hd);
                MatmulVector.axpy(probs[sIdx], dout, qOff, dv, kvOff, hd);
            }
        }
    }
}
