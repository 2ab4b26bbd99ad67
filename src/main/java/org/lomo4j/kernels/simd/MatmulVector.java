package org.lomo4j.kernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link org.lomo4j.kernels.Matmul} with the JDK Vector API, for the JVM backend: same shapes, same
 * results up to float rounding order. Register blocking reuses each load: the forward pass computes
 * 2 tokens × 4 outputs at once, the input gradient 2 tokens × 2 vectors of columns, so a weight read from
 * cache feeds two FMAs. Rows and columns past the end of a block are clamped to the last valid one and
 * computed twice rather than branched on; only valid results are written.
 *
 * <p>x (N, IN), W (OUT, IN) at {@code wOff}, y (N, OUT).
 */
public final class MatmulVector {
    private MatmulVector() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    static int lanes() {
        return L;
    }

    /** The register-blocked forward sums 8 accumulators at once, which needs at least 8 lanes. */
    static boolean supported() {
        return L >= 8;
    }

    // Horizontal sums. FloatVector.reduceLanes(ADD) leaves the order of additions unspecified, and the
    // interpreted and JIT-compiled forms do differ in the last bit, so results would depend on JIT timing
    // and a resumed run would drift from an uninterrupted one. sum8 adds in a fixed order with exact lane
    // moves (rearrange, blend) and lane-wise adds, the same in every execution mode.
    // Shuffles and masks are static final fields, not array elements: the JIT compiles a rearrange with a
    // constant shuffle to one permute instruction, and a shuffle read from an array to a slow generic path.
    private static final int LEVELS = Integer.numberOfTrailingZeros(L);
    private static final VectorShuffle<Float> SWAP0 = swap(0), SWAP1 = swap(1), SWAP2 = swap(2), SWAP3 = swap(3);
    private static final VectorMask<Float> UPPER0 = upper(0), UPPER1 = upper(1), UPPER2 = upper(2);
    /** Lane holding the sum of sum8's k-th argument. */
    private static final int[] SLOT = slots();

    /** Level k pairs lane i with lane i ^ (L >> (k + 1)). */
    private static VectorShuffle<Float> swap(int k) {
        int h = Math.max(1, L >> (k + 1));
        return VectorShuffle.fromOp(S, i -> i ^ h);
    }

    /** Lanes in the upper block of each pair at level k. */
    private static VectorMask<Float> upper(int k) {
        int h = Math.max(1, L >> (k + 1));
        boolean[] bits = new boolean[L];
        for (int i = 0; i < L; i++) bits[i] = (i & h) != 0;
        return VectorMask.fromArray(S, bits, 0);
    }

    /** Halves the lanes each of p and q occupy: p's partial sums stay in the lower blocks, q's in the upper. */
    private static FloatVector fold(FloatVector p, FloatVector q, VectorShuffle<Float> swap, VectorMask<Float> upper) {
        return p.blend(q, upper).add(p.rearrange(swap).blend(q.rearrange(swap), upper));
    }

    /** One vector holding the 8 horizontal sums, folded pairwise in a fixed order. */
    private static FloatVector sum8(FloatVector v0, FloatVector v1, FloatVector v2, FloatVector v3,
                                    FloatVector v4, FloatVector v5, FloatVector v6, FloatVector v7) {
        FloatVector r0 = fold(v0, v1, SWAP0, UPPER0), r1 = fold(v2, v3, SWAP0, UPPER0);
        FloatVector r2 = fold(v4, v5, SWAP0, UPPER0), r3 = fold(v6, v7, SWAP0, UPPER0);
        FloatVector s0 = fold(r0, r1, SWAP1, UPPER1), s1 = fold(r2, r3, SWAP1, UPPER1);
        FloatVector t = fold(s0, s1, SWAP2, UPPER2);
        if (LEVELS > 3) t = t.add(t.rearrange(SWAP3));
        for (int k = 4; k < LEVELS; k++) t = t.add(t.rearrange(swap(k)));  // vectors wider than 16 floats only
        return t;
    }

