package org.lomo4j.kernels;

/**
 * Causal scaled-dot-product self-attention with grouped-query attention (GQA): query head h reads
 * key/value head {@code h / (NH / NKV)}.
 *
 * <p>q (N, NH·HD) and k, v (N, NKV·HD) are already rotated by RoPE; out (N, NH·HD);
 * probs and dscores (B, NH, T, T), row t holding the softmax over positions 0..t (zeros after).
 *
 * <p>Backward is split in two race-free passes: per query (b, h, t) the score gradients and dq; then per
 * key position (b, kvh, t2) the sums into dk and dv over every query that attended to it.
 */
public final class Attention {
    private Attention() {}

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
            float s = Matmul.dot(q, qOff, k, (b * seqLen + t2) * kvStride + kvh * hd, hd) * scale;
            probs[pOff + t2] = s;
            max = Math.max(max, s);
        }
        softmaxRow(probs, pOff, t, seqLen, max);
        for (int d = 0; d < hd; d++) {
            out[qOff + d] = 0f;
        }
        for (int t2 = 0; t2 <= t; t2++) {
            float p = probs[pOff + t2];
            int vOff = (b * seqLen + t2) * kvStride + kvh * hd;
            for (int d = 0; d < hd; d++) {
                out[qOff + d] += p * v[vOff + d];
            }
        }
    }

    /**
     * First backward pass, one query: dp[t2] = dout·v[t2], the softmax gradient
     * {@code ds = p · (dp − Σ p·dp)} into dscores, and {@code dq += scale · Σ ds · k[t2]}.
     */
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
            float dp = Matmul.dot(dout, qOff, v, (b * seqLen + t2) * kvStride + kvh * hd, hd);
            dscores[pOff + t2] = dp;
            pdp += probs[pOff + t2] * dp;
        }
        softmaxGradRow(dscores, probs, pOff, t, seqLen, pdp);
        for (int t2 = 0; t2 <= t; t2++) {
            float ds = dscores[pOff + t2] * scale;
            int kOff = (b * seqLen + t2) * kvStride + kvh * hd;
            for (int d = 0; d < hd; d++) {
                dq[qOff + d] += ds * k[kOff + d];
            }
        }
    }

    /**
     * Second backward pass, one key/value position: {@code item = (b · NKV + kvh) · T + t2}. Sums over the
     * query heads of its group and the queries t ≥ t2: {@code dk += scale · ds · q}, {@code dv += p · dout}.
     */
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
                float ds = dscores[sIdx] * scale;
                float p = probs[sIdx];
                int qOff = (b * seqLen + t) * qStride + h * hd;
                for (int d = 0; d < hd; d++) {
                    dk[kvOff + d] += ds * q[qOff + d];
                    dv[kvOff + d] += p * dout[qOff + d];
                }
            }
        }
    }

    /**
     * The causal softmax of query row t, in place: scores 0..t (their maximum {@code max}) become
     * probabilities, positions after t zeros.
     */
    public static void softmaxRow(float[] probs, int pOff, int t, int seqLen, float max) {
        float sum = 0f;
        for (int t2 = 0; t2 <= t; t2++) {
            float e = (float) Math.exp(probs[pOff + t2] - max);
            probs[pOff + t2] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int t2 = 0; t2 < seqLen; t2++) {
            probs[pOff + t2] = t2 <= t ? probs[pOff + t2] * inv : 0f;
        }
    }

    /**
     * The softmax gradient of query row t, in place: {@code dp} (in dscores) becomes {@code ds = p · (dp − pdp)}
     * with {@code pdp = Σ p·dp}; positions after t zeros.
     */
    public static void softmaxGradRow(float[] dscores, float[] probs, int pOff, int t, int seqLen, float pdp) {
        for (int t2 = 0; t2 < seqLen; t2++) {
            dscores[pOff + t2] = t2 <= t ? probs[pOff + t2] * (dscores[pOff + t2] - pdp) : 0f;
        }
    }

    public static void forward(float[] out, float[] probs, float[] q, float[] k, float[] v,
                               int batch, int seqLen, int nHeads, int nKvHeads, int hd) {
        for (int item = 0; item < batch * nHeads * seqLen; item++) {
            forwardItem(out, probs, q, k, v, seqLen, nHeads, nKvHeads, hd, item);
        }
    }

    public static void backward(float[] dq, float[] dk, float[] dv, float[] dscores, float[] dout, float[] probs,
                                float[] q, float[] k, float[] v, int batch, int seqLen, int nHeads, int nKvHeads, int hd) {
        for (int item = 0; item < batch * nHeads * seqLen; item++) {
            backwardQueryItem(dq, dscores, dout, probs, k, v, seqLen, nHeads, nKvHeads, hd, item);
        }
        for (int item = 0; item < batch * nKvHeads * seqLen; item++) {
            backwardKeyValueItem(dk, dv, dscores, probs, q, dout, seqLen, nHeads, nKvHeads, hd, item);
        }
    }
}
