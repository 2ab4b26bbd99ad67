package org.lomo4j.model;

import org.lomo4j.kernels.Attention;
import org.lomo4j.kernels.Bias;
import org.lomo4j.kernels.CrossEntropy;
import org.lomo4j.kernels.Embedding;
import org.lomo4j.kernels.Half;
import org.lomo4j.kernels.Matmul;
import org.lomo4j.kernels.Residual;
import org.lomo4j.kernels.RmsNorm;
import org.lomo4j.kernels.Rope;
import org.lomo4j.kernels.SwiGlu;
import org.lomo4j.kernels.simd.AttentionVector;
import org.lomo4j.kernels.simd.MatmulVector;
import org.lomo4j.kernels.simd.Simd;
import org.lomo4j.kernels.simd.SwiGluVector;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.parallel.Parallel;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A LLaMA decoder on the JVM backend: the parameters, the activations, and the orchestration that runs
 * each kernel's per-item body over its items on all cores.
 *
 * <p>Weights may be stored in 16 bits ({@link ParamDtype}); everything is computed in fp32. A 16-bit weight
 * is widened where it is read: while the SIMD matmul packs it into panels (which it does anyway), a row at
 * a time for the embedding, and into a small scratch for norm weights, biases and the plain kernels.
 *
 * <p>Backward walks the blocks from the top. Inside each layer it first computes the gradient flowing to
 * the layer's input, with the weights as they were in forward, and only then hands the weight's gradient
 * to the {@link GradientSink}, which may update the weight in place (LOMO). The LM head is the same, one
 * vocabulary tile of rows at a time: a tile's logits are recomputed, turned into their gradient, added to the
 * final norm's input gradient with the tile's current weights, and only then is the tile's gradient handed
 * over, so that neither the (N, V) logits nor the head's whole gradient ever exist.
 *
 * <p>With {@link #setCheckpointing activation checkpointing}, forward keeps only each block's input;
 * backward recomputes one block's forward from it just before that block's backward (the top block's is
 * still there from forward). The recomputed activations are the forward's bit for bit, since the block's
 * weights are updated only after its backward, so the gradients are too.
 */
public final class LlamaModel implements KvDecoder {
    private final LlamaConfig cfg;
    private final ParameterLayout layout;
    private final Parameters parameters;  // every weight, at the offsets of the layout
    private KvCache cache;                // generation's keys and values, between prefill and endGeneration
    private float[] ropeCos = new float[0];  // (T, HD/2), for the longest sequence reserved
    private float[] ropeSin = new float[0];  // (T, HD/2)
    private final Parallel par;
    private final MemoryLedger ledger;
    private Activations acts;
    private float[] matmulWorkspace;  // (threads, workspaceStride) the SIMD matmul's packed A blocks, sized with the activations
    private int workspaceStride;
    private float[] wPacked;          // the weight of the running forward or input gradient, in panels (B, shared by the workers)
    private float[] xPacked;          // (N, maxCols) a weight's input in column panels, for its gradient's tiles
    private float[] xPackedFrom;      // the activation xPacked holds, so q, k and v (gate and up) pack theirs once
    private float[] kT;               // (B, NKV, HD, Tp) a layer's K transposed, for AttentionVector
    private float[] vT;               // (B, NKV, HD, Tp) its V transposed (backward)
    private float[] qT;               // (B, NH, HD, Tp) its Q transposed (backward)
    private float[] doutT;            // (B, NH, HD, Tp) its attention output's gradient transposed (backward)
    private float[] attentionWork;    // (threads, WORK_FLOATS) a block of scores per worker
    private float[] fullLogits;       // (N, V) only for logits(): training and generation never hold it
    private float[] widenedVector;    // (maxCols) a 16-bit norm weight or bias, widened
    private float[] widenedMatrix;    // a 16-bit weight widened for the plain kernels (no SIMD), or null
    private boolean checkpointing;    // keep only each block's input; backward recomputes the block
    private int workingBlock = -1;    // the block whose activations the working block holds (checkpointing)

    // The batch of the last forward, which backward differentiates.
    private int[] tokens;
    private int[] targets;
    private int batchSize;
    private int seqLen;
    private boolean lossComputed;
    private float lossScale;              // d(mean loss)/d(per-token loss): 1 / counted targets
    private float gradientScale = 1f;     // backward's seed is multiplied by it: a loss scale (float16 weights)
    private boolean keepOutputGradients;  // this backward leaves each weight's output gradient for a replay
    private boolean replayable;           // the activations now hold what replayWeightGradients reads

    /** A model over one flat fp32 array of {@code cfg}'s parameters, at the layout's offsets. */
    public LlamaModel(LlamaConfig cfg, float[] params, Parallel par, MemoryLedger ledger) {
        this(cfg, Parameters.of(new ParameterLayout(cfg), params), par, ledger);
    }

    public LlamaModel(LlamaConfig cfg, Parameters parameters, Parallel par, MemoryLedger ledger) {
        this.cfg = cfg;
        this.layout = parameters.layout();
        this.parameters = parameters;
        this.par = par;
        this.ledger = ledger;
    }

    /** A model with fresh fp32 weights: N(0, 0.02) matrices (HF's initializer_range), unit norm weights, zero biases. */
    public static LlamaModel initialize(LlamaConfig cfg, long seed, Parallel par, MemoryLedger ledger) {
        return initialize(cfg, ParamDtype.F32, seed, par, ledger);
    }

    /** Fresh weights stored as {@code dtype}: the fp32 draws of the seed, rounded to nearest when 16-bit. */
    public static LlamaModel initialize(LlamaConfig cfg, ParamDtype dtype, long seed, Parallel par, MemoryLedger ledger) {
        Parameters p = Parameters.allocate(new ParameterLayout(cfg), dtype, ledger);
        SplittableRandom rng = new SplittableRandom(seed);
        for (Tensor t : p.layout().tensors()) {
            for (int i = 0; i < t.size(); i++) {
                p.set(t, i, t.bias() ? 0f : t.vector() ? 1f : (float) (0.02 * rng.nextGaussian()));
            }
        }
        return new LlamaModel(cfg, p, par, ledger);
    }

    public LlamaConfig config() {
        return cfg;
    }

    public ParameterLayout layout() {
        return layout;
    }

    /** The weights; writes change the model. */
    public Parameters parameters() {
        return parameters;
    }

    /** The weights as one flat fp32 array (P), for fp32 models below 2³¹ parameters; writes change the model. */
    public float[] params() {
        return parameters.flat();
    }

    public Parallel parallel() {
        return par;
    }

    public MemoryLedger ledger() {
        return ledger;
    }

    /**
     * Bytes of the SIMD kernels' workspace (scratch: one matmul block per worker, one weight in panels, one
     * weight's input in panels, and one layer's K or V transposed; 0 without SIMD or activations).
     */
    public long workspaceBytes() {
        long bytes = 0;
        for (float[] a : new float[][] {matmulWorkspace, wPacked, xPacked, kT, vT, qT, doutT, attentionWork, widenedVector, widenedMatrix}) {
            if (a != null) bytes += 4L * a.length;
        }
        return bytes;
    }

    /**
     * Activation checkpointing on or off: with it, forward keeps each block's input only and backward
     * recomputes each block's forward; gradients are unchanged. Takes effect at the next {@link #reserve}
     * (activations are reallocated when the mode changes).
     */
    public void setCheckpointing(boolean on) {
        if (on != checkpointing) releaseActivations();
        checkpointing = on;
    }

    public boolean checkpointing() {
        return checkpointing;
    }

    /**
     * Backward then differentiates {@code scale} times the loss: every gradient comes out times {@code scale}
     * (LOMO's loss scaling). 1 by default.
     */
    public void setGradientScale(float scale) {
        this.gradientScale = scale;
    }

    /** Makes sure activations hold batches of {@code b × t}; reallocates only when they grow. */
    public void reserve(int b, int t) {
        if (acts != null && acts.maxBatch() >= b && acts.maxSeq() >= t) return;
        int nb = acts == null ? b : Math.max(b, acts.maxBatch());
        int nt = acts == null ? t : Math.max(t, acts.maxSeq());
        releaseActivations();
        acts = new Activations(cfg, nb, nt, checkpointing, ledger);
        ropeTables(nt);
        workingBlock = -1;
        allocateWorkspace(cfg, layout, nb, nt, par.threads(), ledger);
    }

    /** RoPE's tables for positions 0..positions−1: the positions in use, not max_position_embeddings (which may be in the millions). */
    private void ropeTables(int positions) {
        int half = cfg.headDim() / 2;
        if (ropeCos.length >= positions * half) return;
        ropeCos = new float[positions * half];
        ropeSin = new float[positions * half];
        Rope.tables(ropeCos, ropeSin, positions, cfg.ropeInverseFrequencies());
    }

    /**
     * The SIMD kernels' scratch for batches of {@code b × t} (nothing without SIMD), allocated from
     * {@code ledger}: what {@link #reserve} adds to the activations, and what a memory plan counts.
     */
    private void allocateWorkspace(LlamaConfig cfg, ParameterLayout layout, int nb, int nt, int threads, MemoryLedger ledger) {
        if (Simd.enabled()) {
            // A's rows: a task's tokens, or a gradient tile's rows; depth: IN, OUT or the token count.
            int n = nb * nt;
            workspaceStride = MatmulVector.workspaceFloats(Math.max(n, GradientSink.TILE_ROWS),
                    Math.max(n, Math.max(layout.maxRows(), layout.maxCols())));
            matmulWorkspace = ledger.floats(Category.SCRATCH, (long) threads * workspaceStride);
            // A weight as the forward's B (depth IN, OUT columns) or the input gradient's (depth OUT, IN columns).
            // The head only ever runs one vocabulary tile of its rows at a time; an untied embedding is only read by rows.
            int packed = 0;
            for (Tensor w : layout.tensors()) {
                if (w.vector() || (w.equals(layout.embedding()) && !layout.tied())) continue;
                int rows = w.equals(layout.head()) ? Activations.vocabTile(cfg) : w.rows();
                packed = Math.max(packed, Math.max(MatmulVector.packedFloats(w.cols(), rows), MatmulVector.packedFloats(rows, w.cols())));
            }
            wPacked = ledger.floats(Category.SCRATCH, packed);
            xPacked = ledger.floats(Category.SCRATCH, MatmulVector.packedFloats(n, layout.maxCols()));
            long padded = (long) nb * AttentionVector.paddedSeq(nt);  // transposed rows are padded to whole vectors
            kT = ledger.floats(Category.SCRATCH, padded * cfg.kvDim());
            vT = ledger.floats(Category.SCRATCH, padded * cfg.kvDim());
            qT = ledger.floats(Category.SCRATCH, padded * cfg.numAttentionHeads() * cfg.headDim());
            doutT = ledger.floats(Category.SCRATCH, padded * cfg.numAttentionHeads() * cfg.headDim());
            attentionWork = ledger.floats(Category.SCRATCH, (long) threads * AttentionVector.WORK_FLOATS);
        }
        if (parameters.dtype().half()) {
            widenedVector = ledger.floats(Category.SCRATCH, layout.maxCols());
            if (!Simd.enabled()) {
                long largest = 0;  // as wPacked: the head a vocabulary tile at a time, an untied embedding never
                for (Tensor w : layout.tensors()) {
                    if (w.vector() || (w.equals(layout.embedding()) && !layout.tied())) continue;
                    largest = Math.max(largest, (long) (w.equals(layout.head()) ? Activations.vocabTile(cfg) : w.rows()) * w.cols());
                }
                widenedMatrix = ledger.floats(Category.SCRATCH, largest);
            }
        }
    }

    /** Frees the activations and the matmul workspace (their bytes return to the ledger). */
    public void releaseActivations() {
        if (acts != null) acts.release();
        acts = null;
        if (matmulWorkspace != null) ledger.release(Category.SCRATCH, matmulWorkspace);
        if (wPacked != null) ledger.release(Category.SCRATCH, wPacked);
        if (xPacked != null) ledger.release(Category.SCRATCH, xPacked);
        for (float[] a : new float[][] {kT, vT, qT, doutT, attentionWork, widenedVector, widenedMatrix}) {
            if (a != null) ledger.release(Category.SCRATCH, a);
        }
        if (fullLogits != null) ledger.release(Category.ACTIVATIONS, fullLogits);
        matmulWorkspace = null;
        wPacked = null;
        xPacked = null;
        kT = vT = qT = doutT = attentionWork = widenedVector = widenedMatrix = fullLogits = null;
        workingBlock = -1;
    }

    /**
     * Forward with the loss: the mean cross-entropy over the counted targets, over vocabulary tiles (no
     * (N, V) logits). Keeps what backward needs, including one log-sum-exp per token.
     */
    public float forward(Batch batch) {
        computeHidden(batch.tokens(), batch.batchSize(), batch.seqLen());
        targets = batch.targets();
        int n = batch.size();
        int counted = batch.countedTargets();
        lossScale = counted == 0 ? 0f : 1f / counted;
        float[] max = acts.lse, sums = acts.lseSums, losses = acts.losses, tile = acts.logitsTile;
        Arrays.fill(max, 0, n, Float.NEGATIVE_INFINITY);
        Arrays.fill(sums, 0, n, 0f);
        Arrays.fill(losses, 0, n, 0f);
        int[] tg = targets;
        forEachVocabTile((head, v0, cols) -> {
            matmul(tile, acts.lnf, head, n);
            par.forEach(n, (lo, hi, w) -> {
                for (int i = lo; i < hi; i++) CrossEntropy.tileForwardRow(max, sums, losses, tile, tg, v0, cols, i);
            });
        });
        par.forEach(n, (lo, hi, w) -> {
            for (int i = lo; i < hi; i++) CrossEntropy.tileFinishRow(losses, max, sums, tg, i);
        });
        lossComputed = true;
        ledger.live(Category.ACTIVATIONS, acts.headBytes());
        ledger.mark("head");
        return batch.meanLoss(losses);
    }

    /** Rows [v0, v0 + cols) of the LM head: one vocabulary tile. */
    @FunctionalInterface
    private interface VocabTile {
        void run(Tensor headRows, int v0, int cols);
    }

    /** Runs {@code body} over the head's vocabulary tiles in order, each as a tensor of its rows. */
    private void forEachVocabTile(VocabTile body) {
        Tensor head = layout.head();
        int c = head.cols();
        for (int v0 = 0; v0 < head.rows(); v0 += acts.vocabTile) {
            int cols = Math.min(acts.vocabTile, head.rows() - v0);
            body.run(head.rows(v0, cols), v0, cols);
        }
    }

    /**
     * Forward to the logits only (no loss, nothing kept for backward). Returns an (N, V) buffer, valid until
     * the next forward; it is the one (N, V) buffer lomo4j makes, for tests and tools that compare logits.
     */
    public float[] logits(int[] tokens, int b, int t) {
        computeHidden(tokens, b, t);
        lossComputed = false;
        long size = (long) b * t * cfg.vocabSize();
        if (fullLogits == null || fullLogits.length < size) {
            if (fullLogits != null) ledger.release(Category.ACTIVATIONS, fullLogits);
            fullLogits = ledger.floats(Category.ACTIVATIONS, size);
        }
        headLogits(fullLogits, acts.lnf, b * t);
        return fullLogits;
    }

    /**
     * Forward, then the logits of sequence i at position {@code positions[i]} only: a (B, V) buffer, row i
     * at {@code i · V}, valid until the next forward. What generation needs for each next token.
     */
    public float[] nextTokenLogits(int[] tokens, int b, int t, int[] positions) {
        computeHidden(tokens, b, t);
        lossComputed = false;
        int c = cfg.hiddenSize();
        float[] rows = acts.dln;  // free outside backward
        for (int i = 0; i < b; i++) System.arraycopy(acts.lnf, (i * t + positions[i]) * c, rows, i * c, c);
        headLogits(acts.nextLogits, rows, b);
        return acts.nextLogits;
    }

    /**
     * Generation with a key/value cache, first step: the forward of b prompts right-padded to t tokens, which
     * fills a cache of up to {@code maxLen} positions per row, and each row's logits at {@code last[i]} (as
     * {@link #nextTokenLogits}). Then {@link #decode} adds one token per row; {@link #endGeneration} frees the cache.
     */
    @Override
    public float[] prefill(int[] tokens, int b, int t, int[] last, int maxLen) {
        if (maxLen > cfg.maxPositionEmbeddings() || maxLen < t) {
            throw new IllegalArgumentException("a cache of " + maxLen + " positions for prompts of " + t + " tokens (max_position_embeddings "
                    + cfg.maxPositionEmbeddings() + ")");
        }
        endGeneration();
        cache = new KvCache(cfg, b, maxLen, ledger);
        ropeTables(maxLen);
        return nextTokenLogits(tokens, b, t, last);
    }

    /**
     * One new token per row, row i's at position {@code positions[i]} (the cache holds its positions before):
     * the logits (rows, V) that follow it, in a buffer valid until the next call.
     */
    @Override
    public float[] decode(int[] next, int[] positions) {
        int b = next.length;
        if (cache == null || cache.rows != b) throw new IllegalStateException("decode needs a prefill of " + b + " rows first");
        for (int i = 0; i < b; i++) {
            if (positions[i] < 0 || positions[i] >= cache.maxLen) {
                throw new IllegalArgumentException("position " + positions[i] + " outside the cache of " + cache.maxLen);
            }
            if (next[i] < 0 || next[i] >= cfg.vocabSize()) {
                throw new IllegalArgumentException("token id " + next[i] + " outside the vocabulary [0, " + cfg.vocabSize() + ")");
            }
        }
        lossComputed = false;
        replayable = false;
        embed(next, b);
        for (int l = 0; l < cfg.numHiddenLayers(); l++) decodeBlock(l, acts.residual[l], acts.residual[l + 1], positions);
        workingBlock = -1;  // the block buffers now hold one decoded token per row
        rmsnorm(acts.lnf, acts.rstdf, acts.residual[cfg.numHiddenLayers()], layout.finalNorm(), b);
        headLogits(acts.nextLogits, acts.lnf, b);
        return acts.nextLogits;
    }

    /**
     * For a memory plan: counts a key/value cache of {@code rowPositions} rows × positions on the ledger, and gives it
     * back (its peak stays counted), as evaluation's generation would hold it between training steps.
     */
    public void planGenerationCache(long rowPositions) {
        if (rowPositions > 0) new KvCache(cfg, 1, Math.toIntExact(rowPositions), ledger).release();
    }

    /** Frees the cache of the last {@link #prefill}, if any. */
    @Override
    public void endGeneration() {
        if (cache != null) cache.release();
        cache = null;
    }

    /** q, k and v of n tokens from ln1; with Qwen3's norms, q and k are normalized per head from their raw projections. */
    private void projectQkv(Activations.Block a, ParameterLayout.Block w, int n) {
        boolean qkNorm = w.qNorm() != null;
        matmul(qkNorm ? a.qRaw : a.q, a.ln1, w.wq(), w.bq(), n);
        matmul(qkNorm ? a.kRaw : a.k, a.ln1, w.wk(), w.bk(), n);
        matmul(a.v, a.ln1, w.wv(), w.bv(), n);
        if (qkNorm) {
            rmsnorm(a.q, a.rstdQ, a.qRaw, w.qNorm(), n * cfg.numAttentionHeads());
            rmsnorm(a.k, a.rstdK, a.kRaw, w.kNorm(), n * cfg.numKeyValueHeads());
        }
    }

    /** {@link #blockForward} for one new token per row, attending to the cache. */
    private void decodeBlock(int l, float[] x, float[] out, int[] positions) {
        ParameterLayout.Block w = layout.blocks().get(l);
        Activations.Block a = acts.block(l);
        int b = positions.length, nh = cfg.numAttentionHeads(), nkv = cfg.numKeyValueHeads(), hd = cfg.headDim();
        rmsnorm(a.ln1, a.rstd1, x, w.inputNorm(), b);
        projectQkv(a, w, b);
        par.forEach(b * nh, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.forwardAtItem(a.q, ropeCos, ropeSin, positions, nh, hd, i);
        });
        par.forEach(b * nkv, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.forwardAtItem(a.k, ropeCos, ropeSin, positions, nkv, hd, i);
        });
        cache.store(l, a.k, a.v, positions);
        float[] keys = cache.keys(l), values = cache.values(l);
        int maxLen = cache.maxLen;
        par.forEach(b * nh, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Attention.decodeItem(a.att, a.q, keys, values, 0, positions, maxLen, nh, nkv, hd, i);
        });
        attentionOutputAndMlp(a, w, x, out, b);
    }

    /** {@code out} (n, V) = x · headᵀ, a vocabulary tile at a time through the tile buffer. */
    private void headLogits(float[] out, float[] x, int n) {
        float[] tile = acts.logitsTile;
        int vocab = cfg.vocabSize();
        forEachVocabTile((rows, v0, cols) -> {
            matmul(tile, x, rows, n);
            par.forEach(n, (lo, hi, w) -> {
                for (int i = lo; i < hi; i++) System.arraycopy(tile, i * cols, out, i * vocab + v0, cols);
            });
        });
    }

    /** Embedding, every block and the final norm: the hidden states {@code lnf} the head reads. */
    private void computeHidden(int[] tokens, int b, int t) {
        if (tokens.length != b * t) throw new IllegalArgumentException("expected " + b * t + " tokens");
        for (int tok : tokens) {
            if (tok < 0 || tok >= cfg.vocabSize()) {
                throw new IllegalArgumentException("token id " + tok + " outside the vocabulary [0, " + cfg.vocabSize() + ")");
            }
        }
        reserve(b, t);
        replayable = false;
        this.tokens = tokens;
        this.batchSize = b;
        this.seqLen = t;
        int n = b * t;
        embed(tokens, n);
        for (int l = 0; l < cfg.numHiddenLayers(); l++) {
            blockForward(l, acts.residual[l], acts.residual[l + 1]);
            ledger.live(Category.ACTIVATIONS, acts.keptBytes(l));
            ledger.mark("forward " + l);
        }
        float[] xL = acts.residual[cfg.numHiddenLayers()];
        rmsnorm(acts.lnf, acts.rstdf, xL, layout.finalNorm(), n);
    }

    /** The embedding rows of {@code tokens[0..n)} into {@code residual[0]}. */
    private void embed(int[] tokens, int n) {
        int c = cfg.hiddenSize();
        Tensor emb = layout.embedding();
        float[] x0 = acts.residual[0];
        if (parameters.dtype().half()) {
            par.forEach(n, (lo, hi, w) -> {
                for (int i = lo; i < hi; i++) parameters.readRows(emb, tokens[i], 1, x0, i * c);
            });
        } else {
            float[] p = parameters.floats(emb);
            par.forEach(n, (lo, hi, w) -> {
                for (int i = lo; i < hi; i++) Embedding.forwardRow(x0, tokens, p, emb.offset(), c, i);
            });
        }
    }

    /**
     * Block l's forward from its input x into its activations, and its output into {@code out}; a
     * recomputation under checkpointing passes null, since backward needs neither the down projection's
     * output nor the residual sum.
     */
    private void blockForward(int l, float[] x, float[] out) {
        ParameterLayout.Block w = layout.blocks().get(l);
        Activations.Block a = acts.block(l);
        workingBlock = l;
        int n = batchSize * seqLen;
        int nh = cfg.numAttentionHeads();
        int nkv = cfg.numKeyValueHeads();
        int hd = cfg.headDim();
        int t = seqLen;

        rmsnorm(a.ln1, a.rstd1, x, w.inputNorm(), n);
        projectQkv(a, w, n);
        par.forEach(n * nh, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.forwardItem(a.q, ropeCos, ropeSin, t, nh, hd, i);
        });
        par.forEach(n * nkv, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.forwardItem(a.k, ropeCos, ropeSin, t, nkv, hd, i);
        });
        if (cache != null) cache.storePrompt(l, a.k, a.v, t);
        boolean simd = Simd.enabled();
        if (simd) transpose(kT, a.k, nkv);
        float[] work = attentionWork;
        par.forEach(batchSize * nh * t, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) AttentionVector.forwardItem(a.att, a.lse, a.q, kT, a.v, work, wk * AttentionVector.WORK_FLOATS, t, nh, nkv, hd, i);
                else Attention.forwardItem(a.att, a.lse, a.q, a.k, a.v, t, nh, nkv, hd, i);
            }
        });
        attentionOutputAndMlp(a, w, x, out, n);
    }

    /**
     * The rest of a block after attention, for n rows: o_proj, the residual, the post-attention norm and the MLP,
     * and, unless {@code out} is null (a recomputation), the down projection and the second residual into it.
     */
    private void attentionOutputAndMlp(Activations.Block a, ParameterLayout.Block w, float[] x, float[] out, int n) {
        int c = cfg.hiddenSize(), f = cfg.intermediateSize();
        matmul(a.res1, a.att, w.wo(), n);
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Residual.addRow(a.res1, x, c, i);
        });
        rmsnorm(a.ln2, a.rstd2, a.res1, w.postAttnNorm(), n);
        matmul(a.gate, a.ln2, w.wGate(), n);
        matmul(a.up, a.ln2, w.wUp(), n);
        boolean simd = Simd.enabled();
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) SwiGluVector.forwardRow(a.h, a.gate, a.up, f, i);
                else SwiGlu.forwardRow(a.h, a.gate, a.up, f, i);
            }
        });
        if (out == null) return;
        matmul(out, a.h, w.wDown(), n);
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Residual.addRow(out, a.res1, c, i);
        });
    }

    /**
     * Backward of the last {@link #forward}: every weight's gradient goes to {@code sink}, layer by layer
     * from the top. The forward's activations are left intact, so backward can run again.
     */
    public void backward(GradientSink sink) {
        backward(sink, false);
    }

    /**
     * Backward as {@link #backward(GradientSink)}, which then leaves every weight's output gradient (dy) in
     * an activation buffer that only the input-gradient chain needed: dq, dk, dv over q, k, v (read by the
     * attention backward), dgate and dup over gate and up (read by the SwiGLU backward), o_proj's dy over
     * res1 and down_proj's over the block's output (read by the RMSNorm backwards); the norms' own
     * gradients, one row each, go to a small buffer. {@link #replayWeightGradients} then hands the sink
     * every gradient again, bit for bit, with only the weight-gradient products to compute: a second
     * backward without the input gradients, the attention and the norms, and in no more memory. The
     * activations are used up: another backward needs another forward.
     */
    public void backwardKeepingOutputGradients(GradientSink sink) {
        if (checkpointing) {
            throw new IllegalStateException("with activation checkpointing there are no activation buffers to keep output gradients in");
        }
        backward(sink, true);
        lossComputed = false;
        replayable = true;
    }

    /**
     * Every weight's gradient of the last {@link #backwardKeepingOutputGradients}, handed to {@code sink} in
     * the same order and with the same values, from the output gradients it kept. This is the second pass
     * of LOMO's global-norm clipping: the first measures ‖g‖, this one updates.
     */
    public void replayWeightGradients(GradientSink sink) {
        if (!replayable) throw new IllegalStateException("replay needs backwardKeepingOutputGradients first");
        xPackedFrom = null;
        int n = batchSize * seqLen;
        int layers = cfg.numHiddenLayers();
        headBackward(sink, false);
        keptNormGradient(sink, layout.finalNorm(), 2 * layers);
        for (int l = layers - 1; l >= 0; l--) {
            ParameterLayout.Block w = layout.blocks().get(l);
            Activations.Block a = acts.block(l);
            weightGradient(sink, acts.residual[l + 1], a.h, w.wDown(), n, true);
            weightGradient(sink, a.gate, a.ln2, w.wGate(), n, true);
            weightGradient(sink, a.up, a.ln2, w.wUp(), n, true);
            keptNormGradient(sink, w.postAttnNorm(), 2 * l + 1);
            weightGradient(sink, a.res1, a.att, w.wo(), n, true);
            if (w.qNorm() != null) {
                keptNormGradient(sink, w.qNorm(), 2 * layers + 1 + 2 * l);
                keptNormGradient(sink, w.kNorm(), 2 * layers + 2 + 2 * l);
            }
            weightGradient(sink, a.q, a.ln1, w.wq(), n, true);
            biasBackward(sink, a.q, w.bq(), n);
            weightGradient(sink, a.k, a.ln1, w.wk(), n, true);
            biasBackward(sink, a.k, w.bk(), n);
            weightGradient(sink, a.v, a.ln1, w.wv(), n, true);
            biasBackward(sink, a.v, w.bv(), n);
            keptNormGradient(sink, w.inputNorm(), 2 * l);
        }
        embeddingGradient(sink, acts.dres);  // the gradient of block 0's input, where the first pass left it
    }

    private void backward(GradientSink sink, boolean keep) {
        if (!lossComputed) throw new IllegalStateException("backward needs a forward with targets first");
        keepOutputGradients = keep;
        replayable = false;
        xPackedFrom = null;
        int n = batchSize * seqLen;

        // LM head and final norm.
        zero(acts.dln, (long) n * cfg.hiddenSize());
        headBackward(sink, true);
        ledger.mark("head backward");
        zero(acts.dres, (long) n * cfg.hiddenSize());
        rmsnormBackward(sink, acts.dres, acts.dln, acts.residual[cfg.numHiddenLayers()], acts.rstdf, layout.finalNorm(), n,
                2 * cfg.numHiddenLayers());

        for (int l = cfg.numHiddenLayers() - 1; l >= 0; l--) {
            if (checkpointing && workingBlock != l) {
                blockForward(l, acts.residual[l], null);
                xPackedFrom = null;  // the working block's buffers now hold block l's values
            }
            blockBackward(sink, l);
            ledger.live(Category.ACTIVATIONS, -acts.keptBytes(l));
            ledger.mark("backward " + l);
        }

        // Embedding: the last use of its weight.
        embeddingGradient(sink, acts.dres);
        ledger.live(Category.ACTIVATIONS, -acts.headBytes());
        ledger.mark("embedding");
    }

    /**
     * The LM head, one vocabulary tile at a time: the tile's logits recomputed from {@code lnf}, turned into
     * their gradient in place with the forward's log-sum-exp, added to {@code dln} through the tile's current
     * weights ({@code withInputGradient}), and then the tile's rows of the head's gradient go to the sink.
     */
    private void headBackward(GradientSink sink, boolean withInputGradient) {
        Tensor head = layout.head();
        // A sink that measures a whole gradient before it changes any of it (AdaLomo) sees an untied head that
        // comes in several vocabulary tiles twice: to measure, then to update, each tile's logits recomputed.
        boolean twice = sink.measuresFirst() && !layout.tied() && acts.vocabTile < head.rows();
        GradientSink first = twice ? (t, r0, r1, gradient, lastUse) -> sink.measure(t, r0, r1, gradient) : sink;
        forEachVocabTile((rows, v0, cols) -> {
            logitsGradientTile(rows, v0, cols);
            if (withInputGradient) inputGradient(acts.dln, acts.logitsTile, rows, batchSize * seqLen);
            weightGradient(first, acts.logitsTile, acts.lnf, head, v0, v0 + cols, batchSize * seqLen, !layout.tied());
        });
        if (!twice) return;
        forEachVocabTile((rows, v0, cols) -> {
            logitsGradientTile(rows, v0, cols);
            weightGradient(sink, acts.logitsTile, acts.lnf, head, v0, v0 + cols, batchSize * seqLen, true);
        });
    }

    /** One vocabulary tile's logits recomputed from {@code lnf} into the logits tile, then turned into their gradient in place. */
    private void logitsGradientTile(Tensor rows, int v0, int cols) {
        int n = batchSize * seqLen;
        float[] tile = acts.logitsTile, lse = acts.lse;
        int[] tg = targets;
        float scale = lossScale * gradientScale;
        matmul(tile, acts.lnf, rows, n);
        par.forEach(n, (lo, hi, w) -> {
            for (int i = lo; i < hi; i++) CrossEntropy.tileBackwardRow(tile, lse, tg, scale, v0, cols, i);
        });
    }

    private void embeddingGradient(GradientSink sink, float[] dx) {
        int n = batchSize * seqLen;
        int c = cfg.hiddenSize();
        int[] tok = tokens;
        sink.accept(layout.embedding(), (g, gOff, row0, rows, wk) -> {
            for (int r = 0; r < rows; r++) Embedding.weightGradRow(g, gOff + r * c, dx, tok, n, c, row0 + r);
        }, true);
    }

    /** On entry {@code dres} is the gradient of the block's output; on exit, of its input. */
    private void blockBackward(GradientSink sink, int l) {
        ParameterLayout.Block w = layout.blocks().get(l);
        Activations.Block a = acts.block(l);
        float[] x = acts.residual[l];
        int n = batchSize * seqLen;
        int t = seqLen;
        int c = cfg.hiddenSize();
        int f = cfg.intermediateSize();
        int nh = cfg.numAttentionHeads();
        int nkv = cfg.numKeyValueHeads();
        int hd = cfg.headDim();
        float[] dres = acts.dres;

        // MLP: out = res1 + down(silu(gate) · up). dres flows to res1 unchanged through the residual.
        matmulBackward(sink, zero(acts.dh, (long) n * f), dres, a.h, w.wDown(), n, true);
        if (keepOutputGradients) copy(acts.residual[l + 1], dres, (long) n * c);  // block l + 1 read its input already
        zero(acts.dgate, (long) n * f);
        zero(acts.dup, (long) n * f);
        boolean simd = Simd.enabled();
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) SwiGluVector.backwardRow(acts.dgate, acts.dup, acts.dh, a.gate, a.up, f, i);
                else SwiGlu.backwardRow(acts.dgate, acts.dup, acts.dh, a.gate, a.up, f, i);
            }
        });
        zero(acts.dln, (long) n * c);
        matmulBackward(sink, acts.dln, acts.dgate, a.ln2, w.wGate(), n, true);
        matmulBackward(sink, acts.dln, acts.dup, a.ln2, w.wUp(), n, true);
        if (keepOutputGradients) {
            copy(a.gate, acts.dgate, (long) n * f);
            copy(a.up, acts.dup, (long) n * f);
        }
        rmsnormBackward(sink, dres, acts.dln, a.res1, a.rstd2, w.postAttnNorm(), n, 2 * l + 1);

        // Attention: res1 = x + o_proj(attention(rope(q), rope(k), v)).
        matmulBackward(sink, zero(acts.datt, (long) n * nh * hd), dres, a.att, w.wo(), n, true);
        if (keepOutputGradients) copy(a.res1, dres, (long) n * c);
        zero(acts.dq, (long) n * nh * hd);
        zero(acts.dk, (long) n * nkv * hd);
        zero(acts.dv, (long) n * nkv * hd);
        if (simd) {
            transpose(kT, a.k, nkv);
            transpose(vT, a.v, nkv);
            transpose(qT, a.q, nh);
            transpose(doutT, acts.datt, nh);
        }
        float[] work = attentionWork;
        int wf = AttentionVector.WORK_FLOATS;
        par.forEach(batchSize * nh * t, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) AttentionVector.backwardQueryItem(acts.dq, acts.delta, acts.datt, a.att, a.lse, a.q, a.k, kT, vT, work, wk * wf, t, nh, nkv, hd, i);
                else Attention.backwardQueryItem(acts.dq, acts.delta, acts.datt, a.att, a.lse, a.q, a.k, a.v, t, nh, nkv, hd, i);
            }
        });
        par.forEach(batchSize * nkv * t, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) AttentionVector.backwardKeyValueItem(acts.dk, acts.dv, acts.delta, a.lse, a.q, a.k, a.v, acts.datt, qT, doutT, work, wk * wf, t, nh, nkv, hd, i);
                else Attention.backwardKeyValueItem(acts.dk, acts.dv, acts.delta, a.lse, a.q, a.k, a.v, acts.datt, t, nh, nkv, hd, i);
            }
        });
        par.forEach(n * nh, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.backwardItem(acts.dq, ropeCos, ropeSin, t, nh, hd, i);
        });
        par.forEach(n * nkv, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.backwardItem(acts.dk, ropeCos, ropeSin, t, nkv, hd, i);
        });
        if (w.qNorm() != null) {
            // Qwen3: dq, dk are the gradients of the normalized heads; their norms' backward gives the projections'.
            int layers = cfg.numHiddenLayers();
            headNormBackward(sink, acts.dq, a.qRaw, a.rstdQ, w.qNorm(), n * nh, 2 * layers + 1 + 2 * l);
            headNormBackward(sink, acts.dk, a.kRaw, a.rstdK, w.kNorm(), n * nkv, 2 * layers + 2 + 2 * l);
        }
        zero(acts.dln, (long) n * c);
        matmulBackward(sink, acts.dln, acts.dq, a.ln1, w.wq(), n, true);
        biasBackward(sink, acts.dq, w.bq(), n);
        matmulBackward(sink, acts.dln, acts.dk, a.ln1, w.wk(), n, true);
        biasBackward(sink, acts.dk, w.bk(), n);
        matmulBackward(sink, acts.dln, acts.dv, a.ln1, w.wv(), n, true);
        biasBackward(sink, acts.dv, w.bv(), n);
        if (keepOutputGradients) {
            copy(a.q, acts.dq, (long) n * nh * hd);
            copy(a.k, acts.dk, (long) n * nkv * hd);
            copy(a.v, acts.dv, (long) n * nkv * hd);
        }
        rmsnormBackward(sink, dres, acts.dln, x, a.rstd1, w.inputNorm(), n, 2 * l);
    }

    private void matmul(float[] y, float[] x, Tensor w, int n) {
        int in = w.cols();
        int out = w.rows();
        if (Simd.enabled()) {
            float[] ws = matmulWorkspace, wp = wPacked;
            packWeight(w, true);
            forEachTokenBlock(n, (n0, n1, wsOff) -> MatmulVector.forwardRows(y, x, wp, in, out, n0, n1, ws, wsOff));
            return;
        }
        float[] p = widen(w);
        int off = widenedOffset(w);
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Matmul.forwardRow(y, x, p, off, in, out, i);
        });
    }

    /**
     * W into {@code wPacked} in panels, widened if it is 16-bit: transposed (depth IN) for the forward, by
     * columns (depth OUT) for the input gradient.
     */
    private void packWeight(Tensor w, boolean transposed) {
        int out = w.rows(), in = w.cols(), off = w.offset();
        float[] wp = wPacked;
        int panels = MatmulVector.panels(transposed ? out : in);
        if (parameters.dtype().half()) {
            short[] h = parameters.halves(w);
            int format = parameters.dtype().halfFormat;
            par.forEach(panels, (lo, hi, wk) -> {
                if (transposed) MatmulVector.packTransposedHalf(wp, h, off, out, in, lo, hi, format);
                else MatmulVector.packColumnsHalf(wp, h, off, out, in, lo, hi, format);
            });
        } else {
            float[] p = parameters.floats(w);
            par.forEach(panels, (lo, hi, wk) -> {
                if (transposed) MatmulVector.packTransposed(wp, p, off, out, in, lo, hi);
                else MatmulVector.packColumns(wp, p, off, out, in, lo, hi);
            });
        }
    }

    /** Tokens [n0, n1) of a SIMD matmul, run by the worker whose workspace is at {@code wsOff}. */
    @FunctionalInterface
    private interface TokenBlock {
        void run(int n0, int n1, int wsOff);
    }

    /** Runs {@code body} over the n tokens in blocks of {@link MatmulVector#rowsPerTask} on all workers. */
    private void forEachTokenBlock(int n, TokenBlock body) {
        int rows = MatmulVector.rowsPerTask(n, par.threads());
        int stride = workspaceStride;
        par.forEach((n + rows - 1) / rows, (lo, hi, wk) -> body.run(lo * rows, Math.min(n, hi * rows), wk * stride));
    }

    /** y = x · Wᵀ + b, for a projection whose bias may be absent (null). */
    private void matmul(float[] y, float[] x, Tensor w, Tensor b, int n) {
        matmul(y, x, w, n);
        if (b == null) return;
        int out = b.cols();
        float[] p = widen(b);
        int off = widenedOffset(b);
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Bias.forwardRow(y, p, off, out, i);
        });
    }

    /** A bias's gradient is dy summed over tokens; its input gradient is dy itself, already flowing on. */
    private void biasBackward(GradientSink sink, float[] dy, Tensor b, int n) {
        if (b == null) return;
        int out = b.cols();
        sink.accept(b, (g, gOff, row0, rows, wk) -> Bias.weightGrad(g, gOff, dy, n, out), true);  // one row
    }

    /** dx += dy · W with W's current values, then W's gradient {@code dyᵀ · x} goes to the sink. */
    private void matmulBackward(GradientSink sink, float[] dx, float[] dy, float[] x, Tensor w, int n, boolean lastUse) {
        inputGradient(dx, dy, w, n);
        weightGradient(sink, dy, x, w, n, lastUse);
    }

    /** dx += dy · W, with W's current values. */
    private void inputGradient(float[] dx, float[] dy, Tensor w, int n) {
        int in = w.cols();
        int out = w.rows();
        if (Simd.enabled()) {
            float[] ws = matmulWorkspace, wp = wPacked;
            packWeight(w, false);
            forEachTokenBlock(n, (n0, n1, wsOff) -> MatmulVector.inputGradRows(dx, dy, wp, in, out, n0, n1, ws, wsOff));
        } else {
            float[] p = widen(w);
            int off = widenedOffset(w);
            par.forEach(n, (lo, hi, wk) -> {
                for (int i = lo; i < hi; i++) Matmul.inputGradRow(dx, dy, p, off, in, out, i);
            });
        }
    }

    /** W's gradient {@code dyᵀ · x} to the sink, a tile of rows at a time. */
    private void weightGradient(GradientSink sink, float[] dy, float[] x, Tensor w, int n, boolean lastUse) {
        weightGradient(sink, dy, x, w, 0, w.rows(), n, lastUse);
    }

    /**
     * Rows [r0, r1) of W's gradient {@code dyᵀ · x} to the sink, a tile of rows at a time; dy (N, r1 − r0)
     * holds those rows' output gradients only.
     */
    private void weightGradient(GradientSink sink, float[] dy, float[] x, Tensor w, int r0, int r1, int n, boolean lastUse) {
        int in = w.cols();
        int out = r1 - r0;
        if (Simd.enabled()) {
            if (xPackedFrom != x) {
                par.forEach(MatmulVector.panels(in), (lo, hi, wk) -> MatmulVector.packColumns(xPacked, x, 0, n, in, lo, hi));
                xPackedFrom = x;
            }
            float[] ws = matmulWorkspace;
            int stride = workspaceStride;
            float[] xp = xPacked;
            sink.accept(w, r0, r1, (g, gOff, row0, rows, wk) -> MatmulVector.weightGradRows(g, gOff, dy, xp, n, in, out,
                    row0 - r0, rows, ws, wk * stride), lastUse);
            return;
        }
        sink.accept(w, r0, r1, (g, gOff, row0, rows, wk) -> {
            for (int r = 0; r < rows; r++) Matmul.weightGradRow(g, gOff + r * in, dy, x, n, in, out, row0 - r0 + r);
        }, lastUse);
    }

    private void rmsnorm(float[] y, float[] rstd, float[] x, Tensor w, int n) {
        int c = w.cols();
        float eps = cfg.rmsNormEps();
        float[] p = widen(w);
        int off = widenedOffset(w);
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) RmsNorm.forwardRow(y, rstd, x, p, off, c, eps, i);
        });
    }

    /**
     * W's values in fp32 at {@link #widenedOffset}: its own array when fp32, else widened into scratch (a
     * vector, or a whole matrix for the plain kernels), valid until the next call.
     */
    private float[] widen(Tensor w) {
        if (!parameters.dtype().half()) return parameters.floats(w);
        float[] dst = w.vector() ? widenedVector : widenedMatrix;
        short[] src = parameters.halves(w);
        int from = w.offset(), format = parameters.dtype().halfFormat;
        par.forEach(w.size(), (lo, hi, wk) -> Half.decode(dst, lo, src, from + lo, hi - lo, format));
        return dst;
    }

    private int widenedOffset(Tensor w) {
        return parameters.dtype().half() ? 0 : w.offset();
    }

    /**
     * dx += the norm's input gradient. Its weight's gradient (one row) goes to row {@code slot} of the kept
     * norm gradients and from there to the sink, so a replay can hand it over again after dy and x are gone.
     */
    private void rmsnormBackward(GradientSink sink, float[] dx, float[] dy, float[] x, float[] rstd, Tensor w, int n, int slot) {
        int c = w.cols();
        float[] p = widen(w);
        int off = widenedOffset(w);
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) RmsNorm.inputGradRow(dx, dy, x, rstd, p, off, c, i);
        });
        int at = slot * acts.normStride;
        Arrays.fill(acts.normGrads, at, at + c, 0f);
        RmsNorm.weightGrad(acts.normGrads, at, dy, x, rstd, n, c);
        keptNormGradient(sink, w, slot);
    }

    /**
     * A per-head norm's backward, in place: {@code d} (rows, HD), the gradient of the normalized heads, becomes
     * that of the raw ones; the norm weight's gradient goes to the sink by way of norm-gradient slot {@code slot}.
     */
    private void headNormBackward(GradientSink sink, float[] d, float[] raw, float[] rstd, Tensor w, int rows, int slot) {
        float[] dRaw = zero(acts.dRaw, (long) rows * w.cols());
        rmsnormBackward(sink, dRaw, d, raw, rstd, w, rows, slot);
        copy(d, dRaw, (long) rows * w.cols());
    }

    /** Row {@code slot} of the kept norm gradients, as the gradient of norm weight {@code w}. */
    private void keptNormGradient(GradientSink sink, Tensor w, int slot) {
        int c = w.cols();
        float[] kept = acts.normGrads;
        int at = slot * acts.normStride;
        sink.accept(w, (g, gOff, row0, rows, wk) -> {
            for (int i = 0; i < c; i++) g[gOff + i] += kept[at + i];
        }, true);  // one row
    }

    /** x (N, heads·HD) into xT as {@link AttentionVector#transposeItem} lays it out. */
    private void transpose(float[] xT, float[] x, int heads) {
        int t = seqLen, hd = cfg.headDim();
        par.forEach(batchSize * heads, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) AttentionVector.transposeItem(xT, x, t, heads, hd, i);
        });
    }

    private void copy(float[] dst, float[] src, long count) {
        int len = (int) count;
        par.forEach(len, (lo, hi, w) -> System.arraycopy(src, lo, dst, lo, hi - lo));
    }

    private float[] zero(float[] a, long count) {
        int len = (int) count;
        par.forEach(len, (lo, hi, w) -> Arrays.fill(a, lo, hi, 0f));
        return a;
    }
}
