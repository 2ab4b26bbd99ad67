package org.lomo4j.tornado;

import static org.lomo4j.tornado.Tasks.addScaled;
import static org.lomo4j.tornado.Tasks.lanes8;
import static org.lomo4j.tornado.Tasks.spill;
import static org.lomo4j.tornado.Tasks.zero8;

import uk.ac.manchester.tornado.api.annotations.Parallel;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.vectors.Float8;

/**
 * The core's attention ({@code org.lomo4j.kernels.Attention}: FlashAttention-2, causal, grouped-query) in OpenCL
 * vectors, for heads whose width is a multiple of {@link #CHUNK}; {@code Graphs} runs the core's scalar items for
 * other widths. A thread owns {@link #CHUNK} columns of one row's output, held as four {@link Float8} in registers and
 * written once at the end: the core's form keeps its output row in global memory and updates it key by key, and
 * on PoCL that loop was bound by address arithmetic (TornadoVM addresses each element through integer
 * arithmetic), about 500 cycles per query-key pair; a {@code Float8} stored inside the loop instead made TornadoVM's
 * compiler run out of heap. Each thread recomputes its row's scores over the whole head (a dot product in vectors,
 * {@link #dot}), so a head of 64 columns computes them twice: cheaper, in vectors, than one scalar pass.
 *
 * <p>Same algorithm, same items as the core, but not bit for bit: the dot products add 16 partial sums, and
 * exp and log are single precision (the core rounds double-precision ones). Items are {@code (row item, chunk)}
 * with the chunk fastest, so the threads of a row read the same keys one after another.
 */
final class VectorAttention {
    private VectorAttention() {}

    /** Columns of a head a thread computes: four {@link Float8}. */
    static final int CHUNK = 32;

