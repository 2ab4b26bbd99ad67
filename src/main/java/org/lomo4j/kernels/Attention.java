package org.lomo4j.kernels;

/**
 * Causal scaled-dot-product self-attention with grouped-query attention (GQA): query head h reads
 * key/value head {@code h / (NH / NKV)}. It never holds the (B, NH, T, T) probabilities: FlashAttention-2's
 * algorithm (Dao, 2023), one query row per item.
 *
 * <p>q (N, NH·HD) and k, v (N, NKV·HD) are already rotated by RoPE; out (N, NH·HD). Forward runs the
 * online softmax over the keys (a running maximum m and sum l; when m grows, what was summed is rescaled
 * by e^(m_old − m)) and keeps one number per query row: {@code lse = m + log l}, the log of the softmax's
 * denominator (B, NH, T). Backward recomputes each score s and its probability {@code p = e^(s − lse)}
 * exactly, and needs one more number per row, {@code D = Σ_d dout·out} (= Σ p·dp), into delta (B, NH, T).
 *
 * <p>Backward is split in two race-free passes: per query (b, h, t), D and dq; then per key position
 * (b, kvh, t2) the sums into dk and dv over every query that attended to it.
 */
public final class Attention {
    private Attention() {}

    /** One query: {@code item = (b · NH + h) · T + t}; writes its output row and {@code lse[item]}. */
    public static void forwardItem(float[] out, float[] lse, float[] q, float[] k, float[] v,
                                   int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t = item % seqLen;
        int h = (item / seqLen) % nHeads;
        int b = item / (seqLen * nHeads);
        int kvh = h / (nHeads / nKvHeads);
        int kvStride = nKvHeads * hd;
        int qOff = (b * seqLen + t) * nHeads * hd + h * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));

        lse[item] = attend(out, qOff, q, k, v, (b * seqLen) * kvStride + kvh * hd, kvStride, t, scale, hd);
    }

    /**
     * The online softmax of one query row (at {@code qOff}) over keys and values 0..last, key t2 at
     * {@code kvBase + t2 · kvStride}: writes the output row and returns {@code lse = m + log l}.
     */
    private static float attend(float[] out, int qOff, float[] q, float[] k, float[] v, int kvBase, int kvStride, int last, float scale,
                                int hd) {
        for (int d = 0; d < hd; d++) {
            out[qOff + d] = 0f;
        }
        float max = Float.NEGATIVE_INFINITY;
        float sum = 0f;
        for (int t2 = 0; t2 <= last; t2++) {
            int kvOff = kvBase + t2 * kvStride;
            float s = Matmul.dot(q, qOff, k, kvOff, hd) * scale;
            if (s > max) {
                float rescale = (float) Math.exp(max - s);  // 0 for the first key
                sum *= rescale;
                for (int d = 0; d < hd; d++) {
                    out[qOff + d] *= rescale;
                }
                max = s;
            }
            float p = (float) Math.exp(s - max);
            sum += p;
            for (int d = 0; d < hd; d++) {
                out[qOff + d] += p * v[kvOff + d];
            }
        }
        float inv = 1f / sum;
        for (int d = 0; d < hd; d++) {
            out[qOff + d] *= inv;
        }
        return max + (float) Math.log(sum);
    }

    /**
     * One new query against a key/value cache, for generation: {@code item = i · NH + h}, row i's query at
     * position {@code positions[i]} attending to the cached positions 0..positions[i] (its own included).
     * The cache is (rows, maxLen, NKV·HD) from {@code cacheOff}; q and out are (rows, NH·HD). The same online
     * softmax as {@link #forwardItem}, so a row of a full forward gives the same output.
     */
    public static void decodeItem(float[] out, float[] q, float[] kCache, float[] vCache, int cacheOff, int[] positions, int maxLen,
                                  int nHeads, int nKvHeads, int hd, int item) {
        int i = item / nHeads;
        int h = item % nHeads;
        int kvh = h / (nHeads / nKvHeads);
        int kvStride = nKvHeads * hd;
        int qOff = i * nHeads * hd + h * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));
        attend(out, qOff, q, kCache, vCache, cacheOff + (i * maxLen) * kvStride + kvh * hd, kvStride, positions[i], scale, hd);
    }

    /**
     * First backward pass, one query: {@code delta[item] = D = dout·out}; for each key, s and
     * {@code p = e^(s − lse)} recomputed, {@code dp = dout·v}, {@code ds = p · (dp − D)}, and
     * {@code dq += scale · ds · k}.
     */
    public static void backwardQueryItem(float[] dq, float[] delta, float[] dout, float[] out, float[] lse,
                                         float[] q, float[] k, float[] v,
                                         int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t = item % seqLen;
        int h = (item / seqLen) % nHeads;
        int b = item / (seqLen * nHeads);
        int kvh = h / (nHeads / nKvHeads);
        int kvStride = nKvHeads * hd;
        int qOff = (b * seqLen + t) * nHeads * hd + h * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));

        float dSum = Matmul.dot(dout, qOff, out, qOff, hd);
        delta[item] = dSum;
        float rowLse = lse[item];
        for (int t2 = 0; t2 <= t; t2++) {
            int kvOff = (b * seqLen + t2) * kvStride + kvh * hd;
            float p = (float) Math.exp(Matmul.dot(q, qOff, k, kvOff, hd) * scale - rowLse);
            float ds = p * (Matmul.dot(dout, qOff, v, kvOff, hd) - dSum) * scale;
            for (int d = 0; d < hd; d++) {
                dq[qOff + d] += ds * k[kvOff + d];
            }
        }
    }

    /**
     * Second backward pass, one key/value position: {@code item = (b · NKV + kvh) · T + t2}. Over the query
     * heads of its group and the queries t ≥ t2, recomputes p and ds as the first pass did (its delta is
     * read here), then {@code dk += scale · ds · q}, {@code dv += p · dout}.
     */
    public static void backwardKeyValueItem(float[] dk, float[] dv, float[] delta, float[] lse,
                                            float[] q, float[] k, float[] v, float[] dout,
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
                int row = (b * nHeads + h) * seqLen + t;
                int qOff = (b * seqLen + t) * qStride + h * hd;
                float p = (float) Math.exp(Matmul.dot(q, qOff, k, kvOff, hd) * scale - lse[row]);
                float ds = p * (Matmul.dot(dout, qOff, v, kvOff, hd) - delta[row]) * scale;
                for (int d = 0; d < hd; d++) {
                    dk[kvOff + d] += ds * q[qOff + d];
                    dv[kvOff + d] += p * dout[qOff + d];
                }
            }
        }
    }

    public static void forward(float[] out, float[] lse, float[] q, float[] k, float[] v,
                               int batch, int seqLen, int nHeads, int nKvHeads, int hd) {
        for (int item = 0; item < batch * nHeads * seqLen; item++) {
            forwardItem(out, lse, q, k, v, seqLen, nHeads, nKvHeads, hd, item);
        }
    }

    /** Both passes; {@code delta} (B, NH, T) is the first pass's output and the second's input. */
    public static void backward(float[] dq, float[] dk, float[] dv, float[] delta, float[] dout, float[] out, float[] lse,
                                float[] q, float[] k, float[] v, int batch, int seqLen, int nHeads, int nKvHeads, int hd) {
        for (int item = 0; item < batch * nHeads * seqLen; item++) {
            backwardQueryItem(dq, delta, dout, out, lse, q, k, v, seqLen, nHeads, nKvHeads, hd, item);
        }
        for (int item = 0; item < batch * nKvHeads * seqLen; item++) {
            backwardKeyValueItem(dk, dv, delta, lse, q, k, v, dout, seqLen, nHeads, nKvHeads, hd, item);
        }
    }
}
