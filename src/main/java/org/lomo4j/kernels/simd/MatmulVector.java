package org.lomo4j.kernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;
import org.lomo4j.kernels.Half;

/**
 * {@link org.lomo4j.kernels.Matmul} with the JDK Vector API, for the JVM backend: same shapes, same
 * results up to float rounding order. All three products are one blocked matrix multiply,
 * {@code C += A · B}, in the GotoBLAS layout:
 * <ul>
 *   <li>forward: {@code y (N, OUT) = x (N, IN) · Wᵀ};</li>
 *   <li>input gradient: {@code dx (N, IN) += dy (N, OUT) · W};</li>
 *   <li>weight gradient: {@code g (rows, IN) += dyᵀ (rows, N) · x (N, IN)}, one tile of W's rows.</li>
 * </ul>
 * Each block of A ({@link #MC} rows × {@link #KC}) is copied into groups of {@link #MR} rows, element
 * (r, k) at {@code k · MR + r}, and B is taken in panels of {@link #NR} columns, each row of a panel NR
 * adjacent floats, so the innermost kernel reads both in order with no strides. That kernel keeps an
 * MR × NR block of C in 16 vector registers: per k it loads two vectors of B and broadcasts MR values of
 * A, 16 FMAs per 10 loads, with KC rows of a B panel in L1 and the A block in L2. Without packing, the
 * strided reads of W's and x's columns missed the caches, and the kernels ran at a third of the FMA peak.
 * B is packed once per product, before the parallel tasks, which all read it: W for the forward
 * ({@link #packTransposed}) and the input gradient ({@link #packColumns}), x for the weight gradient
 * ({@link #packColumns}, once per weight rather than once per tile).
 *
 * <p>Every element of C is summed over k in the same order (blocks of KC, in order) whatever the rows,
 * the tile or the thread that computes it, so results do not depend on the thread count. Rows past the
 * end of a block are copies of the last row, computed and not stored; columns past the end are zeros.
 *
 * <p>x (N, IN), W (OUT, IN) at {@code wOff}, y (N, OUT). Every product takes a packing workspace for A at
 * {@code ws[wsOff]}, one per worker, of {@link #workspaceFloats} floats.
 */
public final class MatmulVector {
    private MatmulVector() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** Rows of C per register block. 8 × 2 vectors = 16 accumulators (of 32 AVX-512 registers). */
    static final int MR = 8;
    /** Columns of C per register block: two vectors. */
    static final int NR = 2 * L;
    /** Depth of a packed A block: KC rows of a B panel (KC × NR floats, 32 KiB with 16 lanes) stay in L1. */
    static final int KC = 256;
    /** Rows of a packed A block (MC × KC floats, 256 KiB): stays in L2 while every panel of B passes. */
    static final int MC = 256;

    /**
     * Floats of packing workspace one worker needs for products whose A has at most {@code maxRows} rows
     * per call and whose depth is at most {@code maxDepth}: an A block and one block of C.
     */
    public static int workspaceFloats(int maxRows, int maxDepth) {
        return aBlockFloats(maxRows, maxDepth) + MR * NR;
    }

    /** Floats of a packed A block for m rows and depth k: at most MC rows, rounded up to groups of MR, × at most KC. */
    private static int aBlockFloats(int m, int k) {
        return (Math.min(MC, m) + MR - 1) / MR * MR * Math.min(KC, k);
    }

    /**
     * Rows of y or dx per parallel task over {@code n} tokens: a multiple of MR, at most MC, small enough
     * that every worker gets about two tasks. Results do not depend on it.
     */
    public static int rowsPerTask(int n, int threads) {
        int rows = (n / (2 * threads) + MR - 1) / MR * MR;
        return Math.max(MR, Math.min(MC, rows));
    }

    static int lanes() {
        return L;
    }

    /** The kernels assume vectors of at least 8 floats (AVX2 or wider). */
    static boolean supported() {
        return L >= 8;
    }

