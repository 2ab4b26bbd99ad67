package org.lomo4j.kernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;
import org.lomo4j.kernels.Attention;

/**
 * {@link Attention} for the JVM backend: the same items and results up to float rounding order, shaped for
 * vectors. A query's scores against keys 0..t are {@code q · Kᵀ}, computed L keys at a time from K's
 * transpose, so that no dot product needs a horizontal sum: one dot of HD = 64 was 4 FMAs and a 4-level
 * lane fold. Each head's K (in forward) or V (in backward) is first transposed into a (B, NKV, HD, T)
 * scratch by {@link #transposeItem}. The weighted sums over positions ({@code Σ p · v}, {@code Σ ds · k},
 * and dk, dv) keep HD/L accumulators in registers instead of reading and writing the output row per
 * position. The softmax rows are Attention's own.
 */
public final class AttentionVector {
    private AttentionVector() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /**
     * One key/value head of one sequence, {@code item = b · NKV + kvh}: x (N, NKV·HD) into xT at
     * {@code ((b · NKV + kvh) · HD + d) · T + t}, each row one channel over the positions.
     */
    public static void transposeItem(float[] xT, float[] x, int seqLen, int nKvHeads, int hd, int item) {
        int b = item / nKvHeads;
        int kvh = item % nKvHeads;
        int kvStride = nKvHeads * hd;
        int base = item * hd * seqLen;
        for (int t = 0; t < seqLen; t++) {
            int src = (b * seqLen + t) * kvStride + kvh * hd;
            for (int d = 0; d < hd; d++) xT[base + d * seqLen + t] = x[src + d];
        }
    }

    /** One query, {@code item = (b · NH + h) · T + t}, as {@code Attention.forwardItem}, with K as {@link #transposeItem} lays it out. */
    public static void forwardItem(float[] out, float[] probs, float[] q, float[] kT, float[] v,
                                   int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t = item % seqLen;
        int h = (item / seqLen) % nHeads;
        int b = item / (seqLen * nHeads);
        int kvh = h / (nHeads / nKvHeads);
        int kvStride = nKvHeads * hd;
        int qOff = (b * seqLen + t) * nHeads * hd + h * hd;
        int pOff = item * seqLen;
        float scale = (float) (1.0 / Math.sqrt(hd));

        scores(probs, pOff, q, qOff, kT, (b * nKvHeads + kvh) * hd * seqLen, seqLen, t + 1, hd, scale);
        float max = Float.NEGATIVE_INFINITY;
        for (int t2 = 0; t2 <= t; t2++) max = Math.max(max, probs[pOff + t2]);
        Attention.softmaxRow(probs, pOff, t, seqLen, max);
        java.util.Arrays.fill(out, qOff, qOff + hd, 0f);
        weightedRows(out, qOff, probs, pOff, 1, 1f, v, b * seqLen * kvStride + kvh * hd, kvStride, t + 1, hd);
    }

    /** The first backward pass for one query, as {@code Attention.backwardQueryItem}, with V as {@link #transposeItem} lays it out. */
    public static void backwardQueryItem(float[] dq, float[] dscores, float[] dout, float[] probs, float[] k, float[] vT,
                                         int seqLen, int nHeads, int nKvHeads, int hd, int item) {
        int t = item % seqLen;
        int h = (item / seqLen) % nHeads;
        int b = item / (seqLen * nHeads);
        int kvh = h / (nHeads / nKvHeads);
        int kvStride = nKvHeads * hd;
        int qOff = (b * seqLen + t) * nHeads * hd + h * hd;
        int pOff = item * seqLen;
        float scale = (float) (1.0 / Math.sqrt(hd));

        scores(dscores, pOff, dout, qOff, vT, (b * nKvHeads + kvh) * hd * seqLen, seqLen, t + 1, hd, 1f);  // dp = dout · v
        float pdp = 0f;
        for (int t2 = 0; t2 <= t; t2++) pdp += probs[pOff + t2] * dscores[pOff + t2];
        Attention.softmaxGradRow(dscores, probs, pOff, t, seqLen, pdp);
        weightedRows(dq, qOff, dscores, pOff, 1, scale, k, b * seqLen * kvStride + kvh * hd, kvStride, t + 1, hd);
    }

