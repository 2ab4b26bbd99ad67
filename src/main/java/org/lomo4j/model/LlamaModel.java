package org.lomo4j.model;

import org.lomo4j.kernels.Attention;
import org.lomo4j.kernels.Bias;
import org.lomo4j.kernels.CrossEntropy;
import org.lomo4j.kernels.Embedding;
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
 * A LLaMA decoder on the JVM backend: the flat parameters, the activations, and the orchestration that
 * runs each kernel's per-item body over its items on all cores.
 *
 * <p>Backward walks the blocks from the top. Inside each layer it first computes the gradient flowing to
 * the layer's input, with the weights as they were in forward, and only then hands the weight's gradient
 * to the {@link GradientSink}, which may update the weight in place (LOMO).
 */
public final class LlamaModel {
    private final LlamaConfig cfg;
    private final ParameterLayout layout;
    private final float[] params;   // (P) every weight, at the offsets of the layout
    private final float[] ropeCos;  // (maxT, HD/2)
    private final float[] ropeSin;  // (maxT, HD/2)
    private final Parallel par;
    private final MemoryLedger ledger;
    private Activations acts;
    private float[] matmulWorkspace;  // (threads, workspaceStride) the SIMD matmul's packed A blocks, sized with the activations
    private int workspaceStride;
    private float[] wPacked;          // the weight of the running forward or input gradient, in panels (B, shared by the workers)
    private float[] xPacked;          // (N, maxCols) a weight's input in column panels, for its gradient's tiles
    private float[] xPackedFrom;      // the activation xPacked holds, so q, k and v (gate and up) pack theirs once
    private float[] kvTransposed;     // (B, NKV, HD, T) a layer's K (forward) or V (backward) transposed, for AttentionVector

    // The batch of the last forward, which backward differentiates.
    private int[] tokens;
    private int[] targets;
    private int batchSize;
    private int seqLen;
    private boolean lossComputed;
    private boolean keepOutputGradients;  // this backward leaves each weight's output gradient for a replay
    private boolean replayable;           // the activations now hold what replayWeightGradients reads

    public LlamaModel(LlamaConfig cfg, float[] params, Parallel par, MemoryLedger ledger) {
        this.cfg = cfg;
        this.layout = new ParameterLayout(cfg);
        if (params.length != layout.totalSize()) {
            throw new IllegalArgumentException("parameter array has " + params.length + " floats, the config needs "
                    + layout.totalSize());
        }
        this.params = params;
        this.par = par;
        this.ledger = ledger;
        int half = cfg.headDim() / 2;
        this.ropeCos = new float[cfg.maxPositionEmbeddings() * half];
        this.ropeSin = new float[cfg.maxPositionEmbeddings() * half];
        Rope.tables(ropeCos, ropeSin, cfg.maxPositionEmbeddings(), cfg.headDim(), cfg.ropeTheta());
    }

    /** A model with fresh weights: N(0, 0.02) matrices (HF's initializer_range), unit norm weights, zero biases. */
    public static LlamaModel initialize(LlamaConfig cfg, long seed, Parallel par, MemoryLedger ledger) {
        ParameterLayout layout = new ParameterLayout(cfg);
        float[] params = ledger.floats(Category.PARAMETERS, layout.totalSize());
        SplittableRandom rng = new SplittableRandom(seed);
        for (Tensor t : layout.tensors()) {
            for (int i = t.offset(); i < t.offset() + t.size(); i++) {
                params[i] = t.bias() ? 0f : t.vector() ? 1f : (float) (0.02 * rng.nextGaussian());
            }
        }
        return new LlamaModel(cfg, params, par, ledger);
    }

    public LlamaConfig config() {
        return cfg;
    }

    public ParameterLayout layout() {
        return layout;
    }

    /** The flat parameters (P); writes change the model. */
    public float[] params() {
        return params;
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
        return matmulWorkspace == null ? 0 : 4L * (matmulWorkspace.length + wPacked.length + xPacked.length + kvTransposed.length);
    }