    /** Rows [n0, n1) of {@code y = x · Wᵀ}, with W as {@link #packTransposed} packs it. */
    public static void forwardRows(float[] y, float[] x, float[] wPacked, int in, int out, int n0, int n1,
                                   float[] ws, int wsOff) {
        java.util.Arrays.fill(y, n0 * out, n1 * out, 0f);
        gemm(y, n0 * out, out, n1 - n0, out, in, x, n0 * in, in, 1, wPacked, ws, wsOff);
    }

    /** Rows [n0, n1) of the input gradient, {@code dx[n, i] += Σ_o dy[n, o] · W[o, i]}, with W as {@link #packColumns} packs it. */
    public static void inputGradRows(float[] dx, float[] dy, float[] wPacked, int in, int out, int n0, int n1,
                                     float[] ws, int wsOff) {
        gemm(dx, n0 * in, in, n1 - n0, in, out, dy, n0 * out, out, 1, wPacked, ws, wsOff);
    }

    /** Floats of a (depth, cols) B in panels: {@code cols} rounded up to NR, × depth. */
    public static int packedFloats(int depth, int cols) {
        return panels(cols) * NR * depth;
    }

    /** Panels of NR columns covering {@code cols}: the parallel items of the packing methods. */
    public static int panels(int cols) {
        return (cols + NR - 1) / NR;
    }

    /**
     * Panels [p0, p1) of the row-major (rows, cols) matrix at {@code src[srcOff]}, as B (depth = rows), into
     * {@code dst}: panel p at {@code p · rows · NR}, element (k, j) at {@code + k · NR + (j − p · NR)}, zero past
     * {@code cols}. For x in the weight gradient and W in the input gradient.
     */
    public static void packColumns(float[] dst, float[] src, int srcOff, int rows, int cols, int p0, int p1) {
        for (int p = p0; p < p1; p++) {
            packB(dst, p * rows * NR, src, srcOff + p * NR, cols, 1, rows, Math.min(NR, cols - p * NR));
        }
    }

    /**
     * Panels [p0, p1) of the transpose of the row-major (rows, cols) matrix at {@code src[srcOff]}, as B
     * (depth = cols), into {@code dst}: the layout of {@link #packColumns} for Wᵀ, whose panel p holds W's
     * rows [p · NR, p · NR + NR). For W in the forward.
     */
    public static void packTransposed(float[] dst, float[] src, int srcOff, int rows, int cols, int p0, int p1) {
        for (int p = p0; p < p1; p++) {
            packB(dst, p * cols * NR, src, srcOff + p * NR * cols, 1, cols, cols, Math.min(NR, rows - p * NR));
        }
    }

    /** {@link #packColumns} from 16-bit weights ({@link Half} {@code format}), widened as they are packed. */
    public static void packColumnsHalf(float[] dst, short[] src, int srcOff, int rows, int cols, int p0, int p1, int format) {
        for (int p = p0; p < p1; p++) {
            packBHalf(dst, p * rows * NR, src, srcOff + p * NR, cols, 1, rows, Math.min(NR, cols - p * NR), format);
        }
    }

    /** {@link #packTransposed} from 16-bit weights, widened as they are packed. */
    public static void packTransposedHalf(float[] dst, short[] src, int srcOff, int rows, int cols, int p0, int p1, int format) {
        for (int p = p0; p < p1; p++) {
            packBHalf(dst, p * cols * NR, src, srcOff + p * NR * cols, 1, cols, cols, Math.min(NR, rows - p * NR), format);
        }
    }

    /**
     * Rows [o0, o0 + rows) of the weight gradient, row o at {@code gOff + (o − o0) · IN}:
     * {@code g[o, i] += Σ_n dy[n, o] · x[n, i]}, with x as {@link #packColumns} packs it.
     */
    public static void weightGradRows(float[] g, int gOff, float[] dy, float[] xPacked, int nTokens, int in, int out,
                                      int o0, int rows, float[] ws, int wsOff) {
        // A = dyᵀ: element (m = o, k = n) at dy[n, o0 + m]; B = x, already in panels.
        gemm(g, gOff, in, rows, in, nTokens, dy, o0, 1, out, xPacked, ws, wsOff);
    }