    /** Where sum8 leaves each argument's sum: blocks of L/8 lanes in the order 0, 4, 2, 6, 1, 5, 3, 7 (bit reversal). */
    private static int[] slots() {
        int[] slot = new int[8];
        for (int k = 0; k < 8; k++) {
            int block = ((k & 1) << 2) | (k & 2) | ((k & 4) >> 2);
            slot[k] = block * Math.max(1, L / 8);
        }
        return slot;
    }

    /** Rows [n0, n1) of {@code y = x · Wᵀ}. */
    public static void forwardRows(float[] y, float[] x, float[] w, int wOff, int in, int out, int n0, int n1) {
        int bound = S.loopBound(in);
        for (int na = n0; na < n1; na += 2) {
            int nb = Math.min(na + 1, n1 - 1);
            int xa = na * in, xb = nb * in;
            for (int o = 0; o < out; o += 4) {
                int r0 = wOff + o * in;
                int r1 = wOff + Math.min(o + 1, out - 1) * in;
                int r2 = wOff + Math.min(o + 2, out - 1) * in;
                int r3 = wOff + Math.min(o + 3, out - 1) * in;
                FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
                for (int i = 0; i < bound; i += L) {
                    FloatVector va = FloatVector.fromArray(S, x, xa + i);
                    FloatVector vb = FloatVector.fromArray(S, x, xb + i);
                    FloatVector w0 = FloatVector.fromArray(S, w, r0 + i);
                    FloatVector w1 = FloatVector.fromArray(S, w, r1 + i);
                    FloatVector w2 = FloatVector.fromArray(S, w, r2 + i);
                    FloatVector w3 = FloatVector.fromArray(S, w, r3 + i);
                    a0 = w0.fma(va, a0);
                    b0 = w0.fma(vb, b0);
                    a1 = w1.fma(va, a1);
                    b1 = w1.fma(vb, b1);
                    a2 = w2.fma(va, a2);
                    b2 = w2.fma(vb, b2);
                    a3 = w3.fma(va, a3);
                    b3 = w3.fma(vb, b3);
                }
                // Deterministic horizontal sums (see sum8): lane BLOCK * k holds accumulator ORDER[k].
                FloatVector sums = sum8(a0, b0, a1, b1, a2, b2, a3, b3);
                float sa0 = sums.lane(SLOT[0]), sb0 = sums.lane(SLOT[1]);
                float sa1 = sums.lane(SLOT[2]), sb1 = sums.lane(SLOT[3]);
                float sa2 = sums.lane(SLOT[4]), sb2 = sums.lane(SLOT[5]);
                float sa3 = sums.lane(SLOT[6]), sb3 = sums.lane(SLOT[7]);
                for (int i = bound; i < in; i++) {
                    float xai = x[xa + i], xbi = x[xb + i];
                    sa0 += xai * w[r0 + i];
                    sb0 += xbi * w[r0 + i];
                    sa1 += xai * w[r1 + i];
                    sb1 += xbi * w[r1 + i];
                    sa2 += xai * w[r2 + i];
                    sb2 += xbi * w[r2 + i];
                    sa3 += xai * w[r3 + i];
                    sb3 += xbi * w[r3 + i];
                }
                store4(y, na * out, o, out, sa0, sa1, sa2, sa3);
                if (nb != na) store4(y, nb * out, o, out, sb0, sb1, sb2, sb3);
            }
        }
    }

    private static void store4(float[] y, int rowOff, int o, int out, float s0, float s1, float s2, float s3) {
        y[rowOff + o] = s0;
        if (o + 1 < out) y[rowOff + o + 1] = s1;
        if (o + 2 < out) y[rowOff + o + 2] = s2;
        if (o + 3 < out) y[rowOff + o + 3] = s3;
    }

