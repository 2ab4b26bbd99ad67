package org.lomo4j.kernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link org.lomo4j.kernels.Matmul} with the JDK Vector API, for the JVM backend: same shapes, same
 * results up to float rounding order. Register blocking reuses each load: the forward pass computes
 * 2 tokens × 4 outputs at once, the input gradient 4 tokens × 2 vectors of columns, the weight gradient
 * 4 rows × 2 vectors, so a value read from cache feeds two to four FMAs. Rows and columns past the end
 * of a block are clamped to the last valid one and computed twice rather than branched on; only valid
 * results are written.
 *
 * <p>x (N, IN), W (OUT, IN) at {@code wOff}, y (N, OUT).
 */
public final class MatmulVector {
    private MatmulVector() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** Floats of W kept hot per block (128 KiB): well inside L2, leaving room for the activations. */
    private static final int W_BLOCK_FLOATS = 32 * 1024;

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
    /** Lane holding the sum of sum8's k-th argument; fields, so lane() sees a constant index. */
    private static final int SLOT0 = slot(0), SLOT1 = slot(1), SLOT2 = slot(2), SLOT3 = slot(3);
    private static final int SLOT4 = slot(4), SLOT5 = slot(5), SLOT6 = slot(6), SLOT7 = slot(7);

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

    /** Where sum8 leaves its k-th argument's sum: blocks of L/8 lanes in the order 0, 4, 2, 6, 1, 5, 3, 7 (bit reversal). */
    private static int slot(int k) {
        int block = ((k & 1) << 2) | (k & 2) | ((k & 4) >> 2);
        return block * Math.max(1, L / 8);
    }

    /** The sum of v's lanes, folded in a fixed order (see sum8): the same in every execution mode. */
    private static float sumLanes(FloatVector v) {
        FloatVector t = v.add(v.rearrange(SWAP0));
        if (LEVELS > 1) t = t.add(t.rearrange(SWAP1));
        if (LEVELS > 2) t = t.add(t.rearrange(SWAP2));
        if (LEVELS > 3) t = t.add(t.rearrange(SWAP3));
        for (int k = 4; k < LEVELS; k++) t = t.add(t.rearrange(swap(k)));  // vectors wider than 16 floats only
        return t.lane(0);
    }

