package org.lomo4j.kernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.lomo4j.kernels.Attention;
import org.lomo4j.kernels.Matmul;

/**
 * {@link Attention} for the JVM backend: the same items, the same FlashAttention-2 algorithm and results
 * up to float rounding order, shaped for vectors. Keys are taken {@link #BLOCK} at a time: a block's scores
 * go to a small per-worker scratch ({@link #WORK_FLOATS} floats), the online softmax rescales the output
 * row once per block, and the probabilities come from {@link SwiGluVector#exp}. Nothing of size T × T
 * exists, in forward or backward.
 *
 * <p>A query's scores against a block of keys are {@code q · Kᵀ}, computed L keys at a time from K's
 * transpose, so that no dot product needs a horizontal sum. {@link #transposeItem} lays out each head's K
 * (forward), K and V (backward's query pass), and Q and dout (backward's key pass, which scores L queries
 * against one key) as (B, heads, HD, Tp), rows padded to whole vectors. The weighted sums over positions ({@code Σ p · v}, {@code Σ ds · k},
 * and dk, dv) keep HD/L accumulators in registers instead of reading and writing the output row per position.
 */
public final class AttentionVector {
    private AttentionVector() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** Keys (or, in the key pass, queries) per block. */
    public static final int BLOCK = 64;
    /** Scratch floats a worker needs: a block of scores and a block of dp. */
    public static final int WORK_FLOATS = 2 * BLOCK;

    /**
     * Positions per row of a transposed head: T rounded up to whole vectors, plus one vector. Scores are
     * then computed a whole vector at a time from any block start without leaving the row (positions past
     * the block's count are computed and ignored), so no scalar tail is needed.
     */
    public static int paddedSeq(int seqLen) {
        return (seqLen + L - 1) / L * L + L;
    }

    /**
     * One head of one sequence, {@code item = b · heads + h}: x (N, heads·HD) into xT at
     * {@code ((b · heads + h) · HD + d) · Tp + t} with {@code Tp = paddedSeq(T)}, each row one channel over
     * the positions, zeros after T.
     */
    public static void transposeItem(float[] xT, float[] x, int seqLen, int heads, int hd, int item) {
        int b = item / heads;
        int h = item % heads;
        int stride = heads * hd;
        int tp = paddedSeq(seqLen);
        int base = item * hd * tp;
        for (int t = 0; t < seqLen; t++) {
            int src = (b * seqLen + t) * stride + h * hd;
            for (int d = 0; d < hd; d++) xT[base + d * tp + t] = x[src + d];
        }
        for (int d = 0; d < hd; d++) java.util.Arrays.fill(xT, base + d * tp + seqLen, base + (d + 1) * tp, 0f);
    }

