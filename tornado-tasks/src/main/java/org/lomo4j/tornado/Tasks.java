package org.lomo4j.tornado;

import org.lomo4j.kernels.Attention;
import org.lomo4j.kernels.Bias;
import org.lomo4j.kernels.CrossEntropy;
import org.lomo4j.kernels.Embedding;
import org.lomo4j.kernels.Half;
import org.lomo4j.kernels.RmsNorm;
import org.lomo4j.kernels.Rope;
import org.lomo4j.kernels.Update;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.annotations.Parallel;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.vectors.Float8;

/**
 * The device tasks: most are a {@code @Parallel} loop over one of the core kernels' per-item bodies, which
 * TornadoVM inlines into the kernel it compiles, so the device runs the very code the JVM backend runs and
 * the gradient checks test. The matrix kernels ({@link #matmulTransposed}, {@link #matmul}, {@link #matmulInputGrad},
 * {@link #swigluInputGrad}, {@link #matmulLomo}) and the embedding's update are the device's own, shaped for its threads and held in OpenCL vectors
 * where they can be ({@link #LANES}); each output sums over its index in order, as the core's element forms do, and
 * {@code TornadoBackendTest} holds them to the JVM backend's results.
 *
 * <p>TornadoVM compiles a task's scalar arguments into its kernel as constants. So anything that differs
 * between two runs of one compiled kernel travels in a small array instead: where a layer's weights and
 * saved activations lie ({@code at}, one layer at a time, see {@link #AT_SIZE}), the hyper-parameters
 * ({@code hp}) and the pass and loss scale ({@code control}). Shapes stay scalars: they are the same for every
 * layer, which is what lets one compiled block serve them all (the save and restore tasks take theirs in an array,
 * {@link #WIDTHS}, only to stay within TornadoVM's 20 arguments a task).
 */
final class Tasks {
    private Tasks() {}

    /** {@code control[MODE]}: which backward pass runs. */
    static final int MODE = 0;
    /** {@code control[LOSS_SCALE]}: 1 / the number of counted targets, d(mean loss)/d(loss of one position). */
    static final int LOSS_SCALE = 1;
    static final int CONTROL_SIZE = 2;
    /** The first backward of global-norm clipping: only Σg², per row of a matrix or per element of a vector. */
    static final float NORM_PASS = 0f;
    /** The updating backward: each gradient element is applied to its weight the moment it is computed. */
    static final float UPDATE_PASS = 1f;

    // ---- at: one int array says where things are for the layer being run ----

    /**
     * Weight roles: {@code at[role]} is the weight's offset in the parameters. The first twelve are a block's
     * and change with the layer being run; the last three are outside the blocks and never change.
     */
    static final int Q = 0, K = 1, V = 2, O = 3, GATE = 4, UP = 5, DOWN = 6, INPUT_NORM = 7, POST_NORM = 8,
            Q_BIAS = 9, K_BIAS = 10, V_BIAS = 11, EMBEDDING = 12, HEAD = 13, FINAL_NORM = 14, ROLES = 15;
    /** {@code at[SQUARES + role]}: where the norm pass writes the role's Σg² in {@code squares}. */
    static final int SQUARES = ROLES;
    /** {@code at[STORE]}: where the layer's saved activations start in {@code DeviceBuffers.store}. */
    static final int STORE = 2 * ROLES;
    /** {@code at[CACHE]}: where the layer's keys (and values) start in the generation cache. */
    static final int CACHE = STORE + 1;
    /** {@code at[KEPT + role]}: where the norm pass keeps an RMSNorm weight's gradient for the replay. */
    static final int KEPT = CACHE + 1;
    /**
     * With a working copy ({@link DeviceWeights}), where the weights of a part of it lie in the model's segments:
     * {@code at[HALVES + 2·part]} the offset in its segment, {@code at[HALVES + 2·part + 1]} the segment. Parts:
     * {@link #LAYER_PART} (the selected layer), then each tensor outside the blocks.
     */
    static final int HALVES = KEPT + ROLES, LAYER_PART = 0, PARTS = 4;
    /**
     * {@code at[STASHED]}: 1 where the layer's activations go to the store in its forward and come back before its
     * backward; 0 where they stay in the working set between the two (the top layer, whose backward follows its forward
     * unless a clipped step's replay will need the store).
     */
    static final int STASHED = HALVES + 2 * PARTS;
    static final int AT_SIZE = STASHED + 1;
    /** The norm pass's sums are added up on the device into this many partial sums, which the host adds. */
    static final int PARTIAL_SUMS = 4096;

    // ---- weights in bf16 or in segments: an fp32 working copy, filled before use and written back after the updates ----

    /** fp32 weights in segments: {@code work[workAt + j]} = the part's weight j, j < len, when the part lies in {@code segment}. */
    static void copyIn(float[] work, float[] floats, int[] at, int part, int segment, int workAt, int len) {
        for (@Parallel int j = 0; j < len; j++) {
            if (at[HALVES + 2 * part + 1] == segment) {
                work[workAt + j] = floats[at[HALVES + 2 * part] + j];
            }
        }
    }

    /** The updating pass's last step for fp32 weights in segments: the part's weights := their working copy. */
    static void copyOut(float[] floats, float[] work, float[] control, int[] at, int part, int segment, int workAt, int len) {
        for (@Parallel int j = 0; j < len; j++) {
            if (control[MODE] == UPDATE_PASS) {
                if (at[HALVES + 2 * part + 1] == segment) {
                    floats[at[HALVES + 2 * part] + j] = work[workAt + j];
                }
            }
        }
    }

    /**
     * {@code work[workAt + j]} = the part's 16-bit weight j widened, j < len, when the part lies in {@code segment}
     * (the array {@code halves}; a graph holds one such task per segment its part may lie in). Widened by looking
     * the bits up in {@code bf16Values} ({@link Half#bf16Values}).
     */
    static void widen(float[] work, short[] halves, float[] bf16Values, int[] at, int part, int segment, int workAt, int len) {
        for (@Parallel int j = 0; j < len; j++) {
            if (at[HALVES + 2 * part + 1] == segment) {
                // The index through a float: as int arithmetic on a short, the backend computed it in 16 bits and overflowed.
                work[workAt + j] = bf16Values[(int) (halves[at[HALVES + 2 * part] + j] + 32768f)];
            }
        }
    }

