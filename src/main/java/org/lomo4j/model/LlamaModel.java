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
    private float[] matmulWorkspace;  // (threads, workspaceStride) the SIMD matmul's packed blocks, sized with the activations
    private int workspaceStride;
    private float[] xPacked;          // (N, maxCols) a weight's input in column panels, for its gradient's tiles
    private float[] xPackedFrom;      // the activation xPacked holds, so q, k and v (gate and up) pack theirs once

    // The batch of the last forward, which backward differentiates.
    private int[] tokens;
    private int[] targets;
    private int batchSize;
    private int seqLen;
    private boolean lossComputed;

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
     * Bytes of the SIMD matmul's packing workspace (scratch: one block per worker, and one weight's input in
     * panels; 0 without SIMD or activations).
     */
    public long workspaceBytes() {
        return matmulWorkspace == null ? 0 : 4L * (matmulWorkspace.length + xPacked.length);
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
            xPacked = ledger.floats(Category.SCRATCH, MatmulVector.packedFloats(n, layout.maxCols()));
        }
    }

    /** Frees the activations and the matmul workspace (their bytes return to the ledger). */
    public void releaseActivations() {
        if (acts != null) acts.release();
        acts = null;
        if (matmulWorkspace != null) ledger.release(Category.SCRATCH, matmulWorkspace);
        if (xPacked != null) ledger.release(Category.SCRATCH, xPacked);
        matmulWorkspace = null;
        xPacked = null;
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
        par.forEach(batchSize * nh * t, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) AttentionVector.forwardItem(a.att, a.probs, a.q, a.k, a.v, t, nh, nkv, hd, i);
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
            for (int i = lo; i < hi; i++) SwiGlu.forwardRow(a.h, a.gate, a.up, f, i);
        });
        matmul(out, a.h, w.wDown(), n);
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Residual.addRow(out, a.res1, c, i);
        });
    }

    /**
     * Backward of the last {@link #forward}: every weight's gradient goes to {@code sink}, layer by layer
     * from the top. The forward's activations are left intact, so backward can run twice (LOMO's
     * norm-only pass, then its updating pass).
     */
    public void backward(GradientSink sink) {
        if (!lossComputed) throw new IllegalStateException("backward needs a forward with targets first");
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
        rmsnormBackward(sink, acts.dres, acts.dln, acts.residual[cfg.numHiddenLayers()], acts.rstdf, layout.finalNorm(), n);

        for (int l = cfg.numHiddenLayers() - 1; l >= 0; l--) {
            blockBackward(sink, l);
        }

        // Embedding: the last use of its weight.
        float[] dx = acts.dres;
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
        zero(acts.dgate, (long) n * f);
        zero(acts.dup, (long) n * f);
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) SwiGlu.backwardRow(acts.dgate, acts.dup, acts.dh, a.gate, a.up, f, i);
        });
        zero(acts.dln, (long) n * c);
        matmulBackward(sink, acts.dln, acts.dgate, a.ln2, w.wGate(), n, true);
        matmulBackward(sink, acts.dln, acts.dup, a.ln2, w.wUp(), n, true);
        rmsnormBackward(sink, dres, acts.dln, a.res1, a.rstd2, w.postAttnNorm(), n);

        // Attention: res1 = x + o_proj(attention(rope(q), rope(k), v)).
        matmulBackward(sink, zero(acts.datt, (long) n * nh * hd), dres, a.att, w.wo(), n, true);
        zero(acts.dq, (long) n * nh * hd);
        zero(acts.dk, (long) n * nkv * hd);
        zero(acts.dv, (long) n * nkv * hd);
        boolean simd = Simd.enabled();
        par.forEach(batchSize * nh * t, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) {
                if (simd) AttentionVector.backwardQueryItem(acts.dq, acts.dscores, acts.datt, a.probs, a.k, a.v, t, nh, nkv, hd, i);
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
        rmsnormBackward(sink, dres, acts.dln, x, a.rstd1, w.inputNorm(), n);
    }

    private void matmul(float[] y, float[] x, Tensor w, int n) {
        int in = w.cols();
        int out = w.rows();
        if (Simd.enabled()) {
            float[] ws = matmulWorkspace;
            forEachTokenBlock(n, (n0, n1, wsOff) -> MatmulVector.forwardRows(y, x, params, w.offset(), in, out, n0, n1, ws, wsOff));
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
            float[] ws = matmulWorkspace;
            int stride = workspaceStride;
            forEachTokenBlock(n, (n0, n1, wsOff) -> MatmulVector.inputGradRows(dx, dy, params, w.offset(), in, out, n0, n1, ws, wsOff));
            if (xPackedFrom != x) {
                par.forEach(MatmulVector.panels(in), (lo, hi, wk) -> MatmulVector.packColumns(xPacked, x, n, in, lo, hi));
                xPackedFrom = x;
            }
            float[] xp = xPacked;
            sink.accept(w, (g, gOff, row0, rows, wk) -> MatmulVector.weightGradRows(g, gOff, dy, xp, n, in, out, row0, rows,
                    ws, wk * stride), lastUse);
            return;
        }
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) Matmul.inputGradRow(dx, dy, params, w.offset(), in, out, i);
        });
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

    private void rmsnormBackward(GradientSink sink, float[] dx, float[] dy, float[] x, float[] rstd, Tensor w, int n) {
        int c = w.cols();
        par.forEach(n, (lo, hi, wk) -> {
            for (int i = lo; i < hi; i++) RmsNorm.inputGradRow(dx, dy, x, rstd, params, w.offset(), c, i);
        });
        sink.accept(w, (g, gOff, row0, rows, wk) -> RmsNorm.weightGrad(g, gOff, dy, x, rstd, n, c), true);  // one row
    }

    private float[] zero(float[] a, long count) {
        int len = (int) count;
        par.forEach(len, (lo, hi, w) -> Arrays.fill(a, lo, hi, 0f));
        return a;
    }
}