    /** Makes sure activations hold batches of {@code b × t}; reallocates only when they grow. */
    public void reserve(int b, int t) {
        if (acts != null && acts.maxBatch() >= b && acts.maxSeq() >= t) return;
        int nb = acts == null ? b : Math.max(b, acts.maxBatch());
        int nt = acts == null ? t : Math.max(t, acts.maxSeq());
        releaseActivations();
        acts = new Activations(cfg, nb, nt, ledger);
        if (Simd.enabled()) {
            // A's rows: a task's tokens, or a gradient tile's rows; depth: IN, OUT or the token count.
            int n = nb * nt;
            workspaceStride = MatmulVector.workspaceFloats(Math.max(n, GradientSink.TILE_ROWS),
                    Math.max(n, Math.max(layout.maxRows(), layout.maxCols())));
            matmulWorkspace = ledger.floats(Category.SCRATCH, (long) par.threads() * workspaceStride);
            // A weight as the forward's B (depth IN, OUT columns) or the input gradient's (depth OUT, IN columns).
            int packed = 0;
            for (Tensor w : layout.tensors()) {
                if (w.vector()) continue;
                packed = Math.max(packed, Math.max(MatmulVector.packedFloats(w.cols(), w.rows()), MatmulVector.packedFloats(w.rows(), w.cols())));
            }
            wPacked = ledger.floats(Category.SCRATCH, packed);
            xPacked = ledger.floats(Category.SCRATCH, MatmulVector.packedFloats(n, layout.maxCols()));
            kvTransposed = ledger.floats(Category.SCRATCH, (long) n * cfg.kvDim());
        }
    }

    /** Frees the activations and the matmul workspace (their bytes return to the ledger). */
    public void releaseActivations() {
        if (acts != null) acts.release();
        acts = null;
        if (matmulWorkspace != null) ledger.release(Category.SCRATCH, matmulWorkspace);
        if (wPacked != null) ledger.release(Category.SCRATCH, wPacked);
        if (xPacked != null) ledger.release(Category.SCRATCH, xPacked);
        if (kvTransposed != null) ledger.release(Category.SCRATCH, kvTransposed);
        matmulWorkspace = null;
        wPacked = null;
        xPacked = null;
        kvTransposed = null;
    }

    /** Forward with the loss: the mean cross-entropy over the counted targets. Keeps what backward needs. */
    public float forward(Batch batch) {
        computeLogits(batch.tokens(), batch.batchSize(), batch.seqLen());
        targets = batch.targets();
        int n = batch.size();
        int vocab = cfg.vocabSize();
        float[] losses = acts.losses;
        float[] probs = acts.logits;
        int[] tg = targets;
        par.forEach(n, (lo, hi, w) -> {
            for (int i = lo; i < hi; i++) CrossEntropy.forwardRow(losses, probs, tg, vocab, i);
        });
        lossComputed = true;
        return batch.meanLoss(losses);
    }

    /**
     * Forward to the logits only (no loss, nothing kept for backward). Returns the (N, V) logits buffer,
     * valid until the next forward.
     */
    public float[] logits(int[] tokens, int b, int t) {
        computeLogits(tokens, b, t);
        lossComputed = false;
        return acts.logits;
    }

    private void computeLogits(int[] tokens, int b, int t) {
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
        int c = cfg.hiddenSize();
        Tensor emb = layout.embedding();
        float[] x0 = acts.residual[0];
        par.forEach(n, (lo, hi, w) -> {
            for (int i = lo; i < hi; i++) Embedding.forwardRow(x0, tokens, params, emb.offset(), c, i);
        });
        for (int l = 0; l < cfg.numHiddenLayers(); l++) {
            blockForward(l, acts.residual[l], acts.residual[l + 1]);
        }
        float[] xL = acts.residual[cfg.numHiddenLayers()];
        rmsnorm(acts.lnf, acts.rstdf, xL, layout.finalNorm(), n);
        matmul(acts.logits, acts.lnf, layout.head(), n);
    }