    /**
     * The updating pass's last step, the reverse of {@link #widen}: weight h of {@code segment} := its working copy
     * rounded as the JVM's LOMO rounds ({@code rounding}: {@link Half#NEAREST}, or {@link Half#STOCHASTIC} with the
     * bits {@code random16(key, start + h)}, {@code start} being the segment's first index among all weights).
     */
    static void narrow(short[] halves, float[] work, long[] key, float[] control, int[] at, int part, int segment, long start, int workAt,
                       int rounding, int len) {
        for (@Parallel int j = 0; j < len; j++) {
            if (control[MODE] == UPDATE_PASS) {
                if (at[HALVES + 2 * part + 1] == segment) {
                    int h = at[HALVES + 2 * part] + j;
                    halves[h] = Half.roundBf16(work[workAt + j], rounding, Half.random16(key[0], start + h));
                }
            }
        }
    }

    // ---- forward ----

    static void embedding(float[] x, int[] tokens, float[] params, int[] at, int c, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            Embedding.forwardRow(x, tokens, params, at[EMBEDDING], c, i);
        }
    }

    /**
     * The core's RMSNorm row by row; with {@code transpose} = 1 each row also goes to yT = yᵀ (C, N), the input of the
     * {@link #matmulTransposed} projections that follow, so that no task of its own transposes it.
     */
    static void rmsnorm(float[] y, float[] yT, float[] rstd, float[] x, float[] params, int[] at, int role, int transpose, int c,
                        float eps, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            RmsNorm.forwardRow(y, rstd, x, params, at[role], c, eps, i);
            if (transpose == 1) {
                for (int j = 0; j < c; j++) yT[j * n + i] = y[i * c + j];
            }
        }
    }

    /**
     * y = x · Wᵀ ({@code add} = 1: y = x · Wᵀ + residual, a block's residual connection folded into its o and down
     * projections) for a few rows (decode's one token a row, or any pass of fewer than {@link #LANES} tokens) in register
     * blocks: thread (o, b) sums y[t, o] for the {@link #BLOCK} tokens t of block b, each over i in order, reading W's
     * row o once for all of them. Launched over (out, ⌈n / BLOCK⌉) in work-groups of {@code Graphs.groupWidth} × 1
     * ({@code Graphs.launch}). Tokens past n repeat the last one, so the loop has no branch, and are not written. Up to
     * three projections share a launch as in {@link #matmulTransposed}, their outputs numbered one after another.
     */
    static void matmul(KernelContext kc, float[] y, float[] y2, float[] y3, float[] residual, float[] x, float[] params, int[] at,
                       int role, int role2, int role3, int add, int in, int out1, int out2, int out3, int n) {
        int g = kc.globalIdx;
        int term = g < out1 ? 0 : g < out1 + out2 ? 1 : 2;
        int out = term == 0 ? out1 : term == 1 ? out2 : out3;
        int o = term == 0 ? g : term == 1 ? g - out1 : g - out1 - out2;
        int t0 = kc.globalIdy * BLOCK;
        float[] s = new float[BLOCK];  // private: the thread's registers
        for (int r = 0; r < BLOCK; r++) s[r] = 0f;
        if (o < out) {
            int w = (term == 0 ? at[role] : term == 1 ? at[role2] : at[role3]) + o * in;
            for (int i = 0; i < in; i++) {
                float wv = params[w + i];
                for (int r = 0; r < BLOCK; r++) s[r] += x[Math.min(t0 + r, n - 1) * in + i] * wv;
            }
            for (int r = 0; r < BLOCK; r++) {
                int e = (t0 + r) * out + o;
                if (t0 + r < n) store(y, y2, y3, term, e, add == 1 ? s[r] + residual[e] : s[r]);
            }
        }
    }

    /** xT = xᵀ, (in, n) from (n, in): the input of {@link #matmulTransposed}, one transpose for every projection of x. */
    static void transpose(float[] xT, float[] x, int in, int n) {
        for (@Parallel int i = 0; i < in; i++) {
            for (int t = 0; t < n; t++) {
                xT[i * n + t] = x[t * in + i];
            }
        }
    }

    /**
     * y = x · Wᵀ (+ residual, as {@link #matmul}) from xT = xᵀ ({@link #transpose}) in vector blocks: thread (b, o) sums y[t, o] for the {@link #LANES}
     * tokens t of block b and the {@link #ROWS} outputs from o, each over i in order (as {@link #matmul}), loading
     * xT[i, t..t+16) as two vectors used for all eight outputs. Launched over (⌈n / LANES⌉, ⌈out / ROWS⌉) in
     * work-groups of {@code Graphs.groupWidth} × 1 ({@code Graphs.vectors}); outputs past out repeat the last one and are not
     * written, and the last token block ends at n ({@link #vectorStart}). Up to three projections of the same x (q, k and
     * v; gate and up) share a launch: blocks of outputs are numbered through the first's ⌈out / ROWS⌉, then the second's
     * (y2 = x · W2ᵀ, out2 rows; 0 for none), then the third's ({@link #termOf}).
     */
    static void matmulTransposed(KernelContext kc, float[] y, float[] y2, float[] y3, float[] residual, float[] xT, float[] params,
                                 int[] at, int role, int role2, int role3, int add, int in, int out1, int out2, int out3, int n) {
        int t0 = kc.globalIdx * LANES;
        int t = vectorStart(t0, n);
        int term = termOf(kc.globalIdy, out1, out2);
        int out = term == 0 ? out1 : term == 1 ? out2 : out3;
        int o0 = (kc.globalIdy - firstBlock(term, out1, out2)) * ROWS;
        int w = term == 0 ? at[role] : term == 1 ? at[role2] : at[role3];
        int r0 = w + Math.min(o0, out - 1) * in, r1 = w + Math.min(o0 + 1, out - 1) * in, r2 = w + Math.min(o0 + 2, out - 1) * in,
                r3 = w + Math.min(o0 + 3, out - 1) * in, r4 = w + Math.min(o0 + 4, out - 1) * in, r5 = w + Math.min(o0 + 5, out - 1) * in,
                r6 = w + Math.min(o0 + 6, out - 1) * in, r7 = w + Math.min(o0 + 7, out - 1) * in;
        Float8 a0 = zero8(), b0 = zero8(), a1 = zero8(), b1 = zero8(), a2 = zero8(), b2 = zero8(), a3 = zero8(), b3 = zero8();
        Float8 a4 = zero8(), b4 = zero8(), a5 = zero8(), b5 = zero8(), a6 = zero8(), b6 = zero8(), a7 = zero8(), b7 = zero8();
        for (int i = 0; i < in; i++) {
            Float8 lo = lanes8(xT, i * n + t), hi = lanes8(xT, i * n + t + 8);
            a0 = addScaled(a0, lo, params[r0 + i]); b0 = addScaled(b0, hi, params[r0 + i]);
            a1 = addScaled(a1, lo, params[r1 + i]); b1 = addScaled(b1, hi, params[r1 + i]);
            a2 = addScaled(a2, lo, params[r2 + i]); b2 = addScaled(b2, hi, params[r2 + i]);
            a3 = addScaled(a3, lo, params[r3 + i]); b3 = addScaled(b3, hi, params[r3 + i]);
            a4 = addScaled(a4, lo, params[r4 + i]); b4 = addScaled(b4, hi, params[r4 + i]);
            a5 = addScaled(a5, lo, params[r5 + i]); b5 = addScaled(b5, hi, params[r5 + i]);
            a6 = addScaled(a6, lo, params[r6 + i]); b6 = addScaled(b6, hi, params[r6 + i]);
            a7 = addScaled(a7, lo, params[r7 + i]); b7 = addScaled(b7, hi, params[r7 + i]);
        }
        float[] s = new float[ROWS * LANES];  // private: the sums, output by output
        spill(s, 0, a0, b0); spill(s, 16, a1, b1); spill(s, 32, a2, b2); spill(s, 48, a3, b3);
        spill(s, 64, a4, b4); spill(s, 80, a5, b5); spill(s, 96, a6, b6); spill(s, 112, a7, b7);
        for (int r = 0; r < ROWS; r++) {
            for (int k = t0 - t; k < LANES; k++) {
                int e = (t + k) * out + o0 + r;
                if (o0 + r < out) store(y, y2, y3, term, e, add == 1 ? s[r * LANES + k] + residual[e] : s[r * LANES + k]);
            }
        }
    }

    /**
     * Which of up to three matrices sharing a launch block {@code b} (of ROWS rows) belongs to: 0 in the first ⌈out1 / ROWS⌉
     * blocks, 1 in the second's ⌈out2 / ROWS⌉, else 2.
     */
    static int termOf(int b, int out1, int out2) {
        int b1 = (out1 + ROWS - 1) / ROWS, b2 = (out2 + ROWS - 1) / ROWS;
        return b < b1 ? 0 : b < b1 + b2 ? 1 : 2;
    }

    /** The first block of {@code term} in that numbering. */
    static int firstBlock(int term, int out1, int out2) {
        int b1 = (out1 + ROWS - 1) / ROWS, b2 = (out2 + ROWS - 1) / ROWS;
        return term == 0 ? 0 : term == 1 ? b1 : b1 + b2;
    }

    /**
     * a[i], a2[i] or a3[i] as {@code term} says: a choice of value. TornadoVM cannot compile a choice between arrays
     * ("address origin unimplemented: ValuePhiNode"), so a kernel of several terms reads and writes through these.
     */
    static float pick(float[] a, float[] a2, float[] a3, int term, int i) {
        return term == 0 ? a[i] : term == 1 ? a2[i] : a3[i];
    }

    /** a[i], a2[i] or a3[i] = v, as {@code term} says ({@link #pick}). */
    static void store(float[] a, float[] a2, float[] a3, int term, int i, float v) {
        if (term == 0) {
            a[i] = v;
        } else if (term == 1) {
            a2[i] = v;
        } else {
            a3[i] = v;
        }
    }

    static void bias(float[] y, float[] params, int[] at, int role, int out, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            Bias.forwardRow(y, params, at[role], out, i);
        }
    }

    /**
     * The queries' and the keys' rotations in one task, one thread per (token, head) of either: items = N · (heads +
     * kvHeads), the queries' N · heads first. One launch instead of two (launches cost as much as small kernels).
     */
    static void rope(float[] q, float[] k, float[] cos, float[] sin, int seqLen, int heads, int kvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            int queries = items / (heads + kvHeads) * heads;
            if (i < queries) {
                Rope.forwardItem(q, cos, sin, seqLen, heads, hd, i);
            } else {
                Rope.forwardItem(k, cos, sin, seqLen, kvHeads, hd, i - queries);
            }
        }
    }

    /** One thread per (batch, head, query row). */
    static void attention(float[] out, float[] lse, float[] q, float[] k, float[] v, int seqLen, int nHeads,
                          int nKvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            Attention.forwardItem(out, lse, q, k, v, seqLen, nHeads, nKvHeads, hd, i);
        }
    }

    /**
     * {@code SwiGlu.forwardRow} with σ in single precision ({@link #sigmoid}): the core's double-precision exp took
     * 1.8× as long on PoCL (4.7 against 2.6 ms for 256 rows of 1408). With {@code transpose} = 1 also hT = hᵀ, as
     * {@link #rmsnorm}.
     */
    static void swiglu(float[] h, float[] hT, float[] gate, float[] up, int transpose, int f, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            for (int j = 0; j < f; j++) {
                float g = gate[i * f + j];
                float y = g * sigmoid(g) * up[i * f + j];
                h[i * f + j] = y;
                if (transpose == 1) hT[j * n + i] = y;
            }
        }
    }

    static float sigmoid(float g) {
        return 1f / (1f + TornadoMath.exp(-g));
    }

    static void crossEntropy(float[] losses, float[] probs, int[] targets, int vocab, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            CrossEntropy.forwardRow(losses, probs, targets, vocab, i);
        }
    }

    // ---- generation's key/value cache: (rows, maxLen, NKV·HD) per layer ----

    /** Prefill: the layer's rotated keys and values of every position, (B, T, NKV·HD), are its cache as they are. */
    static void cacheKeysValues(float[] kCache, float[] vCache, float[] k, float[] v, int[] at, int size) {
        for (@Parallel int j = 0; j < size; j++) {
            kCache[at[CACHE] + j] = k[j];
            vCache[at[CACHE] + j] = v[j];
        }
    }

    /** Decode: row i's new key and value at its position {@code positions[i]}. */
    static void cacheStore(float[] kCache, float[] vCache, float[] k, float[] v, int[] positions, int[] at, int maxLen, int width,
                           int rows) {
        for (@Parallel int i = 0; i < rows; i++) {
            int c = at[CACHE] + (i * maxLen + positions[i]) * width;
            for (int j = 0; j < width; j++) {
                kCache[c + j] = k[i * width + j];
                vCache[c + j] = v[i * width + j];
            }
        }
    }

    /** RoPE of one new token per row, at its own position. */
    /** {@link #rope} of decode's new tokens, row i at position {@code positions[i]}. */
    static void ropeAt(float[] q, float[] k, float[] cos, float[] sin, int[] positions, int heads, int kvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            int queries = items / (heads + kvHeads) * heads;
            if (i < queries) {
                Rope.forwardAtItem(q, cos, sin, positions, heads, hd, i);
            } else {
                Rope.forwardAtItem(k, cos, sin, positions, kvHeads, hd, i - queries);
            }
        }
    }

    /** dq, dk, dv := 0, before the core's attention backward, which adds into them ({@link VectorAttention}'s writes them). */
    static void zeroAttentionGradients(float[] dq, float[] dk, float[] dv, int qd, int kvd, int n) {
        for (@Parallel int t = 0; t < n; t++) {
            Stash.zero(dq, qd, t);
            Stash.zero(dk, kvd, t);
            Stash.zero(dv, kvd, t);
        }
    }

    /** One thread per (row, head): the new query against the layer's cache. */
    static void attentionDecode(float[] out, float[] q, float[] kCache, float[] vCache, int[] positions, int[] at, int maxLen,
                                int nHeads, int nKvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            Attention.decodeItem(out, q, kCache, vCache, at[CACHE], positions, maxLen, nHeads, nKvHeads, hd, i);
        }
    }

    // ---- a layer's saved activations: one working set on the device, every layer's copy in the store ----

    /**
     * {@code widths[...]}: the row widths of a block's saved arrays (besides the norms' rstd, one float a token): the
     * hidden size, q's and k's widths, the heads (the log-sum-exps) and the MLP's width. In an array, so that the save and
     * restore tasks stay within TornadoVM's 20 arguments.
     */
    static final int W_C = 0, W_QD = 1, W_KVD = 2, W_HEADS = 3, W_F = 4, WIDTHS = 5;

    /**
     * Forward, before the down projection overwrites the block's input: token t's rows of the block input and (unless
     * they stay in the working set, {@link #STASHED}) of every activation backward needs go to the layer's region of
     * {@code store}, array after array, each (N, width): the attention half's, then the MLP's ({@link Stash}).
     */
    static void saveBlock(float[] store, int[] at, int[] widths, float[] x, float[] ln1, float[] rstd1, float[] q, float[] k, float[] v,
                          float[] lse, float[] att, float[] res1, float[] ln2, float[] rstd2, float[] gate, float[] up, float[] h, int n) {
        for (@Parallel int t = 0; t < n; t++) {
            int c = widths[W_C], qd = widths[W_QD], kvd = widths[W_KVD], f = widths[W_F];
            int s = Stash.save(store, at[STORE], x, c, t, n);  // always: the stream, which the block's output overwrites
            if (at[STASHED] == 1) {
                s = Stash.save(store, s, ln1, c, t, n);
                s = Stash.save(store, s, rstd1, 1, t, n);
                s = Stash.save(store, s, q, qd, t, n);
                s = Stash.save(store, s, k, kvd, t, n);
                s = Stash.save(store, s, v, kvd, t, n);
                s = Stash.save(store, s, lse, widths[W_HEADS], t, n);
                s = Stash.save(store, s, att, qd, t, n);
                s = Stash.save(store, s, res1, c, t, n);
                s = Stash.save(store, s, ln2, c, t, n);
                s = Stash.save(store, s, rstd2, 1, t, n);
                s = Stash.save(store, s, gate, f, t, n);
                s = Stash.save(store, s, up, f, t, n);
                Stash.save(store, s, h, f, t, n);
            }
        }
    }

    /**
     * Backward (and the replay), first in a block: what {@link #saveBlock} saved comes back, x at least. The gradients
     * the block's backward computes are written by their first writers, not added into, so none needs zeroing here.
     * The norm pass's also keeps dres, the block's output gradient (down's dy), in res1's slot for the replay.
     */
    static void restoreBlock(float[] store, int[] at, int[] widths, float[] x, float[] ln1, float[] rstd1, float[] q, float[] k, float[] v,
                             float[] lse, float[] att, float[] res1, float[] ln2, float[] rstd2, float[] gate, float[] up, float[] h,
                             float[] dres, float[] control, int n) {
        for (@Parallel int t = 0; t < n; t++) {
            int c = widths[W_C], qd = widths[W_QD], kvd = widths[W_KVD], f = widths[W_F];
            int s = Stash.restore(store, at[STORE], x, c, t, n);  // always: the forward left it in the stream only
            if (at[STASHED] == 1) {
                s = Stash.restore(store, s, ln1, c, t, n);
                s = Stash.restore(store, s, rstd1, 1, t, n);
                s = Stash.restore(store, s, q, qd, t, n);
                s = Stash.restore(store, s, k, kvd, t, n);
                s = Stash.restore(store, s, v, kvd, t, n);
                s = Stash.restore(store, s, lse, widths[W_HEADS], t, n);
                s = Stash.restore(store, s, att, qd, t, n);
                s = Stash.restore(store, s, res1, c, t, n);
                s = Stash.restore(store, s, ln2, c, t, n);
                s = Stash.restore(store, s, rstd2, 1, t, n);
                s = Stash.restore(store, s, gate, f, t, n);
                s = Stash.restore(store, s, up, f, t, n);
                Stash.restore(store, s, h, f, t, n);
            }
            if (control[MODE] == NORM_PASS) {  // into res1's slot, the MLP half's first
                Stash.save(store, Stash.mlpHalf(at[STORE], c, qd, kvd, widths[W_HEADS], n), dres, c, t, n);
            }
        }
    }

    // ---- backward: gradients flowing to inputs ----

    /** Each row of dlogits set to zero, then the core's backward added into it (so no task zeroes dlogits first). */
    static void crossEntropyBackward(float[] dlogits, float[] probs, int[] targets, float[] control, int vocab, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            for (int v = i * vocab; v < (i + 1) * vocab; v++) dlogits[v] = 0f;
            CrossEntropy.backwardRow(dlogits, probs, targets, control[LOSS_SCALE], vocab, i);
        }
    }

    /**
     * dx = dy · W + dy2 · W2 + dy3 · W3, the input gradient of up to three projections of one input (q, k and v; gate
     * and up) in one task; {@code out2} or {@code out3} = 0 leaves a term out. In vector blocks: thread (b, t) sums
     * dx[t, i] for the {@link #LANES} columns i of block b and the {@link #ROWS} tokens from t, each term over its W's
     * rows in order (the order of {@code Matmul.inputGradElement}) loading W[o, i..i+16) as two vectors used once per
     * token, the terms added in turn as the JVM adds each projection's into dx. Launched over (⌈in / LANES⌉, ⌈n / ROWS⌉) in work-groups of
     * {@code Graphs.groupWidth} × 1 ({@code Graphs.vectors}). Tokens past n repeat the last one and are not written;
     * the last column block ends at the row's end ({@link #vectorStart}) and writes only its own columns.
     */
    static void matmulInputGrad(KernelContext kc, float[] dx, float[] dy, float[] dy2, float[] dy3, float[] params, int[] at, int role,
                                int role2, int role3, int in, int out, int out2, int out3, int n) {
        int i0 = kc.globalIdx * LANES;
        int i = vectorStart(i0, in);
        int t0 = kc.globalIdy * ROWS;
        float[] s = new float[ROWS * LANES];  // private: the sums, row by row
        float[] term = new float[ROWS * LANES];  // private: one term's
        // Four tokens a call: eight in one method pass TornadoVM's inlining limit (600 nodes).
        inputGradRows(term, 0, dy, params, at[role] + i, t0, in, out, n);
        inputGradRows(term, 4, dy, params, at[role] + i, t0, in, out, n);
        for (int k = 0; k < ROWS * LANES; k++) s[k] = term[k];
        // The other terms added in turn, as the JVM adds each projection's gradient into dx.
        if (out2 > 0) {
            inputGradRows(term, 0, dy2, params, at[role2] + i, t0, in, out2, n);
            inputGradRows(term, 4, dy2, params, at[role2] + i, t0, in, out2, n);
            for (int k = 0; k < ROWS * LANES; k++) s[k] += term[k];
        }
        if (out3 > 0) {
            inputGradRows(term, 0, dy3, params, at[role3] + i, t0, in, out3, n);
            inputGradRows(term, 4, dy3, params, at[role3] + i, t0, in, out3, n);
            for (int k = 0; k < ROWS * LANES; k++) s[k] += term[k];
        }
        for (int r = 0; r < ROWS; r++) {
            for (int k = i0 - i; k < LANES; k++) {
                if (t0 + r < n) dx[(t0 + r) * in + i + k] = s[r * LANES + k];
            }
        }
    }

    /**
     * Tokens t0 + first .. t0 + first + 4 of a term of {@link #matmulInputGrad}: their sums of dy · W (W's columns from
     * {@code w}, {@code out} rows) into their rows of term.
     */
    static void inputGradRows(float[] term, int first, float[] dy, float[] params, int w, int t0, int in, int out, int n) {
        int r0 = Math.min(t0 + first, n - 1) * out, r1 = Math.min(t0 + first + 1, n - 1) * out,
                r2 = Math.min(t0 + first + 2, n - 1) * out, r3 = Math.min(t0 + first + 3, n - 1) * out;
        Float8 a0 = zero8(), b0 = zero8(), a1 = zero8(), b1 = zero8(), a2 = zero8(), b2 = zero8(), a3 = zero8(), b3 = zero8();
        for (int o = 0; o < out; o++) {
            Float8 lo = lanes8(params, w + o * in), hi = lanes8(params, w + o * in + 8);
            a0 = addScaled(a0, lo, dy[r0 + o]); b0 = addScaled(b0, hi, dy[r0 + o]);
            a1 = addScaled(a1, lo, dy[r1 + o]); b1 = addScaled(b1, hi, dy[r1 + o]);
            a2 = addScaled(a2, lo, dy[r2 + o]); b2 = addScaled(b2, hi, dy[r2 + o]);
            a3 = addScaled(a3, lo, dy[r3 + o]); b3 = addScaled(b3, hi, dy[r3 + o]);
        }
        spill(term, first * LANES, a0, b0); spill(term, (first + 1) * LANES, a1, b1);
        spill(term, (first + 2) * LANES, a2, b2); spill(term, (first + 3) * LANES, a3, b3);
    }

    static void rmsnormInputGrad(float[] dx, float[] dy, float[] x, float[] rstd, float[] params, int[] at, int role, int add, int c,
                                 int n) {
        for (@Parallel int i = 0; i < n; i++) {
            if (add == 0) {
                for (int j = i * c; j < (i + 1) * c; j++) dx[j] = 0f;
            }
            RmsNorm.inputGradRow(dx, dy, x, rstd, params, at[role], c, i);
        }
    }

    /**
     * The down projection's input gradient dh = dy · W ({@link #matmulInputGrad}'s blocks, one term) and SwiGLU's backward
     * from it ({@code SwiGlu.backwardRow}, σ in single precision as {@link #swiglu}) in one task: dh never leaves the
     * thread. dgate and dup are written, not added into (the JVM adds into zeros: the same values).
     */
    static void swigluInputGrad(KernelContext kc, float[] dgate, float[] dup, float[] dy, float[] gate, float[] up, float[] params,
                                int[] at, int role, int in, int out, int n) {
        int i0 = kc.globalIdx * LANES;
        int i = vectorStart(i0, in);
        int t0 = kc.globalIdy * ROWS;
        float[] dh = new float[ROWS * LANES];  // private
        inputGradRows(dh, 0, dy, params, at[role] + i, t0, in, out, n);
        inputGradRows(dh, 4, dy, params, at[role] + i, t0, in, out, n);
        for (int r = 0; r < ROWS; r++) {
            for (int k = i0 - i; k < LANES; k++) {
                if (t0 + r < n) {
                    int j = (t0 + r) * in + i + k;
                    float g = gate[j];
                    float sig = sigmoid(g);
                    float d = dh[r * LANES + k];
                    dup[j] = d * g * sig;
                    dgate[j] = d * up[j] * sig * (1f + g * (1f - sig));
                }
            }
        }
    }

    static void attentionBackwardQuery(float[] dq, float[] delta, float[] dout, float[] out, float[] lse, float[] q, float[] k,
                                       float[] v, int seqLen, int nHeads, int nKvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            Attention.backwardQueryItem(dq, delta, dout, out, lse, q, k, v, seqLen, nHeads, nKvHeads, hd, i);
        }
    }

    static void attentionBackwardKeyValue(float[] dk, float[] dv, float[] delta, float[] lse, float[] q, float[] k, float[] v,
                                          float[] dout, int seqLen, int nHeads, int nKvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            Attention.backwardKeyValueItem(dk, dv, delta, lse, q, k, v, dout, seqLen, nHeads, nKvHeads, hd, i);
        }
    }

    /** {@link #rope}'s backward: dq and dk rotated back, in one task. */
    static void ropeBackward(float[] dq, float[] dk, float[] cos, float[] sin, int seqLen, int heads, int kvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            int queries = items / (heads + kvHeads) * heads;
            if (i < queries) {
                Rope.backwardItem(dq, cos, sin, seqLen, heads, hd, i);
            } else {
                Rope.backwardItem(dk, cos, sin, seqLen, kvHeads, hd, i - queries);
            }
        }
    }

    // ---- backward: LOMO, each weight gradient element computed and applied in the same thread ----

    /**
     * A thread's register block in {@link #matmul}: 16 outputs a thread, which reuses each
     * value it loads 16 times (on PoCL, 4× faster than 8 × 8 work-groups sharing tiles through local memory, whose
     * barriers the CPU pays for, and 16 beat 8 and 32).
     */
    static final int BLOCK = 16;

    /**
     * The vector kernels, {@link #matmulTransposed}, {@link #matmulInputGrad}, {@link #matmulLomo} and
     * {@link #embeddingLomo}: a thread computes {@code ROWS × LANES} outputs, {@code LANES} consecutive columns as two
     * {@link Float8} (OpenCL's float8, which PoCL compiles to AVX registers; scalar code it does not vectorize, its
     * addresses being integers) times {@code ROWS} rows or tokens, each a scalar broadcast to the lanes. The 16
     * accumulators are named one by one, as TornadoVM has no arrays of vectors. A matrix's input must have at least
     * {@code LANES} columns ({@code Graphs.requireVectorWidths}), the forward at least {@code LANES} tokens (or it takes
     * {@link #matmul}).
     */
    static final int LANES = 16, ROWS = 8;

    /**
     * Where the vector block that starts at column {@code i0} loads from: {@code i0}, except that the last block of a row
     * whose width is no multiple of {@link #LANES} ends at the row's end, overlapping the block before it; it then
     * writes only columns from {@code i0} on. So no load leaves the row.
     */
    static int vectorStart(int i0, int in) {
        return Math.min(i0, in - LANES);
    }

    static Float8 zero8() {
        return new Float8(0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f);
    }

    /** a[s .. s + 8) as one vector: TornadoVM emits a vector load for it. */
    static Float8 lanes8(float[] a, int s) {
        return new Float8(a[s], a[s + 1], a[s + 2], a[s + 3], a[s + 4], a[s + 5], a[s + 6], a[s + 7]);
    }

    /** acc + v · s, rounded as Java's {@code acc += v * s} is, lane by lane. */
    static Float8 addScaled(Float8 acc, Float8 v, float s) {
        return Float8.add(acc, Float8.mult(v, s));
    }

    /** The 16 lanes of lo and hi into to[at .. at + 16). */
    static void spill(float[] to, int at, Float8 lo, Float8 hi) {
        to[at] = lo.getS0(); to[at + 1] = lo.getS1(); to[at + 2] = lo.getS2(); to[at + 3] = lo.getS3();
        to[at + 4] = lo.getS4(); to[at + 5] = lo.getS5(); to[at + 6] = lo.getS6(); to[at + 7] = lo.getS7();
        to[at + 8] = hi.getS0(); to[at + 9] = hi.getS1(); to[at + 10] = hi.getS2(); to[at + 11] = hi.getS3();
        to[at + 12] = hi.getS4(); to[at + 13] = hi.getS5(); to[at + 14] = hi.getS6(); to[at + 15] = hi.getS7();
    }

    /**
     * The updating pass: {@code W[o, i] −= update(Σ_n dy[n, o] · x[n, i])} in vector blocks: thread (b, o) sums the
     * gradients of the weights W[o .. o + {@link #ROWS}, i .. i + {@link #LANES}) over the tokens in order (the order of
     * {@code Matmul.weightGradElement}), loading x[n, i..i+16) as two vectors used for all eight rows, and applies each at
     * once: a gradient lives in the thread's registers and never goes to global memory. Launched over
     * (⌈in / LANES⌉, ⌈out / ROWS⌉) in work-groups of {@code Graphs.groupWidth} × 1; rows past out repeat the last one and are not
     * updated, and the last column block ends at the row's end ({@link #vectorStart}). The norm pass instead writes the
     * thread's Σg² to its own slot, {@code squares[at[SQUARES + role] + (o / ROWS) · ⌈in / LANES⌉ + b]}: summing a
     * work-group's through local memory would need a barrier, and PoCL runs a kernel that has one at half the speed.
     *
     * <p>Up to three matrices over the same x (q, k and v; gate and up) share a launch, their blocks of rows numbered one
     * after another as in {@link #matmulTransposed} (out2, out3 = 0 for none); each thread reads its own dy through
     * {@link #pick}.
     */
    static void matmulLomo(KernelContext kc, float[] params, float[] squares, float[] dy, float[] dy2, float[] dy3, float[] x,
                           float[] hp, float[] control, int[] at, int role, int role2, int role3, int in, int out1, int out2,
                           int out3, int n) {
        int i0 = kc.globalIdx * LANES;
        int i = vectorStart(i0, in);
        int term = termOf(kc.globalIdy, out1, out2);
        int out = term == 0 ? out1 : term == 1 ? out2 : out3, w = term == 0 ? role : term == 1 ? role2 : role3;
        int by = kc.globalIdy - firstBlock(term, out1, out2);
        int o0 = by * ROWS;
        int r0 = Math.min(o0, out - 1), r1 = Math.min(o0 + 1, out - 1), r2 = Math.min(o0 + 2, out - 1), r3 = Math.min(o0 + 3, out - 1),
                r4 = Math.min(o0 + 4, out - 1), r5 = Math.min(o0 + 5, out - 1), r6 = Math.min(o0 + 6, out - 1), r7 = Math.min(o0 + 7, out - 1);
        Float8 a0 = zero8(), b0 = zero8(), a1 = zero8(), b1 = zero8(), a2 = zero8(), b2 = zero8(), a3 = zero8(), b3 = zero8();
        Float8 a4 = zero8(), b4 = zero8(), a5 = zero8(), b5 = zero8(), a6 = zero8(), b6 = zero8(), a7 = zero8(), b7 = zero8();
        for (int t = 0; t < n; t++) {
            Float8 lo = lanes8(x, t * in + i), hi = lanes8(x, t * in + i + 8);
            int d = t * out;
            a0 = addScaled(a0, lo, pick(dy, dy2, dy3, term, d + r0)); b0 = addScaled(b0, hi, pick(dy, dy2, dy3, term, d + r0));
            a1 = addScaled(a1, lo, pick(dy, dy2, dy3, term, d + r1)); b1 = addScaled(b1, hi, pick(dy, dy2, dy3, term, d + r1));
            a2 = addScaled(a2, lo, pick(dy, dy2, dy3, term, d + r2)); b2 = addScaled(b2, hi, pick(dy, dy2, dy3, term, d + r2));
            a3 = addScaled(a3, lo, pick(dy, dy2, dy3, term, d + r3)); b3 = addScaled(b3, hi, pick(dy, dy2, dy3, term, d + r3));
            a4 = addScaled(a4, lo, pick(dy, dy2, dy3, term, d + r4)); b4 = addScaled(b4, hi, pick(dy, dy2, dy3, term, d + r4));
            a5 = addScaled(a5, lo, pick(dy, dy2, dy3, term, d + r5)); b5 = addScaled(b5, hi, pick(dy, dy2, dy3, term, d + r5));
            a6 = addScaled(a6, lo, pick(dy, dy2, dy3, term, d + r6)); b6 = addScaled(b6, hi, pick(dy, dy2, dy3, term, d + r6));
            a7 = addScaled(a7, lo, pick(dy, dy2, dy3, term, d + r7)); b7 = addScaled(b7, hi, pick(dy, dy2, dy3, term, d + r7));
        }
        float[] g = new float[ROWS * LANES];  // private: the gradients, row by row
        spill(g, 0, a0, b0); spill(g, 16, a1, b1); spill(g, 32, a2, b2); spill(g, 48, a3, b3);
        spill(g, 64, a4, b4); spill(g, 80, a5, b5); spill(g, 96, a6, b6); spill(g, 112, a7, b7);
        if (control[MODE] == UPDATE_PASS) {
            for (int r = 0; r < ROWS; r++) {
                for (int k = i0 - i; k < LANES; k++) {
                    if (o0 + r < out) Update.sgdElement(params, at[w] + (o0 + r) * in + i + k, g[r * LANES + k], hp);
                }
            }
        } else if (i0 < in) {
            float sq = 0f;
            for (int r = 0; r < ROWS; r++) {
                for (int k = i0 - i; k < LANES; k++) {
                    if (o0 + r < out) sq += g[r * LANES + k] * g[r * LANES + k];
                }
            }
            squares[at[SQUARES + w] + by * ((in + LANES - 1) / LANES) + kc.globalIdx] = sq;
        }
    }

    /** A norm's weight: one thread per element in both passes (the norm pass writes each g² for the host to sum). */
    static void rmsnormLomo(float[] params, float[] squares, float[] kept, float[] dy, float[] x, float[] rstd, float[] hp,
                            float[] control, int[] at, int role, int c, int n) {
        for (@Parallel int i = 0; i < c; i++) {
            float g = RmsNorm.weightGradElement(dy, x, rstd, n, c, i);
            if (control[MODE] == UPDATE_PASS) {
                Update.sgdElement(params, at[role] + i, g, hp);
            } else {
                squares[at[SQUARES + role] + i] = g * g;
                kept[at[KEPT + role] + i] = g;  // for the replay
            }
        }
    }

    /**
     * The norm pass's last task: {@code squares} added up into {@link #PARTIAL_SUMS} partial sums of consecutive
     * slots, each in slot order, so that only those cross to the host (which adds them in order, in double).
     */
    static void sumSquares(float[] partials, float[] squares, float[] control, int length) {
        for (@Parallel int p = 0; p < PARTIAL_SUMS; p++) {
            if (control[MODE] == NORM_PASS) {
                int chunk = (length + PARTIAL_SUMS - 1) / PARTIAL_SUMS;
                float s = 0f;
                for (int j = p * chunk; j < Math.min(length, (p + 1) * chunk); j++) {
                    s += squares[j];
                }
                partials[p] = s;
            }
        }
    }

    // ---- the replay: clipping's updating pass from what the norm pass kept ----

    /**
     * Norm pass, once the block's output gradients are final (after RoPE's backward): o's dy (the residual gradient
     * there), gate's, up's, and dq, dk, dv, over the saved activations the replay no longer needs (x; gate, up; q, k, v).
     * Down's dy, the residual gradient as it entered the block, was kept by {@link #restoreBlock}.
     */
    static void keepGradients(float[] store, int[] at, int[] widths, float[] control, float[] dres, float[] dgate, float[] dup,
                              float[] dq, float[] dk, float[] dv, int n) {
        for (@Parallel int t = 0; t < n; t++) {
            if (control[MODE] == NORM_PASS) {
                int c = widths[W_C], qd = widths[W_QD], kvd = widths[W_KVD], f = widths[W_F];
                int s = at[STORE];
                Stash.save(store, s, dres, c, t, n);
                s = Stash.save(store, Stash.afterNormedInput(s, c, n), dq, qd, t, n);
                s = Stash.save(store, s, dk, kvd, t, n);
                Stash.save(store, s, dv, kvd, t, n);
                s = Stash.afterNormedInput(Stash.mlpHalf(at[STORE], c, qd, kvd, widths[W_HEADS], n), c, n);
                s = Stash.save(store, s, dgate, f, t, n);
                Stash.save(store, s, dup, f, t, n);
            }
        }
    }

    /**
     * Norms' updates from the gradients the norm pass kept: the norm {@code role}'s c weights, and with {@code items} = 2c
     * also those of {@code role2} (a block's two norms in one task).
     */
    static void keptNormLomo(float[] params, float[] kept, float[] hp, int[] at, int role, int role2, int c, int items) {
        for (@Parallel int j = 0; j < items; j++) {
            int r = j < c ? role : role2;
            int i = j < c ? j : j - c;
            Update.sgdElement(params, at[r] + i, kept[at[KEPT + r] + i], hp);
        }
    }

    static void biasLomo(float[] params, float[] squares, float[] dy, float[] hp, float[] control, int[] at, int role, int out, int n) {
        for (@Parallel int j = 0; j < out; j++) {
            float g = Bias.weightGradElement(dy, n, out, j);
            if (control[MODE] == UPDATE_PASS) {
                Update.sgdElement(params, at[role] + j, g, hp);
            } else {
                squares[at[SQUARES + role] + j] = g * g;
            }
        }
    }

    /**
     * The embedding table, in vector blocks as {@link #matmulLomo}: thread (b, v) sums the gradients of the weights
     * (v .. v + {@link #ROWS}, i .. i + {@link #LANES}), i in block b. Weight (v, i)'s gradient is the sum of dx[n, i]
     * over the positions n holding token v, plus, when the head is tied to it ({@code tied} = 1), the head's gradient
     * {@code Σ_n dlogits[n, v] · lnf[n, i]}: the one weight used twice, updated once, after both uses (the orders of
     * {@code Embedding.weightGradElement} and {@code Matmul.weightGradElement}, the two parts added last). The head's
     * part runs in vectors, lnf[n, i..i+16) times 8 rows' dlogits; the embedding's adds a row of dx only where a
     * position holds one of the thread's 8 tokens, so it stays scalar. The norm pass writes each thread's Σg² to its own
     * slot, as the matrices do.
     */
    static void embeddingLomo(KernelContext kc, float[] params, float[] squares, float[] dx, int[] tokens, float[] dlogits, float[] lnf,
                              float[] hp, float[] control, int[] at, int c, int vocab, int tied, int n) {
        int i0 = kc.globalIdx * LANES;
        int i = vectorStart(i0, c);
        int v0 = kc.globalIdy * ROWS;
        float[] g = new float[ROWS * LANES];  // private: the embedding's part, row by row
        for (int e = 0; e < ROWS * LANES; e++) g[e] = 0f;
        for (int t = 0; t < n; t++) {
            int r = tokens[t] - v0;
            if (r >= 0) {
                if (r < ROWS) {
                    for (int k = 0; k < LANES; k++) g[r * LANES + k] += dx[t * c + i + k];
                }
            }
        }
        float[] h = new float[ROWS * LANES];  // private: the tied head's part
        for (int e = 0; e < ROWS * LANES; e++) h[e] = 0f;
        if (tied == 1) {
            int r0 = Math.min(v0, vocab - 1), r1 = Math.min(v0 + 1, vocab - 1), r2 = Math.min(v0 + 2, vocab - 1),
                    r3 = Math.min(v0 + 3, vocab - 1), r4 = Math.min(v0 + 4, vocab - 1), r5 = Math.min(v0 + 5, vocab - 1),
                    r6 = Math.min(v0 + 6, vocab - 1), r7 = Math.min(v0 + 7, vocab - 1);
            Float8 a0 = zero8(), b0 = zero8(), a1 = zero8(), b1 = zero8(), a2 = zero8(), b2 = zero8(), a3 = zero8(), b3 = zero8();
            Float8 a4 = zero8(), b4 = zero8(), a5 = zero8(), b5 = zero8(), a6 = zero8(), b6 = zero8(), a7 = zero8(), b7 = zero8();
            for (int t = 0; t < n; t++) {
                Float8 lo = lanes8(lnf, t * c + i), hi = lanes8(lnf, t * c + i + 8);
                int d = t * vocab;
                a0 = addScaled(a0, lo, dlogits[d + r0]); b0 = addScaled(b0, hi, dlogits[d + r0]);
                a1 = addScaled(a1, lo, dlogits[d + r1]); b1 = addScaled(b1, hi, dlogits[d + r1]);
                a2 = addScaled(a2, lo, dlogits[d + r2]); b2 = addScaled(b2, hi, dlogits[d + r2]);
                a3 = addScaled(a3, lo, dlogits[d + r3]); b3 = addScaled(b3, hi, dlogits[d + r3]);
                a4 = addScaled(a4, lo, dlogits[d + r4]); b4 = addScaled(b4, hi, dlogits[d + r4]);
                a5 = addScaled(a5, lo, dlogits[d + r5]); b5 = addScaled(b5, hi, dlogits[d + r5]);
                a6 = addScaled(a6, lo, dlogits[d + r6]); b6 = addScaled(b6, hi, dlogits[d + r6]);
                a7 = addScaled(a7, lo, dlogits[d + r7]); b7 = addScaled(b7, hi, dlogits[d + r7]);
            }
            spill(h, 0, a0, b0); spill(h, 16, a1, b1); spill(h, 32, a2, b2); spill(h, 48, a3, b3);
            spill(h, 64, a4, b4); spill(h, 80, a5, b5); spill(h, 96, a6, b6); spill(h, 112, a7, b7);
        }
        if (control[MODE] == UPDATE_PASS) {
            for (int r = 0; r < ROWS; r++) {
                for (int k = i0 - i; k < LANES; k++) {
                    if (v0 + r < vocab) {
                        Update.sgdElement(params, at[EMBEDDING] + (v0 + r) * c + i + k, g[r * LANES + k] + h[r * LANES + k], hp);
                    }
                }
            }
        } else if (i0 < c) {
            float sq = 0f;
            for (int r = 0; r < ROWS; r++) {
                for (int k = i0 - i; k < LANES; k++) {
                    float e = g[r * LANES + k] + h[r * LANES + k];
                    if (v0 + r < vocab) sq += e * e;
                }
            }
            squares[at[SQUARES + EMBEDDING] + kc.globalIdy * ((c + LANES - 1) / LANES) + kc.globalIdx] = sq;
        }
    }
}