    /**
     * One query, {@code item = (b · NH + h) · T + t}, as {@code Attention.forwardItem}, with K transposed;
     * {@code work} at {@code wOff} is the worker's scratch.
     */
    public static void forwardItem(float[] out, float[] lse, float[] q, float[] kT, float[] v, float[] work, int wOff,
                                   int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t = item % seqLen;
        int h = (item / seqLen) % nHeads;
        int b = item / (seqLen * nHeads);
        int kvh = h / (nHeads / nKvHeads);
        int kvStride = nKvHeads * hd;
        int qOff = (b * seqLen + t) * nHeads * hd + h * hd;
        int tp = paddedSeq(seqLen);
        int kTOff = (b * nKvHeads + kvh) * hd * tp;
        int vOff = b * seqLen * kvStride + kvh * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));

        java.util.Arrays.fill(out, qOff, qOff + hd, 0f);
        float max = Float.NEGATIVE_INFINITY;
        float sum = 0f;
        for (int j0 = 0; j0 <= t; j0 += BLOCK) {
            int count = Math.min(BLOCK, t + 1 - j0);
            scores(work, wOff, q, qOff, kT, kTOff + j0, tp, count, hd, scale);
            float blockMax = max;
            for (int j = 0; j < count; j++) blockMax = Math.max(blockMax, work[wOff + j]);
            if (blockMax > max) {
                float rescale = (float) Math.exp(max - blockMax);  // 0 for the first block
                sum *= rescale;
                for (int d = 0; d < hd; d++) out[qOff + d] *= rescale;
                max = blockMax;
            }
            expMinus(work, wOff, count, max);
            for (int j = 0; j < count; j++) sum += work[wOff + j];
            weightedRows(out, qOff, work, wOff, 1f, v, vOff + j0 * kvStride, kvStride, count, hd);
        }
        float inv = 1f / sum;
        for (int d = 0; d < hd; d++) out[qOff + d] *= inv;
        lse[item] = max + (float) Math.log(sum);
    }

    /** The first backward pass for one query, as {@code Attention.backwardQueryItem}, with K and V transposed. */
    public static void backwardQueryItem(float[] dq, float[] delta, float[] dout, float[] out, float[] lse,
                                         float[] q, float[] k, float[] kT, float[] vT, float[] work, int wOff,
                                         int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t = item % seqLen;
        int h = (item / seqLen) % nHeads;
        int b = item / (seqLen * nHeads);
        int kvh = h / (nHeads / nKvHeads);
        int kvStride = nKvHeads * hd;
        int qOff = (b * seqLen + t) * nHeads * hd + h * hd;
        int tp = paddedSeq(seqLen);
        int tOff = (b * nKvHeads + kvh) * hd * tp;
        int kOff = b * seqLen * kvStride + kvh * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));

        float dSum = Matmul.dot(dout, qOff, out, qOff, hd);
        delta[item] = dSum;
        for (int j0 = 0; j0 <= t; j0 += BLOCK) {
            int count = Math.min(BLOCK, t + 1 - j0);
            scores(work, wOff, q, qOff, kT, tOff + j0, tp, count, hd, scale);
            scores(work, wOff + BLOCK, dout, qOff, vT, tOff + j0, tp, count, hd, 1f);
            scoreGradients(work, wOff, count, lse, item, 0, delta, item);
            weightedRows(dq, qOff, work, wOff, scale, k, kOff + j0 * kvStride, kvStride, count, hd);
        }
    }

    /**
     * The second backward pass for one key/value position, {@code item = (b · NKV + kvh) · T + t2}, as
     * {@code Attention.backwardKeyValueItem}, scoring {@link #BLOCK} queries at a time against the key from
     * Q and dout transposed.
     */
    public static void backwardKeyValueItem(float[] dk, float[] dv, float[] delta, float[] lse,
                                            float[] q, float[] k, float[] v, float[] dout, float[] qT, float[] doutT,
                                            float[] work, int wOff, int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t2 = item % seqLen;
        int kvh = (item / seqLen) % nKvHeads;
        int b = item / (seqLen * nKvHeads);
        int group = nHeads / nKvHeads;
        int qStride = nHeads * hd;
        int kvOff = (b * seqLen + t2) * nKvHeads * hd + kvh * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));
        int tp = paddedSeq(seqLen);
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            int tOff = (b * nHeads + h) * hd * tp;
            int rows = (b * nHeads + h) * seqLen;  // query t's lse and delta are at rows + t
            for (int i0 = t2; i0 < seqLen; i0 += BLOCK) {
                int count = Math.min(BLOCK, seqLen - i0);
                scores(work, wOff, k, kvOff, qT, tOff + i0, tp, count, hd, scale);
                scores(work, wOff + BLOCK, v, kvOff, doutT, tOff + i0, tp, count, hd, 1f);
                scoreGradients(work, wOff, count, lse, rows + i0, 1, delta, rows + i0);
                int qRows = (b * seqLen + i0) * qStride + h * hd;
                weightedRows(dk, kvOff, work, wOff, scale, q, qRows, qStride, count, hd);
                weightedRows(dv, kvOff, work, wOff + BLOCK, 1f, dout, qRows, qStride, count, hd);
            }
        }
    }

    // Loads below are unmasked over whole vectors and the tail (fewer than L positions) runs in scalar code:
    // masked loads with a mask from indexInRange ran as the Vector API's Java fallback, not as C2 intrinsics
    // (JFR: VectorSupport.loadMasked itself on top), at ~2 GFLOP/s.

    /** {@code a[off + j] = e^(a[off + j] − shift)} for j in [0, count). */
    private static void expMinus(float[] a, int off, int count, float shift) {
        int j = 0;
        for (; j + L <= count; j += L) {
            SwiGluVector.exp(FloatVector.fromArray(S, a, off + j).sub(shift)).intoArray(a, off + j);
        }
        for (; j < count; j++) a[off + j] = (float) Math.exp(a[off + j] - shift);
    }

    /**
     * A block's scores s (at {@code off}) and dp (at {@code off + BLOCK}) become ds = p · (dp − D) and
     * p = e^(s − lse) in their places. lse and D are one row's ({@code step} 0) or one per position (1).
     */
    private static void scoreGradients(float[] work, int off, int count, float[] lse, int lseOff, int step,
                                       float[] delta, int deltaOff) {
        int j = 0;
        for (; j + L <= count; j += L) {
            FloatVector l = step == 0 ? FloatVector.broadcast(S, lse[lseOff]) : FloatVector.fromArray(S, lse, lseOff + j);
            FloatVector dd = step == 0 ? FloatVector.broadcast(S, delta[deltaOff]) : FloatVector.fromArray(S, delta, deltaOff + j);
            FloatVector p = SwiGluVector.exp(FloatVector.fromArray(S, work, off + j).sub(l));
            FloatVector dp = FloatVector.fromArray(S, work, off + BLOCK + j);
            p.mul(dp.sub(dd)).intoArray(work, off + j);
            p.intoArray(work, off + BLOCK + j);
        }
        for (; j < count; j++) {
            float p = (float) Math.exp(work[off + j] - lse[lseOff + step * j]);
            work[off + j] = p * (work[off + BLOCK + j] - delta[deltaOff + step * j]);
            work[off + BLOCK + j] = p;
        }
    }

    // Both sums below run four independent chains of FMAs, so that no FMA waits on the one before it (one
    // chain ran at an eighth of the FMA rate); each chain sums its terms in a fixed order.

    /**
     * {@code s[sOff + j] = scale · Σ_d x[xOff + d] · xT[tOff + d · Tp + j]} for j in [0, count), and for the
     * positions up to the next whole vector (ignored by the caller): L positions per vector, one FMA per
     * channel, no horizontal sums.
     */
    private static void scores(float[] s, int sOff, float[] x, int xOff, float[] xT, int tOff, int tp, int count,
                               int hd, float scale) {
        for (int j0 = 0; j0 < count; j0 += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            int col = tOff + j0;
            int d = 0;
            for (; d + 4 <= hd; d += 4, col += 4 * tp) {
                a0 = FloatVector.fromArray(S, xT, col).fma(FloatVector.broadcast(S, x[xOff + d]), a0);
                a1 = FloatVector.fromArray(S, xT, col + tp).fma(FloatVector.broadcast(S, x[xOff + d + 1]), a1);
                a2 = FloatVector.fromArray(S, xT, col + 2 * tp).fma(FloatVector.broadcast(S, x[xOff + d + 2]), a2);
                a3 = FloatVector.fromArray(S, xT, col + 3 * tp).fma(FloatVector.broadcast(S, x[xOff + d + 3]), a3);
            }
            for (; d < hd; d++, col += tp) {
                a0 = FloatVector.fromArray(S, xT, col).fma(FloatVector.broadcast(S, x[xOff + d]), a0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(s, sOff + j0);
        }
    }

    /**
     * {@code y[yOff + d] += Σ_j scale · w[wOff + j] · rows[rowOff + j · rowStride + d]} over j in [0, count),
     * for d in [0, hd): four vectors of channels (HD = 64 in one pass), each summed in a register over all j,
     * reading each row's channels together, then added to y; channels past the last 4·L run in scalar code.
     */
    private static void weightedRows(float[] y, int yOff, float[] w, int wOff, float scale,
                                     float[] rows, int rowOff, int rowStride, int count, int hd) {
        int d0 = 0;
        for (; d0 + 4 * L <= hd; d0 += 4 * L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            int row = rowOff + d0;
            for (int j = 0; j < count; j++, row += rowStride) {
                FloatVector wj = FloatVector.broadcast(S, w[wOff + j] * scale);
                a0 = FloatVector.fromArray(S, rows, row).fma(wj, a0);
                a1 = FloatVector.fromArray(S, rows, row + L).fma(wj, a1);
                a2 = FloatVector.fromArray(S, rows, row + 2 * L).fma(wj, a2);
                a3 = FloatVector.fromArray(S, rows, row + 3 * L).fma(wj, a3);
            }
            int o = yOff + d0;
            a0.add(FloatVector.fromArray(S, y, o)).intoArray(y, o);
            a1.add(FloatVector.fromArray(S, y, o + L)).intoArray(y, o + L);
            a2.add(FloatVector.fromArray(S, y, o + 2 * L)).intoArray(y, o + 2 * L);
            a3.add(FloatVector.fromArray(S, y, o + 3 * L)).intoArray(y, o + 3 * L);
        }
        for (int d = d0; d < hd; d++) {
            float sum = 0f;
            for (int j = 0, row = rowOff + d; j < count; j++, row += rowStride) sum = Math.fma(w[wOff + j] * scale, rows[row], sum);
            y[yOff + d] += sum;
        }
    }
}