    /** {@code Σ a[aOff + i] · b[bOff + i]} over {@code len}, as {@link org.lomo4j.kernels.Matmul#dot} up to rounding. */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(len); i < bound; i += L) {
            acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
        }
        float s = sumLanes(acc);
        for (; i < len; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    /** {@code y[yOff + i] += alpha · x[xOff + i]} over {@code len}. */
    public static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int len) {
        FloatVector a = FloatVector.broadcast(S, alpha);
        int i = 0;
        for (int bound = S.loopBound(len); i < bound; i += L) {
            FloatVector.fromArray(S, x, xOff + i).fma(a, FloatVector.fromArray(S, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < len; i++) y[yOff + i] += alpha * x[xOff + i];
    }

    /** Rows [n0, n1) of {@code y = x · Wᵀ}. */
    public static void forwardRows(float[] y, float[] x, float[] w, int wOff, int in, int out, int n0, int n1) {
        int bound = S.loopBound(in);
        // Cache blocking: a block of W's rows stays in L2 while every token of the range passes over it.
        int block = Math.max(4, W_BLOCK_FLOATS / in / 4 * 4);
        for (int oStart = 0; oStart < out; oStart += block) {
            int oEnd = Math.min(out, oStart + block);
            forwardBlock(y, x, w, wOff, in, out, n0, n1, oStart, oEnd, bound);
        }
    }

    private static void forwardBlock(float[] y, float[] x, float[] w, int wOff, int in, int out, int n0, int n1,
                                     int oStart, int oEnd, int bound) {
        for (int na = n0; na < n1; na += 2) {
            int nb = Math.min(na + 1, n1 - 1);
            int xa = na * in, xb = nb * in;
            for (int o = oStart; o < oEnd; o += 4) {
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
                // Deterministic horizontal sums (see sum8).
                FloatVector sums = sum8(a0, b0, a1, b1, a2, b2, a3, b3);
                float sa0 = sums.lane(SLOT0), sb0 = sums.lane(SLOT1);
                float sa1 = sums.lane(SLOT2), sb1 = sums.lane(SLOT3);
                float sa2 = sums.lane(SLOT4), sb2 = sums.lane(SLOT5);
                float sa3 = sums.lane(SLOT6), sb3 = sums.lane(SLOT7);
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
        int step = 2 * L;
        int vecEnd = in - in % step;
        // Cache blocking: a strip of W's columns (all OUT rows) stays in L2 while every token of the range passes.
        int strip = Math.max(step, W_BLOCK_FLOATS / out / step * step);
        for (int iStart = 0; iStart < vecEnd; iStart += strip) {
            int iEnd = Math.min(vecEnd, iStart + strip);
            for (int n = n0; n < n1; n += 4) {
                for (int i = iStart; i < iEnd; i += step) inputGradStrip(dx, dy, w, wOff, in, out, n, n1, i);
            }
        }
        if (vecEnd == in) return;
        for (int na = n0; na < n1; na += 2) {
            int nb = Math.min(na + 1, n1 - 1);
            int xa = na * in, xb = nb * in, ya = na * out, yb = nb * out;
            for (int i = vecEnd; i < in; i++) {
                float sa = 0f, sb = 0f;
                for (int o = 0; o < out; o++) {
                    float wv = w[wOff + o * in + i];
                    sa += dy[ya + o] * wv;
                    sb += dy[yb + o] * wv;
                }
                dx[xa + i] += sa;
                if (nb != na) dx[xb + i] += sb;
            }
        }
    }

    /**
     * Columns [i, i + 2L) of tokens n .. n + 3 (clamped to n1 − 1; a clamped token is computed again, not
     * written). Four tokens share each load of W: eight FMAs per two loads.
     */
    private static void inputGradStrip(float[] dx, float[] dy, float[] w, int wOff, int in, int out, int n, int n1, int i) {
        int last = n1 - 1;
        int nb = Math.min(n + 1, last), nc = Math.min(n + 2, last), nd = Math.min(n + 3, last);
        int ya = n * out, yb = nb * out, yc = nc * out, yd = nd * out;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
        for (int o = 0; o < out; o++) {
            int r = wOff + o * in + i;
            FloatVector w0 = FloatVector.fromArray(S, w, r);
            FloatVector w1 = FloatVector.fromArray(S, w, r + L);
            FloatVector da = FloatVector.broadcast(S, dy[ya + o]);
            FloatVector db = FloatVector.broadcast(S, dy[yb + o]);
            FloatVector dc = FloatVector.broadcast(S, dy[yc + o]);
            FloatVector dd = FloatVector.broadcast(S, dy[yd + o]);
            a0 = w0.fma(da, a0);
            a1 = w1.fma(da, a1);
            b0 = w0.fma(db, b0);
            b1 = w1.fma(db, b1);
            c0 = w0.fma(dc, c0);
            c1 = w1.fma(dc, c1);
            d0 = w0.fma(dd, d0);
            d1 = w1.fma(dd, d1);
        }
        addInto(dx, n * in + i, a0, a1);
        if (nb != n) addInto(dx, nb * in + i, b0, b1);
        if (nc != nb) addInto(dx, nc * in + i, c0, c1);
        if (nd != nc) addInto(dx, nd * in + i, d0, d1);
    }

    /**
     * Rows [o0, o0 + rows) of the weight gradient, row o at {@code gOff + (o − o0) · IN}:
     * {@code g[o, i] += Σ_n dy[n, o] · x[n, i]}. Four rows at a time, so each load of x feeds four FMAs and
     * x is read once per four rows rather than once per row.
     */
    public static void weightGradRows(float[] g, int gOff, float[] dy, float[] x, int nTokens, int in, int out, int o0, int rows) {
        int step = 2 * L;
        int vecEnd = in - in % step;
        for (int q = 0; q < rows; q += 4) {
            int last = rows - 1;
            int k1 = Math.min(q + 1, last), k2 = Math.min(q + 2, last), k3 = Math.min(q + 3, last);
            for (int i = 0; i < vecEnd; i += step) {
                FloatVector a0 = FloatVector.zero(S), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
                for (int n = 0; n < nTokens; n++) {
                    int r = n * in + i;
                    FloatVector x0 = FloatVector.fromArray(S, x, r);
                    FloatVector x1 = FloatVector.fromArray(S, x, r + L);
                    int yRow = n * out + o0;
                    FloatVector da = FloatVector.broadcast(S, dy[yRow + q]);
                    FloatVector db = FloatVector.broadcast(S, dy[yRow + k1]);
                    FloatVector dc = FloatVector.broadcast(S, dy[yRow + k2]);
                    FloatVector dd = FloatVector.broadcast(S, dy[yRow + k3]);
                    a0 = x0.fma(da, a0);
                    a1 = x1.fma(da, a1);
                    b0 = x0.fma(db, b0);
                    b1 = x1.fma(db, b1);
                    c0 = x0.fma(dc, c0);
                    c1 = x1.fma(dc, c1);
                    d0 = x0.fma(dd, d0);
                    d1 = x1.fma(dd, d1);
                }
                addInto(g, gOff + q * in + i, a0, a1);
                if (k1 != q) addInto(g, gOff + k1 * in + i, b0, b1);
                if (k2 != k1) addInto(g, gOff + k2 * in + i, c0, c1);
                if (k3 != k2) addInto(g, gOff + k3 * in + i, d0, d1);
            }
        }
        for (int k = 0; k < rows && vecEnd < in; k++) {
            int o = o0 + k;
            for (int i = vecEnd; i < in; i++) {
                float s = 0f;
                for (int n = 0; n < nTokens; n++) s += dy[n * out + o] * x[n * in + i];
                g[gOff + k * in + i] += s;
            }
        }
    }

    private static void addInto(float[] g, int off, FloatVector v0, FloatVector v1) {
        FloatVector.fromArray(S, g, off).add(v0).intoArray(g, off);
        FloatVector.fromArray(S, g, off + L).add(v1).intoArray(g, off + L);
    }
}
