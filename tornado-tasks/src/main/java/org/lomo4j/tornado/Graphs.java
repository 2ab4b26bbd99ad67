package org.lomo4j.tornado;

import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Tensor;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.WorkerGrid;
import uk.ac.manchester.tornado.api.WorkerGrid1D;
import uk.ac.manchester.tornado.api.WorkerGrid2D;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.common.TornadoFunctions;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.enums.TornadoDeviceType;
import uk.ac.manchester.tornado.api.enums.TornadoVMBackendType;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * Builds the task graphs of one model: {@code embed_fwd}, {@code block_fwd}, {@code head_fwd}; for training
 * {@code head_bwd}, {@code block_bwd}, {@code embed_bwd} (and clipping's {@code head_replay}, {@code block_replay});
 * for generation {@code embed_dec}, {@code block_dec}, {@code head_dec}. A block's graph is built and compiled
 * once and run for every layer, the host pointing {@code at} to that layer's weights before each run
 * ({@link #selectLayer}); the block works on one set of activations, saved to the layer's region of the store
 * before its down projection and restored at the start of its backward (one task each; a step's top layer keeps its
 * own in place when its backward follows at once, {@link #throughLayers}). Each graph's tasks are the JVM
 * backend's steps in the same order ({@code LlamaModel.blockForward} / {@code blockBackward}), so the two can
 * be read side by side. With a working copy ({@link DeviceWeights}: bf16 weights, or fp32 in segments) each block
 * graph begins by filling it with its layer and an updating one ends by writing it back; {@code embed_fwd} fills
 * the tensors outside the blocks and {@code embed_bwd} writes them back.
 *
 * <p>Residency: an array is copied to the device once, by the first graph that uses it (the weights, the RoPE
 * tables, and zeroed activations), and stays there. TornadoVM hands device buffers from one graph to the
 * next only from the graph executed just before ({@code TornadoTaskGraph.updatePersistedObjectState}), so
 * every graph takes all arrays already on the device from its predecessor in the build order
 * ({@code consumeFromDevice}), including those it only carries on, and leaves them all there
 * ({@code persistOnDevice}); a block graph run again after itself already holds them. Only the per-step inputs
 * travel (the targets with the first graph that reads them; the tokens, decode's positions, {@code at}, the
 * hyper-parameters and the pass with every graph that reads them, as they change between graphs), and only the per-position losses come back. The weights and the norm pass's sums come back only
 * when asked for.
 *
 * <p>Launch sizes: every task runs in work-groups of {@link #groupWidth} × 1 threads, and {@link Graph#close} refuses a
 * task without its shape. The matrix kernels take a {@code WorkerGrid2D}: the forward, the input gradients and the
 * fused updates of the matrices and the embedding in vector blocks of LANES columns × ROWS rows a thread
 * ({@link #vectors}), decode's forward in register blocks of BLOCK tokens ({@link #launch}). The other tasks take a
 * {@code WorkerGrid1D} over their {@code @Parallel} loop's count ({@link #threads}): one thread per (batch, head,
 * query row) for attention (per head chunk in {@link VectorAttention}), per row or element elsewhere.
 */
final class Graphs {
    static final String EMBED_FWD = "embed_fwd", BLOCK_FWD = "block_fwd", HEAD_FWD = "head_fwd",
            HEAD_BWD = "head_bwd", BLOCK_BWD = "block_bwd", EMBED_BWD = "embed_bwd", HEAD_REPLAY = "head_replay",
            BLOCK_REPLAY = "block_replay", EMBED_DEC = "embed_dec", BLOCK_DEC = "block_dec", HEAD_DEC = "head_dec";

    private final LlamaConfig cfg;
    private final ParameterLayout layout;
    private final DeviceWeights weights;
    private final float[] params;  // what the kernels read and update (DeviceWeights.params)
    private final DeviceBuffers d;
    private final TornadoDevice device;
    private final int group;  // threads per work-group (groupWidth)
    private final int[][] layerAt;  // per layer: Tasks' block roles, their squares offsets, the store region
    private final GridScheduler grids = new GridScheduler();
    private final KernelContext kernelContext = new KernelContext();

    // Residency bookkeeping: the arrays on the device so far, the graph built last, what crosses every execution.
    private final Set<Object> onDevice = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    private final List<Object> onDeviceInOrder = new ArrayList<>();
    private String previous;
    private final Set<Object> inputsEveryStep;
    private final Set<Object> inputsEveryExecution;
    private final Set<Object> outputsEveryStep;

    Graphs(LlamaConfig cfg, ParameterLayout layout, DeviceWeights weights, DeviceBuffers d, TornadoDevice device) {
        this.device = java.util.Objects.requireNonNull(device, "device");
        this.group = groupWidth(device);
        this.cfg = cfg;
        this.layout = layout;
        this.weights = weights;
        this.params = weights.params;
        this.d = d;
        Map<Tensor, Integer> squares = new IdentityHashMap<>(), kept = new IdentityHashMap<>();
        int slots = 0, keptSlots = 0;
        for (Tensor t : layout.tensors()) {
            squares.put(t, slots);
            slots += squareSlots(t);
            if (kept(t)) {
                kept.put(t, keptSlots);
                keptSlots += t.cols();
            }
        }
        // Every layer's row holds the tensors outside the blocks too, so that selecting a layer leaves them as they are.
        Tensor[] outside = {layout.embedding(), layout.head(), layout.finalNorm()};
        layerAt = new int[cfg.numHiddenLayers()][Tasks.AT_SIZE];
        for (int l = 0; l < layerAt.length; l++) {
            ParameterLayout.Block w = layout.blocks().get(l);
            Tensor[] roles = {w.wq(), w.wk(), w.wv(), w.wo(), w.wGate(), w.wUp(), w.wDown(), w.inputNorm(), w.postAttnNorm(),
                    w.bq(), w.bk(), w.bv(), outside[0], outside[1], outside[2]};
            for (int r = 0; r < Tasks.ROLES; r++) {
                if (roles[r] == null) continue;
                layerAt[l][r] = weights.offset(roles[r], l);
                layerAt[l][Tasks.SQUARES + r] = squares.get(roles[r]);  // a tied head's are the embedding's
                if (kept(roles[r])) layerAt[l][Tasks.KEPT + r] = kept.get(roles[r]);
            }
            layerAt[l][Tasks.STORE] = l * d.storePerLayer;
            layerAt[l][Tasks.CACHE] = l * d.cachePerLayer;
            layerAt[l][Tasks.STASHED] = 1;  // throughLayers may keep the top layer in place
            layerAt[l][Tasks.HALVES + 2 * Tasks.LAYER_PART] = weights.layerStart(l);
            layerAt[l][Tasks.HALVES + 2 * Tasks.LAYER_PART + 1] = weights.layerSegment(l);
            for (int i = 0; i < weights.outside().size(); i++) {
                layerAt[l][Tasks.HALVES + 2 * (1 + i)] = weights.outside().get(i).offset();
                layerAt[l][Tasks.HALVES + 2 * (1 + i) + 1] = weights.outside().get(i).segment();
            }
        }
        selectLayer(0);
        inputsEveryStep = identitySet(d.targets);
        inputsEveryExecution = identitySet(d.tokens, d.positions, d.at, d.hp, d.control, d.roundingKey);
        outputsEveryStep = identitySet(d.losses);
    }

    /**
     * The norm pass's slots of a tensor: one per element of a vector, one per thread of a matrix ({@link Tasks#matmulLomo}'s
     * and {@link Tasks#embeddingLomo}'s LANES columns by ROWS rows); {@link Tasks#sumSquares} adds them up.
     */
    private static int squareSlots(Tensor t) {
        if (t.vector()) return t.cols();
        return Math.ceilDiv(t.rows(), Tasks.ROWS) * Math.ceilDiv(t.cols(), Tasks.LANES);
    }

    static int squareSlots(ParameterLayout layout) {
        int slots = 0;
        for (Tensor t : layout.tensors()) slots += squareSlots(t);
        return slots;
    }

    /**
     * The vector kernels load {@link Tasks#LANES} consecutive columns of a matrix's input, so every matrix a training step
     * updates needs that many: hidden_size, the attention width and intermediate_size. Real models have hundreds.
     */
    static void requireVectorWidths(LlamaConfig cfg) {
        int attention = cfg.numAttentionHeads() * cfg.headDim();
        String narrow = cfg.hiddenSize() < Tasks.LANES ? "hidden_size " + cfg.hiddenSize()
                : cfg.intermediateSize() < Tasks.LANES ? "intermediate_size " + cfg.intermediateSize()
                : attention < Tasks.LANES ? "num_attention_heads × head_dim " + attention : null;
        if (narrow != null) {
            throw new IllegalArgumentException("--backend tornado trains models whose matrices have at least " + Tasks.LANES
                    + " input columns; this model's " + narrow + " is smaller (the JVM backend takes any size)");
        }
    }

    /** Attention in vector chunks ({@link VectorAttention}) when a head's width allows; else the core's scalar items. */
    private boolean vectorAttention() {
        return cfg.headDim() % VectorAttention.CHUNK == 0;
    }

    /** Threads per attention row: one per {@link VectorAttention#CHUNK} columns of the head. */
    private int chunks() {
        return cfg.headDim() / VectorAttention.CHUNK;
    }

    /** The RMSNorm weights, whose gradients the norm pass keeps for the replay (the matrices' replay recomputes them). */
    private static boolean kept(Tensor t) {
        return t.vector() && !t.bias();
    }

    static int keptSlots(ParameterLayout layout) {
        int slots = 0;
        for (Tensor t : layout.tensors()) if (kept(t)) slots += t.cols();
        return slots;
    }

    /**
     * OpenCL's compiler flags: TornadoVM's default without {@code -cl-fast-relaxed-math}, which lets a compiler drop
     * signed zeros, NaNs and infinities. Without it bf16 rounding keeps a −0 as the JVM does, and a diverged step's
     * NaN reaches the host as a NaN.
     */
    static final String OPENCL_FLAGS = "-cl-mad-enable -w";

    /** An execution plan of {@code graphs} (built here) on this device, with the matrix tasks' launch shapes. */
    TornadoExecutionPlan plan(List<TaskGraph> graphs) {
        requireAllocations();
        TornadoExecutionPlan plan = new TornadoExecutionPlan(graphs.stream().map(TaskGraph::snapshot).toArray(ImmutableTaskGraph[]::new));
        plan.withDevice(device);
        plan.withGridScheduler(grids);  // every task's launch shape
        plan.withCompilerFlags(TornadoVMBackendType.OPENCL, OPENCL_FLAGS);
        return plan;
    }

    /**
     * Refuses an array larger than the device allocates at once (OpenCL's CL_DEVICE_MAX_MEM_ALLOC_SIZE, often a quarter
     * of its memory), before anything runs: TornadoVM would fail at the array's first transfer, mid-step.
     */
    private void requireAllocations() {
        long most = device.getMaxAllocMemory();
        for (Object o : onDeviceInOrder) {
            long bytes = switch (o) {
                case float[] a -> 4L * a.length;
                case int[] a -> 4L * a.length;
                case short[] a -> 2L * a.length;
                case long[] a -> 8L * a.length;
                default -> 0;
            };
            if (bytes <= most) continue;
            boolean weightArray = o == weights.params || List.of(weights.segments()).contains(o);
            throw new IllegalArgumentException("--backend tornado: the device allocates at most "
                    + org.lomo4j.memory.MemoryLedger.human(most) + " in one array, and "
                    + (weightArray ? "the model's weights lie in one of " + org.lomo4j.memory.MemoryLedger.human(bytes)
                            + " (a model past 2^31 weights is split into segments; --param-dtype bf16 halves them)"
                            : "an activation array needs " + org.lomo4j.memory.MemoryLedger.human(bytes) + "; use a smaller --batch or --seq"));
        }
    }

    /** Points {@code at} to layer l: the next run of a block graph computes that layer. */
    void selectLayer(int l) {
        System.arraycopy(layerAt[l], 0, d.at, 0, Tasks.AT_SIZE);
    }

    /** What a forward graph is for: training (saves activations), evaluation and prefill (fills the cache), decode. */
    enum Pass { TRAIN, PREFILL, DECODE }

    /**
     * The forward graphs: embedding, the block, then the head with the loss ({@code loss}: training, which saves
     * each layer's activations for backward) or the logits (evaluation and generation's prefill, which fills
     * the key/value cache).
     */
    List<TaskGraph> forward(boolean loss) {
        return forward(loss ? Pass.TRAIN : Pass.PREFILL, EMBED_FWD, BLOCK_FWD, HEAD_FWD);
    }

    /**
     * Generation's graphs after a prefill: one new token per row ({@code tokens[0..B)} at {@code positions}) through
     * the embedding, the block (attending to the cache it extends) and the head, to (B, V) logits.
     */
    List<TaskGraph> decode() {
        return forward(Pass.DECODE, EMBED_DEC, BLOCK_DEC, HEAD_DEC);
    }

    private List<TaskGraph> forward(Pass pass, String embedName, String blockName, String headName) {
        Graph embed = new Graph(embedName);
        if (pass != Pass.DECODE) fillOutsideBlocks(embed);  // decode's prefill filled them, and nothing changed them since
        embed.task("embedding", Tasks::embedding, d.stream, d.tokens, params, d.at, cfg.hiddenSize(), rows(pass)).threads(rows(pass));
        Graph block = new Graph(blockName);
        blockForward(block, pass);
        Graph head = new Graph(headName);
        headForward(head, pass);
        return List.of(embed.close(), block.close(), head.close());
    }

    /** Rows a forward pass computes: every position, or one new token per row in decode. */
    private int rows(Pass pass) {
        return pass == Pass.DECODE ? d.batch : d.n;
    }

    /**
     * Runs a pass through the model's graphs: {@code first}, then {@code block} once per layer (from the top when
     * {@code topDown}), pointing {@code at} to each layer, then {@code last}, whose result it returns. With
     * {@code topInPlace} the top layer's activations stay in the working set instead of going through the store
     * ({@link Tasks#STASHED}): a training forward whose backward follows with no replay, and that backward.
     */
    TornadoExecutionResult throughLayers(IntFunction<TornadoExecutionResult> run, int first, int block, int last, boolean topDown,
                                         boolean topInPlace) {
        run.apply(first);
        int layers = cfg.numHiddenLayers();
        for (int i = 0; i < layers; i++) {
            int l = topDown ? layers - 1 - i : i;
            selectLayer(l);
            d.at[Tasks.STASHED] = topInPlace && l == layers - 1 ? 0 : 1;
            run.apply(block);
        }
        return run.apply(last);
    }

    /**
     * The backward graphs: head, block, embedding; a norm pass or an updating pass, as control says. Only with
     * {@code clipping} do they hold what a norm pass alone needs (keeping the output gradients for the replay, adding up
     * the squares): an unclipped step runs them once, as its updating pass.
     */
    List<TaskGraph> backward(boolean clipping) {
        Graph head = new Graph(HEAD_BWD);
        headBackward(head);
        Graph block = new Graph(BLOCK_BWD);
        blockBackward(block, clipping);
        Graph embed = new Graph(EMBED_BWD);
        embed.task("embedding_lomo", Tasks::embeddingLomo, kernelContext, params, d.squares, d.dres, d.tokens, d.dlogits, d.lnf, d.hp,
                d.control, d.at, cfg.hiddenSize(), cfg.vocabSize(), layout.tied() ? 1 : 0, d.n);
        vectors(embed, "embedding_lomo", cfg.hiddenSize(), cfg.vocabSize());
        if (clipping) {
            embed.task("sum_squares", Tasks::sumSquares, d.partials, d.squares, d.control, d.squares.length).threads(Tasks.PARTIAL_SUMS);
        }
        writeBackOutsideBlocks(embed);
        return List.of(head.close(), block.close(), embed.close());
    }

    /**
     * Clipping's updating pass without a second backward: {@code head_replay} and {@code block_replay} (per layer,
     * from the top) apply every weight's gradient again from the output gradients the norm pass kept, over the
     * activations it no longer needed (as the JVM's {@code LlamaModel.replayWeightGradients}); then
     * {@code embed_bwd} runs again, its inputs untouched. No input gradient, attention or norm backward is
     * recomputed.
     */
    List<TaskGraph> replay() {
        Graph head = new Graph(HEAD_REPLAY);
        int c = cfg.hiddenSize(), f = cfg.intermediateSize(), qd = cfg.numAttentionHeads() * cfg.headDim();
        if (!layout.tied()) matmulLomo(head, "lm_head", d.lnf, c, new Term(d.dlogits, Tasks.HEAD, cfg.vocabSize()));
        head.task("final_norm_lomo", Tasks::keptNormLomo, params, d.kept, d.hp, d.at, Tasks.FINAL_NORM, Tasks.FINAL_NORM, c, c).threads(c);
        Graph block = new Graph(BLOCK_REPLAY);
        DeviceBuffers.Block a = d.layer;
        boolean biases = layout.blocks().get(0).bq() != null;
        fillLayer(block);
        // Restored as in backward, the kept gradients arrive in the arrays whose slots they took: res1 = down's dy,
        // gate and up = theirs, x = o's dy, q, k, v = dq, dk, dv.
        restore(block);
        matmulLomo(block, "down", a.h, f, new Term(a.res1, Tasks.DOWN, c));
        matmulLomo(block, "gate_up", a.ln2, c, new Term(a.gate, Tasks.GATE, f), new Term(a.up, Tasks.UP, f));
        matmulLomo(block, "o", a.att, qd, new Term(a.x, Tasks.O, c));
        weightUpdates(block, a.q, a.k, a.v, a.ln1, biases);
        block.task("norms_lomo", Tasks::keptNormLomo, params, d.kept, d.hp, d.at, Tasks.POST_NORM, Tasks.INPUT_NORM, c, 2 * c)
                .threads(2 * c);
        writeBackLayer(block);
        return List.of(head.close(), block.close());
    }

    // ---- forward ----

    private void blockForward(Graph g, Pass pass) {
        DeviceBuffers.Block a = d.layer;
        float[] x = d.stream;
        int n = rows(pass), c = cfg.hiddenSize(), f = cfg.intermediateSize(), nh = cfg.numAttentionHeads(),
                nkv = cfg.numKeyValueHeads(), hd = cfg.headDim(), qd = nh * hd, kvd = cfg.kvDim(), t = d.seq;
        boolean biases = layout.blocks().get(0).bq() != null;
        fillLayer(g);
        rmsnorm(g, "input_norm", a.ln1, a.rstd1, x, Tasks.INPUT_NORM, n);
        matmul(g, "qkv_proj", a.ln1, c, n, new Term(a.q, Tasks.Q, qd), new Term(a.k, Tasks.K, kvd), new Term(a.v, Tasks.V, kvd));
        if (biases) {
            bias(g, "q", a.q, Tasks.Q_BIAS, qd, n);
            bias(g, "k", a.k, Tasks.K_BIAS, kvd, n);
            bias(g, "v", a.v, Tasks.V_BIAS, kvd, n);
        }
        if (pass == Pass.DECODE) {
            g.task("rope", Tasks::ropeAt, a.q, a.k, d.ropeCos, d.ropeSin, d.positions, nh, nkv, hd, n * (nh + nkv)).threads(n * (nh + nkv));
            g.task("cache_store", Tasks::cacheStore, d.kCache, d.vCache, a.k, a.v, d.positions, d.at, t, kvd, n).threads(n);
            g.task("attention", Tasks::attentionDecode, a.att, a.q, d.kCache, d.vCache, d.positions, d.at, t, nh, nkv, hd,
                    n * nh).threads(n * nh);
        } else {
            g.task("rope", Tasks::rope, a.q, a.k, d.ropeCos, d.ropeSin, t, nh, nkv, hd, n * (nh + nkv)).threads(n * (nh + nkv));
            if (pass == Pass.PREFILL) g.task("cache_keys_values", Tasks::cacheKeysValues, d.kCache, d.vCache, a.k, a.v, d.at,
                    n * kvd).threads(n * kvd);
            int rows = d.batch * nh * t;  // attention's: one per (batch, head, query)
            if (vectorAttention()) {
                int threads = rows * chunks();
                g.task("attention", VectorAttention::forward, a.att, d.xT, a.lse, a.q, a.k, a.v, t, nh, nkv, hd, transposing(n), n,
                        threads).threads(threads);
            } else {
                g.task("attention", Tasks::attention, a.att, a.lse, a.q, a.k, a.v, t, nh, nkv, hd, rows).threads(rows);
            }
        }
        if (pass == Pass.DECODE || !vectorAttention()) transposed(g, "attention", a.att, qd, n);  // else attention wrote it
        matmul(g, "o_proj", a.res1, x, a.att, Tasks.O, qd, c, n);  // res1 = att · Woᵀ + x, the residual folded in
        rmsnorm(g, "post_attention_norm", a.ln2, a.rstd2, a.res1, Tasks.POST_NORM, n);
        matmul(g, "gate_up_proj", a.ln2, c, n, new Term(a.gate, Tasks.GATE, f), new Term(a.up, Tasks.UP, f));
        g.task("swiglu", Tasks::swiglu, a.h, d.xT, a.gate, a.up, transposing(n), f, n).threads(n);
        if (pass == Pass.TRAIN) {  // before the block's output overwrites its input x
            g.task("save", Tasks::saveBlock, d.store, d.at, d.widths, x, a.ln1, a.rstd1, a.q, a.k, a.v, a.lse, a.att, a.res1, a.ln2,
                    a.rstd2, a.gate, a.up, a.h, n).threads(n);
        }
        matmul(g, "down_proj", x, a.res1, a.h, Tasks.DOWN, f, c, n);  // the block's output h · Wdownᵀ + res1
    }

    /**
     * A block's backward (or replay) opens with its saved activations back in the working set; the norm pass's also keeps
     * the block's output gradient, down's dy, for the replay (Tasks.restoreBlock).
     */
    private void restore(Graph g) {
        DeviceBuffers.Block a = d.layer;
        g.task("restore", Tasks::restoreBlock, d.store, d.at, d.widths, a.x, a.ln1, a.rstd1, a.q, a.k, a.v, a.lse, a.att, a.res1, a.ln2,
                a.rstd2, a.gate, a.up, a.h, d.dres, d.control, d.n).threads(d.n);
    }

    /** The final norm and the logits; training adds the softmax in place and the per-position losses. */
    private void headForward(Graph g, Pass pass) {
        int n = rows(pass), c = cfg.hiddenSize();
        float[] logits = pass == Pass.DECODE ? d.nextLogits : d.logits;
        rmsnorm(g, "final_norm", d.lnf, d.rstdf, d.stream, Tasks.FINAL_NORM, n);
        matmul(g, "lm_head", logits, null, d.lnf, Tasks.HEAD, c, cfg.vocabSize(), n);
        if (pass == Pass.TRAIN) {
            g.task("cross_entropy", Tasks::crossEntropy, d.losses, d.logits, d.targets, cfg.vocabSize(), n).threads(n);
        } else {
            g.output(logits);
        }
    }

    /** y += b, the bias {@code role}, for {@code rows} rows. */
    private void bias(Graph g, String name, float[] y, int role, int out, int rows) {
        g.task(name + "_bias", Tasks::bias, y, params, d.at, role, out, rows).threads(rows);
    }

    // ---- backward ----

    private void headBackward(Graph g) {
        int n = d.n, c = cfg.hiddenSize(), vocab = cfg.vocabSize();
        g.task("cross_entropy_bwd", Tasks::crossEntropyBackward, d.dlogits, d.logits, d.targets, d.control, vocab, n).threads(n);
        inputGrad(g, "lm_head", d.dln, c, new Term(d.dlogits, Tasks.HEAD, vocab));
        if (!layout.tied()) {
            matmulLomo(g, "lm_head", d.lnf, c, new Term(d.dlogits, Tasks.HEAD, vocab));
        }
        norm(g, "final_norm", Tasks.FINAL_NORM, d.dres, false, d.dln, d.stream, d.rstdf);
    }

    private void blockBackward(Graph g, boolean clipping) {
        DeviceBuffers.Block a = d.layer;
        int n = d.n, c = cfg.hiddenSize(), f = cfg.intermediateSize(), nh = cfg.numAttentionHeads(), nkv = cfg.numKeyValueHeads(),
                hd = cfg.headDim(), qd = nh * hd, kvd = cfg.kvDim(), t = d.seq;
        boolean biases = layout.blocks().get(0).bq() != null;
        fillLayer(g);
        restore(g);
        // MLP: dres reaches res1 unchanged through the residual.
        g.task("down_swiglu_dx", Tasks::swigluInputGrad, kernelContext, d.dgate, d.dup, d.dres, a.gate, a.up, params, d.at, Tasks.DOWN,
                f, c, n);
        vectors(g, "down_swiglu_dx", f, n);
        matmulLomo(g, "down", a.h, f, new Term(d.dres, Tasks.DOWN, c));
        inputGrad(g, "gate_up", d.dln, c, new Term(d.dgate, Tasks.GATE, f), new Term(d.dup, Tasks.UP, f));
        matmulLomo(g, "gate_up", a.ln2, c, new Term(d.dgate, Tasks.GATE, f), new Term(d.dup, Tasks.UP, f));
        norm(g, "post_attention_norm", Tasks.POST_NORM, d.dres, true, d.dln, a.res1, a.rstd2);
        // Attention.
        inputGrad(g, "o", d.datt, qd, new Term(d.dres, Tasks.O, c));
        matmulLomo(g, "o", a.att, qd, new Term(d.dres, Tasks.O, c));
        int queries = d.batch * nh * t, keys = d.batch * nkv * t;
        if (vectorAttention()) {
            g.task("attention_bwd_query", VectorAttention::backwardQuery, d.dq, d.delta, d.datt, a.att, a.lse, a.q, a.k, a.v, t, nh,
                    nkv, hd, queries * chunks()).threads(queries * chunks());
            g.task("attention_bwd_key_value", VectorAttention::backwardKeyValue, d.dk, d.dv, d.delta, a.lse, a.q, a.k, a.v, d.datt, t,
                    nh, nkv, hd, keys * chunks()).threads(keys * chunks());
        } else {
            g.task("zero_attention_gradients", Tasks::zeroAttentionGradients, d.dq, d.dk, d.dv, qd, kvd, n).threads(n);
            g.task("attention_bwd_query", Tasks::attentionBackwardQuery, d.dq, d.delta, d.datt, a.att, a.lse, a.q, a.k, a.v, t, nh,
                    nkv, hd, queries).threads(queries);
            g.task("attention_bwd_key_value", Tasks::attentionBackwardKeyValue, d.dk, d.dv, d.delta, a.lse, a.q, a.k, a.v, d.datt, t,
                    nh, nkv, hd, keys).threads(keys);
        }
        g.task("rope_bwd", Tasks::ropeBackward, d.dq, d.dk, d.ropeCos, d.ropeSin, t, nh, nkv, hd, n * (nh + nkv)).threads(n * (nh + nkv));
        if (clipping) g.task("keep_gradients", Tasks::keepGradients, d.store, d.at, d.widths, d.control, d.dres, d.dgate, d.dup, d.dq, d.dk,
                d.dv, n).threads(n);
        inputGrad(g, "qkv", d.dln, c, new Term(d.dq, Tasks.Q, qd), new Term(d.dk, Tasks.K, kvd), new Term(d.dv, Tasks.V, kvd));
        weightUpdates(g, d.dq, d.dk, d.dv, a.ln1, biases);
        norm(g, "input_norm", Tasks.INPUT_NORM, d.dres, true, d.dln, a.x, a.rstd1);
        writeBackLayer(g);
    }

    // ---- bf16 weights (DeviceWeights): the selected layer's working copy, and that of the tensors outside the blocks ----

    /** The selected layer into the working copy: one task per segment holding layers, the layer's own doing the work. */
    private void fillLayer(Graph g) {
        if (!weights.copied()) return;
        for (int s : weights.layerSegments()) fill(g, "layer_" + s, Tasks.LAYER_PART, s, 0, weights.layerSize());
    }

    /** After the updates (an updating pass only): the layer's working copy back into its weights. */
    private void writeBackLayer(Graph g) {
        if (!weights.copied()) return;
        for (int s : weights.layerSegments()) writeBack(g, "layer_" + s, Tasks.LAYER_PART, s, 0, weights.layerSize());
    }

    private void fillOutsideBlocks(Graph g) {
        if (!weights.copied()) return;
        for (int i = 0; i < weights.outside().size(); i++) {
            Tensor t = weights.outside().get(i);
            fill(g, partName(i), 1 + i, t.segment(), weights.outsideAt(i), t.size());
        }
    }

    private void writeBackOutsideBlocks(Graph g) {
        if (!weights.copied()) return;
        for (int i = 0; i < weights.outside().size(); i++) {
            Tensor t = weights.outside().get(i);
            writeBack(g, partName(i), 1 + i, t.segment(), weights.outsideAt(i), t.size());
        }
    }

    private static String partName(int outside) {
        return new String[] {"embedding", "final_norm", "head"}[outside];
    }

    /** A part of the working copy from segment {@code segment}: bf16 widened, fp32 copied. */
    private void fill(Graph g, String what, int part, int segment, int workAt, int len) {
        if (weights.half()) {
            g.task("widen_" + what, Tasks::widen, params, weights.halves[segment], weights.bf16Values, d.at, part, segment, workAt,
                    len).threads(len);
        } else {
            g.task("copy_in_" + what, Tasks::copyIn, params, weights.floats[segment], d.at, part, segment, workAt, len).threads(len);
        }
    }

    /** A part of the working copy back into segment {@code segment}, in an updating pass: bf16 narrowed, fp32 copied. */
    private void writeBack(Graph g, String what, int part, int segment, int workAt, int len) {
        if (weights.half()) {
            g.task("narrow_" + what, Tasks::narrow, weights.halves[segment], params, d.roundingKey, d.control, d.at, part, segment,
                    weights.segmentStart(segment), workAt, weights.rounding, len).threads(len);
        } else {
            g.task("copy_out_" + what, Tasks::copyOut, weights.floats[segment], params, d.control, d.at, part, segment, workAt,
                    len).threads(len);
        }
    }

    /**
     * After their input gradient (computed with the weights as they were): the norm-pass squares or fused updates of q's,
     * k's and v's matrices in one launch, then of their biases where the model has them.
     */
    private void weightUpdates(Graph g, float[] dq, float[] dk, float[] dv, float[] x, boolean biases) {
        int c = cfg.hiddenSize(), qd = cfg.numAttentionHeads() * cfg.headDim(), kvd = cfg.kvDim();
        matmulLomo(g, "qkv", x, c, new Term(dq, Tasks.Q, qd), new Term(dk, Tasks.K, kvd), new Term(dv, Tasks.V, kvd));
        if (biases) {
            biasLomo(g, "q", dq, Tasks.Q_BIAS, qd);
            biasLomo(g, "k", dk, Tasks.K_BIAS, kvd);
            biasLomo(g, "v", dv, Tasks.V_BIAS, kvd);
        }
    }

    private void biasLomo(Graph g, String name, float[] dy, int role, int out) {
        g.task(name + "_bias_lomo", Tasks::biasLomo, params, d.squares, dy, d.hp, d.control, d.at, role, out, d.n).threads(out);
    }

    /**
     * y = x · Wᵀ (+ residual unless null) for {@code rows} rows: from xT as the task before left it ({@link #rmsnorm},
     * SwiGLU, {@link #transposed}) in vector blocks over (rows, out) ({@link Tasks#matmulTransposed}) where there are at
     * least LANES rows; otherwise from x itself in register blocks over (out, rows) ({@link Tasks#matmul}).
     */
    private void matmul(Graph g, String task, float[] y, float[] residual, float[] x, int role, int in, int out, int rows) {
        matmul(g, task, residual == null ? d.unread[0] : residual, residual == null ? 0 : 1, x, in, rows, new Term(y, role, out));
    }

    /** Up to three projections of x (q, k and v; gate and up) in one launch: each term's y = x · Wᵀ. */
    private void matmul(Graph g, String task, float[] x, int in, int rows, Term... terms) {
        matmul(g, task, d.unread[0], 0, x, in, rows, terms);
    }

    private void matmul(Graph g, String task, float[] residual, int add, float[] x, int in, int rows, Term... terms) {
        Term[] t = upToThree(terms);
        if (transposing(rows) == 1) {
            g.task(task, Tasks::matmulTransposed, kernelContext, t[0].array, t[1].array, t[2].array, residual, d.xT, params, d.at,
                    t[0].role, t[1].role, t[2].role, add, in, t[0].out, t[1].out, t[2].out, rows);
            launch(g, task, Math.ceilDiv(rows, Tasks.LANES), rowBlocks(t));
        } else {
            g.task(task, Tasks::matmul, kernelContext, t[0].array, t[1].array, t[2].array, residual, x, params, d.at, t[0].role,
                    t[1].role, t[2].role, add, in, t[0].out, t[1].out, t[2].out, rows);
            launch(g, task, t[0].out + t[1].out + t[2].out, Math.ceilDiv(rows, Tasks.BLOCK));
        }
    }

    /** Transposes x, the input of the {@link #matmul}s that follow, where they will read it transposed. */
    private void transposed(Graph g, String name, float[] x, int in, int rows) {
        if (transposing(rows) == 1) g.task(name + "_t", Tasks::transpose, d.xT, x, in, rows).threads(in);
    }

    /** 1 where the {@link #matmul}s of {@code rows} rows read their input transposed (into xT), else 0. */
    private static int transposing(int rows) {
        return rows >= Tasks.LANES ? 1 : 0;
    }

    /** y = RMSNorm(x) with its weight {@code role}, for {@code rows} rows, and y transposed where the projections need it. */
    private void rmsnorm(Graph g, String name, float[] y, float[] rstd, float[] x, int role, int rows) {
        g.task(name, Tasks::rmsnorm, y, d.xT, rstd, x, params, d.at, role, transposing(rows), cfg.hiddenSize(), cfg.rmsNormEps(),
                rows).threads(rows);
    }

    /**
     * One of the matrices a task takes: W's role and rows, and the array of its output (a projection's y) or its output's
     * gradient (an input gradient's or an update's dy).
     */
    private record Term(float[] array, int role, int out) {}

    /**
     * dx = the sum of up to three terms dy · W over one input (q, k and v; gate and up) in one task, launched in vector
     * blocks over (in, N).
     */
    private void inputGrad(Graph g, String name, float[] dx, int in, Term... terms) {
        Term[] t = upToThree(terms);
        g.task(name + "_dx", Tasks::matmulInputGrad, kernelContext, dx, t[0].array, t[1].array, t[2].array, params, d.at, t[0].role,
                t[1].role, t[2].role, in, t[0].out, t[1].out, t[2].out, d.n);
        vectors(g, name + "_dx", in, d.n);
    }

    /** The fused weight gradients and updates (or norm pass) of up to three matrices over one x, in vector blocks over (in, out). */
    private void matmulLomo(Graph g, String name, float[] x, int in, Term... terms) {
        Term[] t = upToThree(terms);
        g.task(name + "_lomo", Tasks::matmulLomo, kernelContext, params, d.squares, t[0].array, t[1].array, t[2].array, x, d.hp,
                d.control, d.at, t[0].role, t[1].role, t[2].role, in, t[0].out, t[1].out, t[2].out, d.n);
        launch(g, name + "_lomo", Math.ceilDiv(in, Tasks.LANES), rowBlocks(t));
    }

    /** Three terms: those given, then none (no rows, and a placeholder array of their own: see DeviceBuffers.unread). */
    private Term[] upToThree(Term... terms) {
        Term[] t = new Term[3];
        for (int i = 0; i < 3; i++) t[i] = i < terms.length ? terms[i] : new Term(d.unread[i], terms[0].role, 0);
        return t;
    }

    /** The blocks of ROWS rows of the terms' matrices, one after another (Tasks.termOf). */
    private static int rowBlocks(Term[] terms) {
        int blocks = 0;
        for (Term t : terms) blocks += Math.ceilDiv(t.out, Tasks.ROWS);
        return blocks;
    }

    /**
     * Threads per work-group of every task (group × 1): 4 on a CPU, where PoCL runs a work-group's threads one
     * after another on one core (1 to 16 measured within the noise), and 64 elsewhere, two warps of an NVIDIA GPU or
     * an AMD wavefront. {@code -Dlomo4j.tornado.group=N} overrides both.
     */
    static int groupWidth(TornadoDevice device) {
        String forced = System.getProperty("lomo4j.tornado.group");
        if (forced == null) return device.getDeviceType() == TornadoDeviceType.CPU ? 4 : 64;
        try {
            int n = Integer.parseInt(forced.trim());
            if (n >= 1 && n <= 1024) return n;
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("-Dlomo4j.tornado.group=" + forced + ": threads per work-group must be a whole number from 1 to 1024");
    }

    /** Task {@code task} of {@code g} runs as group × 1 work-groups over x's vector blocks, each thread ROWS along y. */
    private void vectors(Graph g, String task, int x, int y) {
        launch(g, task, Math.ceilDiv(x, Tasks.LANES), Math.ceilDiv(y, Tasks.ROWS));
    }

    /** Threads x × y, x rounded up to whole work-groups of group × 1 (the kernels skip the threads past their data). */
    private void launch(Graph g, String task, int x, int y) {
        WorkerGrid grid = new WorkerGrid2D(Math.ceilDiv(x, group) * group, y);
        grid.setLocalWork(group, 1, 1);
        shape(g, task, grid);
    }

    /**
     * A {@code @Parallel} task over {@code items}, one thread each, in work-groups of the largest divisor of items up to
     * group. Left to itself, TornadoVM gives a CPU device as few work-groups as divide the count, one for up to 4,096
     * items, and PoCL runs a work-group on one core: SwiGLU over 128 rows took 1.2 ms so, 0.5 ms in groups of 4. The
     * grid must hold exactly items threads: with a grid TornadoVM drops the loop's bound (a thread past it wrote
     * outside the array and crashed the JVM).
     */
    private void threads(Graph g, String task, int items) {
        int local = Math.min(group, items);
        while (items % local != 0) local--;
        WorkerGrid grid = new WorkerGrid1D(items);
        grid.setLocalWork(local, 1, 1);
        shape(g, task, grid);
    }

    private void shape(Graph g, String task, WorkerGrid grid) {
        grids.addWorkerGrid(g.name + "." + task, grid);
        g.shaped.add(task);
    }

    /** An RMSNorm's backward: dx := or += (add) its input gradient; then its weight's norm-pass squares or fused update. */
    private void norm(Graph g, String name, int role, float[] dx, boolean add, float[] dy, float[] x, float[] rstd) {
        int c = cfg.hiddenSize();
        g.task(name + "_dx", Tasks::rmsnormInputGrad, dx, dy, x, rstd, params, d.at, role, add ? 1 : 0, c, d.n).threads(d.n);
        g.task(name + "_lomo", Tasks::rmsnormLomo, params, d.squares, d.kept, dy, x, rstd, d.hp, d.control, d.at, role, c, d.n).threads(c);
    }

    private static Set<Object> identitySet(Object... objects) {
        Set<Object> s = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        s.addAll(List.of(objects));
        return s;
    }

    /**
     * One graph being built: tasks are recorded first, so that the arrays they use are known before the
     * graph's transfers are declared, in the order TornadoVM wants them (inputs, tasks, outputs).
     */
    private final class Graph {
        private final String name;
        private final List<java.util.function.Consumer<TaskGraph>> tasks = new ArrayList<>();
        private final Set<Object> used = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        private final List<Object> usedInOrder = new ArrayList<>();
        private final Set<Object> extraOutputs = java.util.Collections.newSetFromMap(new IdentityHashMap<>());

        private final List<String> ids = new ArrayList<>();
        private final Set<String> shaped = new java.util.HashSet<>();

        Graph(String name) {
            this.name = name;
        }

        private Graph add(String id, java.util.function.Consumer<TaskGraph> task) {
            tasks.add(task);
            ids.add(id);
            return this;
        }

        /** The task just added runs over {@code items} threads: the count of its {@code @Parallel} loop ({@link Graphs#threads}). */
        void threads(int items) {
            Graphs.this.threads(this, ids.getLast(), items);
        }

        private void use(Object... args) {
            for (Object o : args) {
                if ((o instanceof float[] || o instanceof int[] || o instanceof short[] || o instanceof long[]) && used.add(o)) usedInOrder.add(o);
            }
        }

        void output(Object o) {
            extraOutputs.add(o);
        }

        <A, B> Graph task(String id, TornadoFunctions.Task2<A, B> k, A a, B b) {
            use(a, b);
            return add(id, tg -> tg.task(id, k, a, b));
        }

        <A, B, C, D> Graph task(String id, TornadoFunctions.Task4<A, B, C, D> k, A a, B b, C c, D dd) {
            use(a, b, c, dd);
            return add(id, tg -> tg.task(id, k, a, b, c, dd));
        }

        <A, B, C, D, E> Graph task(String id, TornadoFunctions.Task5<A, B, C, D, E> k, A a, B b, C c, D dd, E e) {
            use(a, b, c, dd, e);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e));
        }

        <A, B, C, D, E, F> Graph task(String id, TornadoFunctions.Task6<A, B, C, D, E, F> k,
                                     A a, B b, C c, D dd, E e, F f) {
            use(a, b, c, dd, e, f);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f));
        }

        <A, B, C, D, E, F, G> Graph task(String id, TornadoFunctions.Task7<A, B, C, D, E, F, G> k,
                                        A a, B b, C c, D dd, E e, F f, G gg) {
            use(a, b, c, dd, e, f, gg);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg));
        }

        <A, B, C, D, E, F, G, H> Graph task(String id, TornadoFunctions.Task8<A, B, C, D, E, F, G, H> k,
                                           A a, B b, C c, D dd, E e, F f, G gg, H h) {
            use(a, b, c, dd, e, f, gg, h);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h));
        }

        <A, B, C, D, E, F, G, H, I> Graph task(String id, TornadoFunctions.Task9<A, B, C, D, E, F, G, H, I> k,
                                              A a, B b, C c, D dd, E e, F f, G gg, H h, I i) {
            use(a, b, c, dd, e, f, gg, h, i);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i));
        }

        <A, B, C, D, E, F, G, H, I, J> Graph task(String id,
                TornadoFunctions.Task10<A, B, C, D, E, F, G, H, I, J> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j) {
            use(a, b, c, dd, e, f, gg, h, i, j);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j));
        }

        <A, B, C, D, E, F, G, H, I, J, K> Graph task(String id,
                TornadoFunctions.Task11<A, B, C, D, E, F, G, H, I, J, K> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L> Graph task(String id,
                TornadoFunctions.Task12<A, B, C, D, E, F, G, H, I, J, K, L> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L, M> Graph task(String id,
                TornadoFunctions.Task13<A, B, C, D, E, F, G, H, I, J, K, L, M> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll, M m) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll, m);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll, m));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L, M, N> Graph task(String id,
                TornadoFunctions.Task14<A, B, C, D, E, F, G, H, I, J, K, L, M, N> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll, M m, N nn) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L, M, N, O> Graph task(String id,
                TornadoFunctions.Task15<A, B, C, D, E, F, G, H, I, J, K, L, M, N, O> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll, M m, N nn, O o) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P> Graph task(String id,
                TornadoFunctions.Task16<A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll, M m, N nn, O o, P p) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o, p);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o, p));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q> Graph task(String id,
                TornadoFunctions.Task17<A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll, M m, N nn, O o, P p, Q q) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o, p, q);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o, p, q));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R> Graph task(String id,
                TornadoFunctions.Task18<A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll, M m, N nn, O o, P p, Q q, R r) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o, p, q, r);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o, p, q, r));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T> Graph task(String id,
                TornadoFunctions.Task20<A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll, M m, N nn, O o, P p, Q q, R r, S ss, T tt) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o, p, q, r, ss, tt);
            return add(id, tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll, m, nn, o, p, q, r, ss, tt));
        }

        /** Declares the transfers (see the class comment), then the tasks, then what stays or comes back. */
        TaskGraph close() {
            for (String id : ids) {
                if (!shaped.contains(id)) throw new IllegalStateException("task " + name + "." + id + " has no launch shape");
            }
            TaskGraph tg = new TaskGraph(name);
            if (previous != null && !onDeviceInOrder.isEmpty()) tg.consumeFromDevice(previous, onDeviceInOrder.toArray());
            List<Object> firstTime = new ArrayList<>(), everyTime = new ArrayList<>(), back = new ArrayList<>();
            for (Object o : usedInOrder) {
                if (outputsEveryStep.contains(o) || extraOutputs.contains(o)) {
                    back.add(o);
                } else if (inputsEveryExecution.contains(o)) {
                    everyTime.add(o);  // never handed on: its host value changes between two runs of one graph
                } else if (!onDevice.contains(o)) {
                    (inputsEveryStep.contains(o) ? everyTime : firstTime).add(o);
                    onDevice.add(o);
                    onDeviceInOrder.add(o);
                }
            }
            if (!firstTime.isEmpty()) tg.transferToDevice(DataTransferMode.FIRST_EXECUTION, firstTime.toArray());
            if (!everyTime.isEmpty()) tg.transferToDevice(DataTransferMode.EVERY_EXECUTION, everyTime.toArray());
            for (var t : tasks) t.accept(tg);
            if (!back.isEmpty()) tg.transferToHost(DataTransferMode.EVERY_EXECUTION, back.toArray());
            tg.persistOnDevice(onDeviceInOrder.toArray());
            previous = name;
            return tg;
        }
    }
}