    /** Rows [n0, n1) of the input gradient: {@code dx[n, i] += Σ_o dy[n, o] · W[o, i]}. */
    public static void inputGradRows(float[] dx, float[] dy, float[] w, int wOff, int in, int out, int n0, int n1) {
        for (int na = n0; na < n1; na += 2) {
            int nb = Math.min(na + 1, n1 - 1);
            int xa = na * in, xb = nb * in, ya = na * out, yb = nb * out;
            boolean two = nb != na;
            int i = 0;
            for (; i + 2 * L <= in; i += 2 * L) {
                FloatVector a0 = FloatVector.zero(S), a1 = a0, b0 = a0, b1 = a0;
                for (int o = 0; o < out; o++) {
                    int r = wOff + o * in + i;
                    FloatVector w0 = FloatVector.fromArray(S, w, r);
                    FloatVector w1 = FloatVector.fromArray(S, w, r + L);
                    FloatVector da = FloatVector.broadcast(S, dy[ya + o]);
                    FloatVector db = FloatVector.broadcast(S, dy[yb + o]);
                    a0 = w0.fma(da, a0);
                    a1 = w1.fma(da, a1);
                    b0 = w0.fma(db, b0);
                    b1 = w1.fma(db, b1);
                }
                FloatVector.fromArray(S, dx, xa + i).add(a0).intoArray(dx, xa + i);
                FloatVector.fromArray(S, dx, xa + i + L).add(a1).intoArray(dx, xa + i + L);
                if (two) {
                    FloatVector.fromArray(S, dx, xb + i).add(b0).intoArray(dx, xb + i);
                    FloatVector.fromArray(S, dx, xb + i + L).add(b1).intoArray(dx, xb + i + L);
                }
            }
            for (; i < in; i++) {
                float sa = 0f, sb = 0f;
                for (int o = 0; o < out; o++) {
                    float wv = w[wOff + o * in + i];
                    sa += dy[ya + o] * wv;
                    sb += dy[yb + o] * wv;
                }
                dx[xa + i] += sa;
                if (two) dx[xb + i] += sb;
            }
        }
    }

    /** Row {@code o} of the weight gradient: {@code g[gOff + i] += Σ_n dy[n, o] · x[n, i]}. */
    public static void weightGradRow(float[] g, int gOff, float[] dy, float[] x, int nTokens, int in, int out, int o) {
        int i = 0;
        for (; i + 4 * L <= in; i += 4 * L) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int n = 0; n < nTokens; n++) {
                FloatVector d = FloatVector.broadcast(S, dy[n * out + o]);
                int r = n * in + i;
                a0 = FloatVector.fromArray(S, x, r).fma(d, a0);
                a1 = FloatVector.fromArray(S, x, r + L).fma(d, a1);
                a2 = FloatVector.fromArray(S, x, r + 2 * L).fma(d, a2);
                a3 = FloatVector.fromArray(S, x, r + 3 * L).fma(d, a3);
            }
            FloatVector.fromArray(S, g, gOff + i).add(a0).intoArray(g, gOff + i);
            FloatVector.fromArray(S, g, gOff + i + L).add(a1).intoArray(g, gOff + i + L);
            FloatVector.fromArray(S, g, gOff + i + 2 * L).add(a2).intoArray(g, gOff + i + 2 * L);
            FloatVector.fromArray(S, g, gOff + i + 3 * L).add(a3).intoArray(g, gOff + i + 3 * L);
        }
        for (; i + L <= in; i += L) {
            FloatVector a = FloatVector.zero(S);
            for (int n = 0; n < nTokens; n++) {
                a = FloatVector.fromArray(S, x, n * in + i).fma(FloatVector.broadcast(S, dy[n * out + o]), a);
            }
            FloatVector.fromArray(S, g, gOff + i).add(a).intoArray(g, gOff + i);
        }
        for (; i < in; i++) {
            float s = 0f;
            for (int n = 0; n < nTokens; n++) s += dy[n * out + o] * x[n * in + i];
            g[gOff + i] += s;
        }
    }
}