    /**
     * Σ a[ao + d] · b[bo + d] over d < n (a multiple of 16) in two vectors of 8 lanes, two chains of adds rather than
     * one, summed, then their lanes added pairwise.
     */
    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        Float8 even = zero8(), odd = zero8();
        for (int d = 0; d < n; d += 16) {
            even = Float8.add(even, Float8.mult(lanes8(a, ao + d), lanes8(b, bo + d)));
            odd = Float8.add(odd, Float8.mult(lanes8(a, ao + d + 8), lanes8(b, bo + d + 8)));
        }
        Float8 acc = Float8.add(even, odd);
        return ((acc.getS0() + acc.getS1()) + (acc.getS2() + acc.getS3())) + ((acc.getS4() + acc.getS5()) + (acc.getS6() + acc.getS7()));
    }

    /**
     * {@code Attention.forwardItem}, thread {@code i = item · (hd / CHUNK) + chunk}; the chunk-0 thread writes lse. With
     * {@code transpose} = 1 also outT = outᵀ (QD, N), the o projection's input (as {@code Tasks.rmsnorm} writes its own).
     */
    static void forward(float[] out, float[] outT, float[] lse, float[] q, float[] k, float[] v, int seqLen, int nHeads, int nKvHeads,
                        int hd, int transpose, int n, int threads) {
        for (@Parallel int i = 0; i < threads; i++) {
            int chunks = hd / CHUNK;
            int c = i % chunks;
            int item = i / chunks;
            int t = item % seqLen;
            int h = (item / seqLen) % nHeads;
            int b = item / (seqLen * nHeads);
            int kvStride = nKvHeads * hd;
            int qOff = (b * seqLen + t) * nHeads * hd + h * hd;
            int kvBase = b * seqLen * kvStride + h / (nHeads / nKvHeads) * hd;
            int col = c * CHUNK;
            float scale = 1f / TornadoMath.sqrt((float) hd);

            // The first key starts the online softmax: its p is e^0 = 1.
            float max = dot(q, qOff, k, kvBase, hd) * scale;
            float sum = 1f;
            Float8 o0 = lanes8(v, kvBase + col), o1 = lanes8(v, kvBase + col + 8), o2 = lanes8(v, kvBase + col + 16),
                    o3 = lanes8(v, kvBase + col + 24);
            for (int t2 = 1; t2 <= t; t2++) {
                int kvOff = kvBase + t2 * kvStride;
                float s = dot(q, qOff, k, kvOff, hd) * scale;
                if (s > max) {
                    float rescale = TornadoMath.exp(max - s);
                    sum *= rescale;
                    o0 = Float8.mult(o0, rescale); o1 = Float8.mult(o1, rescale);
                    o2 = Float8.mult(o2, rescale); o3 = Float8.mult(o3, rescale);
                    max = s;
                }
                float p = TornadoMath.exp(s - max);
                sum += p;
                o0 = addScaled(o0, lanes8(v, kvOff + col), p); o1 = addScaled(o1, lanes8(v, kvOff + col + 8), p);
                o2 = addScaled(o2, lanes8(v, kvOff + col + 16), p); o3 = addScaled(o3, lanes8(v, kvOff + col + 24), p);
            }
            float inv = 1f / sum;
            float[] row = new float[CHUNK];  // private: the chunk, stored after the loop
            spill(row, 0, Float8.mult(o0, inv), Float8.mult(o1, inv));
            spill(row, 16, Float8.mult(o2, inv), Float8.mult(o3, inv));
            for (int d = 0; d < CHUNK; d++) out[qOff + col + d] = row[d];
            if (transpose == 1) {
                for (int d = 0; d < CHUNK; d++) outT[(h * hd + col + d) * n + b * seqLen + t] = row[d];
            }
            if (c == 0) lse[item] = max + TornadoMath.log(sum);
        }
    }

    /**
     * {@code Attention.backwardQueryItem}: dq's chunk, written (the core adds into dq, which the JVM zeroes first: the same
     * sums); the chunk-0 thread writes delta.
     */
    static void backwardQuery(float[] dq, float[] delta, float[] dout, float[] out, float[] lse, float[] q, float[] k, float[] v,
                              int seqLen, int nHeads, int nKvHeads, int hd, int threads) {
        for (@Parallel int i = 0; i < threads; i++) {
            int chunks = hd / CHUNK;
            int c = i % chunks;
            int item = i / chunks;
            int t = item % seqLen;
            int h = (item / seqLen) % nHeads;
            int b = item / (seqLen * nHeads);
            int kvStride = nKvHeads * hd;
            int qOff = (b * seqLen + t) * nHeads * hd + h * hd;
            int kvBase = b * seqLen * kvStride + h / (nHeads / nKvHeads) * hd;
            int col = qOff + c * CHUNK;
            float scale = 1f / TornadoMath.sqrt((float) hd);

            float dSum = dot(dout, qOff, out, qOff, hd);
            float rowLse = lse[item];
            Float8 g0 = zero8(), g1 = zero8(), g2 = zero8(), g3 = zero8();
            for (int t2 = 0; t2 <= t; t2++) {
                int kvOff = kvBase + t2 * kvStride;
                float p = TornadoMath.exp(dot(q, qOff, k, kvOff, hd) * scale - rowLse);
                float ds = p * (dot(dout, qOff, v, kvOff, hd) - dSum) * scale;
                int kc = kvOff + c * CHUNK;
                g0 = addScaled(g0, lanes8(k, kc), ds); g1 = addScaled(g1, lanes8(k, kc + 8), ds);
                g2 = addScaled(g2, lanes8(k, kc + 16), ds); g3 = addScaled(g3, lanes8(k, kc + 24), ds);
            }
            float[] row = new float[CHUNK];
            spill(row, 0, g0, g1);
            spill(row, 16, g2, g3);
            for (int d = 0; d < CHUNK; d++) dq[col + d] = row[d];
            if (c == 0) delta[item] = dSum;
        }
    }

    /**
     * {@code Attention.backwardKeyValueItem}: thread {@code i = item · (hd / CHUNK) + chunk}, item a key/value position;
     * the chunk of dk and of dv, written (as dq's in {@link #backwardQuery}), over the group's query heads and the queries t ≥ t2.
     */
    static void backwardKeyValue(float[] dk, float[] dv, float[] delta, float[] lse, float[] q, float[] k, float[] v, float[] dout,
                                 int seqLen, int nHeads, int nKvHeads, int hd, int threads) {
        for (@Parallel int i = 0; i < threads; i++) {
            int chunks = hd / CHUNK;
            int c = i % chunks;
            int item = i / chunks;
            int t2 = item % seqLen;
            int kvh = (item / seqLen) % nKvHeads;
            int b = item / (seqLen * nKvHeads);
            int group = nHeads / nKvHeads;
            int qStride = nHeads * hd;
            int kvOff = (b * seqLen + t2) * nKvHeads * hd + kvh * hd;
            int col = kvOff + c * CHUNK;
            float scale = 1f / TornadoMath.sqrt((float) hd);
            Float8 k0 = zero8(), k1 = zero8(), k2 = zero8(), k3 = zero8();
            Float8 v0 = zero8(), v1 = zero8(), v2 = zero8(), v3 = zero8();
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int t = t2; t < seqLen; t++) {
                    int row = (b * nHeads + h) * seqLen + t;
                    int qOff = (b * seqLen + t) * qStride + h * hd;
                    float p = TornadoMath.exp(dot(q, qOff, k, kvOff, hd) * scale - lse[row]);
                    float ds = p * (dot(dout, qOff, v, kvOff, hd) - delta[row]) * scale;
                    int qc = qOff + c * CHUNK;
                    k0 = addScaled(k0, lanes8(q, qc), ds); k1 = addScaled(k1, lanes8(q, qc + 8), ds);
                    k2 = addScaled(k2, lanes8(q, qc + 16), ds); k3 = addScaled(k3, lanes8(q, qc + 24), ds);
                    v0 = addScaled(v0, lanes8(dout, qc), p); v1 = addScaled(v1, lanes8(dout, qc + 8), p);
                    v2 = addScaled(v2, lanes8(dout, qc + 16), p); v3 = addScaled(v3, lanes8(dout, qc + 24), p);
                }
            }
            float[] chunk = new float[2 * CHUNK];
            spill(chunk, 0, k0, k1);
            spill(chunk, 16, k2, k3);
            spill(chunk, 32, v0, v1);
            spill(chunk, 48, v2, v3);
            for (int d = 0; d < CHUNK; d++) {
                dk[col + d] = chunk[d];
                dv[col + d] = chunk[CHUNK + d];
            }
        }
    }
}