    /**
     * {@code C += A · B} for C (m, nCols) at {@code c[cOff + row · ldc + col]}, A (m, k) with element
     * (r, kk) at {@code a[aOff + r · ars + kk · aks]}, and B (k, nCols) in panels as {@link #packColumns}
     * lays them out.
     */
    private static void gemm(float[] c, int cOff, int ldc, int m, int nCols, int k,
                             float[] a, int aOff, int ars, int aks, float[] bPacked, float[] ws, int wsOff) {
        int tile = wsOff + aBlockFloats(m, k);  // one MR × NR block of C
        for (int m0 = 0; m0 < m; m0 += MC) {
            int mc = Math.min(MC, m - m0);
            for (int k0 = 0; k0 < k; k0 += KC) {
                int kc = Math.min(KC, k - k0);
                packA(ws, wsOff, a, aOff + m0 * ars + k0 * aks, ars, aks, mc, kc);
                for (int j0 = 0; j0 < nCols; j0 += NR) {
                    int nc = Math.min(NR, nCols - j0);
                    int bpOff = j0 * k + k0 * NR;  // panel j0 / NR, row k0
                    for (int r0 = 0; r0 < mc; r0 += MR) {
                        block(ws, tile, ws, wsOff + r0 * kc, bPacked, bpOff, kc);
                        addBlock(c, cOff + (m0 + r0) * ldc + j0, ldc, Math.min(MR, mc - r0), nc, ws, tile);
                    }
                }
            }
        }
    }

    /** A's rows [0, mc) × [0, kc) into groups of MR rows, (r, kk) at {@code kk · MR + r}; missing rows repeat the last. */
    private static void packA(float[] p, int pOff, float[] a, int aOff, int ars, int aks, int mc, int kc) {
        for (int r0 = 0; r0 < mc; r0 += MR) {
            int group = pOff + r0 * kc;
            if (ars == 1 && r0 + MR <= mc) {
                // A = dyᵀ: a group's MR values at one k are adjacent in dy's row, one cache line.
                for (int kk = 0; kk < kc; kk++) {
                    int src = aOff + r0 + kk * aks, dst = group + kk * MR;
                    for (int r = 0; r < MR; r++) p[dst + r] = a[src + r];
                }
                continue;
            }
            for (int r = 0; r < MR; r++) {
                int src = aOff + Math.min(r0 + r, mc - 1) * ars;
                for (int kk = 0; kk < kc; kk++) p[group + kk * MR + r] = a[src + kk * aks];
            }
        }
    }

    /** {@link #packB} from 16-bit values: the one place a half-precision weight is widened for the matmul. */
    private static void packBHalf(float[] p, int pOff, short[] b, int bOff, int bks, int bjs, int kc, int nc, int format) {
        for (int k0 = 0; k0 < kc; k0 += 64) {
            int k1 = Math.min(kc, k0 + 64);
            for (int j = 0; j < NR; j++) {
                int src = bOff + j * bjs;
                if (j < nc) {
                    for (int kk = k0; kk < k1; kk++) p[pOff + kk * NR + j] = Half.toFloat(b[src + kk * bks], format);
                } else {
                    for (int kk = k0; kk < k1; kk++) p[pOff + kk * NR + j] = 0f;
                }
            }
        }
    }

    /** B's rows [0, kc) × columns [0, nc) into rows of NR floats; columns past nc are zero. */
    private static void packB(float[] p, int pOff, float[] b, int bOff, int bks, int bjs, int kc, int nc) {
        if (bjs == 1 && nc == NR) {
            for (int kk = 0; kk < kc; kk++) {
                int src = bOff + kk * bks, dst = pOff + kk * NR;
                FloatVector.fromArray(S, b, src).intoArray(p, dst);
                FloatVector.fromArray(S, b, src + L).intoArray(p, dst + L);
            }
            return;
        }
        // By rows of 64: the strided writes of a transpose then stay within 8 KiB of the panel, in L1.
        for (int k0 = 0; k0 < kc; k0 += 64) {
            int k1 = Math.min(kc, k0 + 64);
            for (int j = 0; j < NR; j++) {
                int src = bOff + j * bjs;
                if (j < nc) {
                    for (int kk = k0; kk < k1; kk++) p[pOff + kk * NR + j] = b[src + kk * bks];
                } else {
                    for (int kk = k0; kk < k1; kk++) p[pOff + kk * NR + j] = 0f;
                }
            }
        }
    }