    /** The second backward pass for one key/value position, {@code item = (b · NKV + kvh) · T + t2}, as {@code Attention.backwardKeyValueItem}. */
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
            int sOff = ((b * nHeads + h) * seqLen + t2) * seqLen + t2;  // query t2's score for key t2; query t's is t − t2 rows on
            int rows = (b * seqLen + t2) * qStride + h * hd;
            weightedRows(dk, kvOff, dscores, sOff, seqLen, scale, q, rows, qStride, seqLen - t2, hd);
            weightedRows(dv, kvOff, probs, sOff, seqLen, 1f, dout, rows, qStride, seqLen - t2, hd);
        }
    }

    // Both sums below run four independent chains of FMAs, so that no FMA waits on the one before it (one
    // chain ran at an eighth of the FMA rate); each chain sums its terms in a fixed order.

    /**
     * {@code s[sOff + j] = scale · Σ_d x[xOff + d] · xT[tOff + d · T + j]} for keys j in [0, count): L keys per
     * vector, one FMA per channel, no horizontal sums.
     */
    private static void scores(float[] s, int sOff, float[] x, int xOff, float[] xT, int tOff, int seqLen, int count,
                               int hd, float scale) {
        for (int j0 = 0; j0 < count; j0 += L) {
            VectorMask<Float> m = S.indexInRange(j0, count);
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            int col = tOff + j0;
            int d = 0;
            for (; d + 4 <= hd; d += 4, col += 4 * seqLen) {
                a0 = FloatVector.fromArray(S, xT, col, m).fma(FloatVector.broadcast(S, x[xOff + d]), a0);
                a1 = FloatVector.fromArray(S, xT, col + seqLen, m).fma(FloatVector.broadcast(S, x[xOff + d + 1]), a1);
                a2 = FloatVector.fromArray(S, xT, col + 2 * seqLen, m).fma(FloatVector.broadcast(S, x[xOff + d + 2]), a2);
                a3 = FloatVector.fromArray(S, xT, col + 3 * seqLen, m).fma(FloatVector.broadcast(S, x[xOff + d + 3]), a3);
            }
            for (; d < hd; d++, col += seqLen) {
                a0 = FloatVector.fromArray(S, xT, col, m).fma(FloatVector.broadcast(S, x[xOff + d]), a0);
            }
            a0.add(a1).add(a2.add(a3)).mul(scale).intoArray(s, sOff + j0, m);
        }
    }

    /**
     * {@code y[yOff + d] += Σ_j scale · w[wOff + j · wStride] · rows[rowOff + j · rowStride + d]} over j in
     * [0, count), for d in [0, hd): four vectors of channels (HD = 64 in one pass), each summed in a register
     * over all j, reading each row's channels together, then added to y.
     */
    private static void weightedRows(float[] y, int yOff, float[] w, int wOff, int wStride, float scale,
                                     float[] rows, int rowOff, int rowStride, int count, int hd) {
        for (int d0 = 0; d0 < hd; d0 += 4 * L) {
            VectorMask<Float> m0 = S.indexInRange(d0, hd), m1 = S.indexInRange(d0 + L, hd);
            VectorMask<Float> m2 = S.indexInRange(d0 + 2 * L, hd), m3 = S.indexInRange(d0 + 3 * L, hd);
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            int wi = wOff, row = rowOff + d0;
            for (int j = 0; j < count; j++, wi += wStride, row += rowStride) {
                FloatVector wj = FloatVector.broadcast(S, w[wi] * scale);
                a0 = FloatVector.fromArray(S, rows, row, m0).fma(wj, a0);
                a1 = FloatVector.fromArray(S, rows, row + L, m1).fma(wj, a1);
                a2 = FloatVector.fromArray(S, rows, row + 2 * L, m2).fma(wj, a2);
                a3 = FloatVector.fromArray(S, rows, row + 3 * L, m3).fma(wj, a3);
            }
            int o = yOff + d0;
            a0.add(FloatVector.fromArray(S, y, o, m0)).intoArray(y, o, m0);
            a1.add(FloatVector.fromArray(S, y, o + L, m1)).intoArray(y, o + L, m1);
            a2.add(FloatVector.fromArray(S, y, o + 2 * L, m2)).intoArray(y, o + 2 * L, m2);
            a3.add(FloatVector.fromArray(S, y, o + 3 * L, m3)).intoArray(y, o + 3 * L, m3);
        }
    }
}