    private void blockForward(int l, float[] x, float[] out) {
        ParameterLayout.Block w = layout.blocks().get(l);
        Activations.Block a = acts.blocks[l];
        int n = batchSize * seqLen;
        int c = cfg.hiddenSize();
        int nh = cfg.numAttentionHeads();
        int nkv = cfg.numKeyValueHeads();
        int hd = cfg.headDim();
        int t = seqLen;

        rmsnorm(a.ln1, a.rstd1, x, w.inputNorm(), n);
        matmul(a.q, a.ln1, w.wq(), w.bq(), n);
        matmul(a.k, a.ln1, w.wk(), w.bk(), n);
        matmul(a.v, a.ln1, w.wv(), w.bv(), n);
        par.forEach(n * nh, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.forwardItem(a.q, ropeCos, ropeSin, t, nh, hd, i);
        });
        par.forEach(n * nkv, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.forwardItem(a.k, ropeCos, ropeSin, t, nkv, hd, i);
        });
        boolean simd = Simd.enabled();
        float[] kT = kvTransposed;
        if (simd) {
            par.forEach(batchSize * nkv, (lo, hi, wk) -> {
                for (int i = lo; i < hi; i++) AttentionVector.transposeItem(kT, a.k, t, nkv, hd, i);
            });
        }
        par.forEach(batchSize * nh * t, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) AttentionVector.forwardItem(a.att, a.probs, a.q, kT, a.v, t, nh, nkv, hd, i);
                else Attention.forwardItem(a.att, a.probs, a.q, a.k, a.v, t, nh, nkv, hd, i);
            }
        });
        matmul(a.res1, a.att, w.wo(), n);
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Residual.addRow(a.res1, x, c, i);
        });
        rmsnorm(a.ln2, a.rstd2, a.res1, w.postAttnNorm(), n);
        matmul(a.gate, a.ln2, w.wGate(), n);
        matmul(a.up, a.ln2, w.wUp(), n);
        int f = cfg.intermediateSize();
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) SwiGluVector.forwardRow(a.h, a.gate, a.up, f, i);
                else SwiGlu.forwardRow(a.h, a.gate, a.up, f, i);
            }
        });
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
        weightGradient(sink, acts.dlogits, acts.lnf, layout.head(), n, !layout.tied());
        keptNormGradient(sink, layout.finalNorm(), 2 * layers);
        for (int l = layers - 1; l >= 0; l--) {
            ParameterLayout.Block w = layout.blocks().get(l);
            Activations.Block a = acts.blocks[l];
            weightGradient(sink, acts.residual[l + 1], a.h, w.wDown(), n, true);
            weightGradient(sink, a.gate, a.ln2, w.wGate(), n, true);
            weightGradient(sink, a.up, a.ln2, w.wUp(), n, true);
            keptNormGradient(sink, w.postAttnNorm(), 2 * l + 1);
            weightGradient(sink, a.res1, a.att, w.wo(), n, true);
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
        int vocab = cfg.vocabSize();
        int counted = 0;
        for (int i = 0; i < n; i++) if (targets[i] >= 0) counted++;
        float scale = counted == 0 ? 0f : 1f / counted;
        float[] dlogits = zero(acts.dlogits, (long) n * vocab);
        float[] probs = acts.logits;
        int[] tg = targets;
        par.forEach(n, (lo, hi, w) -> {
            for (int i = lo; i < hi; i++) CrossEntropy.backwardRow(dlogits, probs, tg, scale, vocab, i);
        });

        // LM head and final norm.
        zero(acts.dln, (long) n * cfg.hiddenSize());
        matmulBackward(sink, acts.dln, dlogits, acts.lnf, layout.head(), n, !layout.tied());
        zero(acts.dres, (long) n * cfg.hiddenSize());
        rmsnormBackward(sink, acts.dres, acts.dln, acts.residual[cfg.numHiddenLayers()], acts.rstdf, layout.finalNorm(), n,
                2 * cfg.numHiddenLayers());

        for (int l = cfg.numHiddenLayers() - 1; l >= 0; l--) {
            blockBackward(sink, l);
        }

        // Embedding: the last use of its weight.
        embeddingGradient(sink, acts.dres);
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
        Activations.Block a = acts.blocks[l];
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
        float[] vT = kvTransposed;
        if (simd) {
            par.forEach(batchSize * nkv, (lo, hi, wk) -> {
                for (int i = lo; i < hi; i++) AttentionVector.transposeItem(vT, a.v, t, nkv, hd, i);
            });
        }
        par.forEach(batchSize * nh * t, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) AttentionVector.backwardQueryItem(acts.dq, acts.dscores, acts.datt, a.probs, a.k, vT, t, nh, nkv, hd, i);
                else Attention.backwardQueryItem(acts.dq, acts.dscores, acts.datt, a.probs, a.k, a.v, t, nh, nkv, hd, i);
            }
        });
        par.forEach(batchSize * nkv * t, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) AttentionVector.backwardKeyValueItem(acts.dk, acts.dv, acts.dscores, a.probs, a.q, acts.datt, t, nh, nkv, hd, i);
                else Attention.backwardKeyValueItem(acts.dk, acts.dv, acts.dscores, a.probs, a.q, acts.datt, t, nh, nkv, hd, i);
            }
        });
        par.forEach(n * nh, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.backwardItem(acts.dq, ropeCos, ropeSin, t, nh, hd, i);
        });
        par.forEach(n * nkv, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Rope.backwardItem(acts.dk, ropeCos, ropeSin, t, nkv, hd, i);
        });
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
            par.forEach(MatmulVector.panels(out), (lo, hi, wk) -> MatmulVector.packTransposed(wp, params, w.offset(), out, in, lo, hi));
            forEachTokenBlock(n, (n0, n1, wsOff) -> MatmulVector.forwardRows(y, x, wp, in, out, n0, n1, ws, wsOff));
            return;
        }
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Matmul.forwardRow(y, x, params, w.offset(), in, out, i);
        });
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
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Bias.forwardRow(y, params, b.offset(), out, i);
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
        int in = w.cols();
        int out = w.rows();
        if (Simd.enabled()) {
            float[] ws = matmulWorkspace, wp = wPacked;
            par.forEach(MatmulVector.panels(in), (lo, hi, wk) -> MatmulVector.packColumns(wp, params, w.offset(), out, in, lo, hi));
            forEachTokenBlock(n, (n0, n1, wsOff) -> MatmulVector.inputGradRows(dx, dy, wp, in, out, n0, n1, ws, wsOff));
        } else {
            par.forEach(n, (lo, hi, wk) -> {
                for (int i = lo; i < hi; i++) Matmul.inputGradRow(dx, dy, params, w.offset(), in, out, i);
            });
        }
        weightGradient(sink, dy, x, w, n, lastUse);
    }

    /** W's gradient {@code dyᵀ · x} to the sink, a tile of rows at a time. */
    private void weightGradient(GradientSink sink, float[] dy, float[] x, Tensor w, int n, boolean lastUse) {
        int in = w.cols();
        int out = w.rows();
        if (Simd.enabled()) {
            if (xPackedFrom != x) {
                par.forEach(MatmulVector.panels(in), (lo, hi, wk) -> MatmulVector.packColumns(xPacked, x, 0, n, in, lo, hi));
                xPackedFrom = x;
            }
            float[] ws = matmulWorkspace;
            int stride = workspaceStride;
            float[] xp = xPacked;
            sink.accept(w, (g, gOff, row0, rows, wk) -> MatmulVector.weightGradRows(g, gOff, dy, xp, n, in, out, row0, rows,
                    ws, wk * stride), lastUse);
            return;
        }
        sink.accept(w, (g, gOff, row0, rows, wk) -> {
            for (int r = 0; r < rows; r++) Matmul.weightGradRow(g, gOff + r * in, dy, x, n, in, out, row0 + r);
        }, lastUse);
    }

    private void rmsnorm(float[] y, float[] rstd, float[] x, Tensor w, int n) {
        int c = w.cols();
        float eps = cfg.rmsNormEps();
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) RmsNorm.forwardRow(y, rstd, x, params, w.offset(), c, eps, i);
        });
    }

    /**
     * dx += the norm's input gradient. Its weight's gradient (one row) goes to row {@code slot} of the kept
     * norm gradients and from there to the sink, so a replay can hand it over again after dy and x are gone.
     */
    private void rmsnormBackward(GradientSink sink, float[] dx, float[] dy, float[] x, float[] rstd, Tensor w, int n, int slot) {
        int c = w.cols();
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) RmsNorm.inputGradRow(dx, dy, x, rstd, params, w.offset(), c, i);
        });
        Arrays.fill(acts.normGrads, slot * c, (slot + 1) * c, 0f);
        RmsNorm.weightGrad(acts.normGrads, slot * c, dy, x, rstd, n, c);
        keptNormGradient(sink, w, slot);
    }

    /** Row {@code slot} of the kept norm gradients, as the gradient of norm weight {@code w}. */
    private void keptNormGradient(GradientSink sink, Tensor w, int slot) {
        int c = w.cols();
        float[] kept = acts.normGrads;
        sink.accept(w, (g, gOff, row0, rows, wk) -> {
            for (int i = 0; i < c; i++) g[gOff + i] += kept[slot * c + i];
        }, true);  // one row
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