    /**
     * The register block: packed A group · packed B panel over kc, an MR × NR block written to
     * {@code t[tOff ..]}. Written out by hand: a helper taking vectors would not be inlined in a method this
     * large, and the JIT would then box every vector it passes.
     */
    private static void block(float[] t, int tOff, float[] ap, int aOff, float[] bp, int bOff, int kc) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c00 = z, c01 = z;
        FloatVector c10 = z, c11 = z;
        FloatVector c20 = z, c21 = z;
        FloatVector c30 = z, c31 = z;
        FloatVector c40 = z, c41 = z;
        FloatVector c50 = z, c51 = z;
        FloatVector c60 = z, c61 = z;
        FloatVector c70 = z, c71 = z;
        for (int kk = 0; kk < kc; kk++) {
            int pa = aOff + kk * MR, pb = bOff + kk * NR;
            FloatVector b0 = FloatVector.fromArray(S, bp, pb), b1 = FloatVector.fromArray(S, bp, pb + L);
            FloatVector av;
            av = FloatVector.broadcast(S, ap[pa + 0]);
            c00 = b0.fma(av, c00);
            c01 = b1.fma(av, c01);
            av = FloatVector.broadcast(S, ap[pa + 1]);
            c10 = b0.fma(av, c10);
            c11 = b1.fma(av, c11);
            av = FloatVector.broadcast(S, ap[pa + 2]);
            c20 = b0.fma(av, c20);
            c21 = b1.fma(av, c21);
            av = FloatVector.broadcast(S, ap[pa + 3]);
            c30 = b0.fma(av, c30);
            c31 = b1.fma(av, c31);
            av = FloatVector.broadcast(S, ap[pa + 4]);
            c40 = b0.fma(av, c40);
            c41 = b1.fma(av, c41);
            av = FloatVector.broadcast(S, ap[pa + 5]);
            c50 = b0.fma(av, c50);
            c51 = b1.fma(av, c51);
            av = FloatVector.broadcast(S, ap[pa + 6]);
            c60 = b0.fma(av, c60);
            c61 = b1.fma(av, c61);
            av = FloatVector.broadcast(S, ap[pa + 7]);
            c70 = b0.fma(av, c70);
            c71 = b1.fma(av, c71);
        }
        // The block goes to the workspace and addBlock adds it to C: stores kept out of here keep this method
        // small enough for C1 as well (its register allocator gave up on the 16 masked read-add-writes).
        c00.intoArray(t, tOff + 0 * L);
        c01.intoArray(t, tOff + 1 * L);
        c10.intoArray(t, tOff + 2 * L);
        c11.intoArray(t, tOff + 3 * L);
        c20.intoArray(t, tOff + 4 * L);
        c21.intoArray(t, tOff + 5 * L);
        c30.intoArray(t, tOff + 6 * L);
        c31.intoArray(t, tOff + 7 * L);
        c40.intoArray(t, tOff + 8 * L);
        c41.intoArray(t, tOff + 9 * L);
        c50.intoArray(t, tOff + 10 * L);
        c51.intoArray(t, tOff + 11 * L);
        c60.intoArray(t, tOff + 12 * L);
        c61.intoArray(t, tOff + 13 * L);
        c70.intoArray(t, tOff + 14 * L);
        c71.intoArray(t, tOff + 15 * L);
    }

    /** C's rows [0, rows) × columns [0, nc) += the MR × NR block at {@code t[tOff ..]}. */
    private static void addBlock(float[] c, int cOff, int ldc, int rows, int nc, float[] t, int tOff) {
        VectorMask<Float> m0 = S.indexInRange(0, nc), m1 = S.indexInRange(L, nc);
        for (int r = 0; r < rows; r++) {
            int o = cOff + r * ldc, src = tOff + r * NR;
            FloatVector.fromArray(S, c, o, m0).add(FloatVector.fromArray(S, t, src)).intoArray(c, o, m0);
            FloatVector.fromArray(S, c, o + L, m1).add(FloatVector.fromArray(S, t, src + L)).intoArray(c, o + L, m1);
        }
    }
}
