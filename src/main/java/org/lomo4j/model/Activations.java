package org.lomo4j.model;

import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;

/**
 * Every buffer the forward keeps for backward, and the gradient buffers backward reuses across layers,
 * sized up front for batches of up to {@code maxBatch × maxSeq} tokens (N = B·T). Smaller batches run in
 * the same buffers: kernels index by the batch's own B and T.
 *
 * <p>Nothing here grows with T² or with N·V: attention keeps one log-sum-exp per query row, and the
 * cross-entropy runs over vocabulary tiles of {@link #vocabTile} columns. With {@code checkpointed}, only
 * each block's input (the residual stream) is kept for all layers, and one working {@link Block} holds
 * whichever block backward is recomputing: activations become (L+1)·N·C plus one block, not L blocks.
 */
public final class Activations {

    /** What one decoder block keeps from its forward. */
    public static final class Block {
        final float[] ln1;      // (N, C)        input RMSNorm output
        final float[] rstd1;    // (N)
        final float[] q;        // (N, NH·HD)    after RoPE
        final float[] k;        // (N, NKV·HD)   after RoPE
        final float[] v;        // (N, NKV·HD)
        final float[] lse;      // (B, NH, T)    attention's log-sum-exp per query row
        final float[] att;      // (N, NH·HD)    attention output, before o_proj
        final float[] res1;     // (N, C)        residual stream after attention
        final float[] ln2;      // (N, C)        post-attention RMSNorm output
        final float[] rstd2;    // (N)
        final float[] gate;     // (N, F)
        final float[] up;       // (N, F)
        final float[] h;        // (N, F)        silu(gate) · up
        final float[] qRaw;     // (N, NH·HD)    Qwen3: q before its per-head norm; null otherwise
        final float[] kRaw;     // (N, NKV·HD)
        final float[] rstdQ;    // (N, NH)       the per-head norms' 1 / rms
        final float[] rstdK;    // (N, NKV)

        Block(Sizes s, MemoryLedger m) {
            ln1 = act(m, s.n * s.c);
            rstd1 = act(m, s.n);
            q = act(m, s.n * s.qDim);
            k = act(m, s.n * s.kvDim);
            v = act(m, s.n * s.kvDim);
            lse = act(m, s.n * s.heads);
            att = act(m, s.n * s.qDim);
            res1 = act(m, s.n * s.c);
            ln2 = act(m, s.n * s.c);
            rstd2 = act(m, s.n);
            gate = act(m, s.n * s.f);
            up = act(m, s.n * s.f);
            h = act(m, s.n * s.f);
            qRaw = s.qkNorm ? act(m, s.n * s.qDim) : null;
            kRaw = s.qkNorm ? act(m, s.n * s.kvDim) : null;
            rstdQ = s.qkNorm ? act(m, s.n * s.heads) : null;
            rstdK = s.qkNorm ? act(m, s.n * s.kvHeads) : null;
        }
    }

    private record Sizes(long n, long c, long f, long qDim, long kvDim, long heads, long kvHeads, boolean qkNorm) {}

    final int maxBatch;
    final int maxSeq;
    final boolean checkpointed;
    final int vocabTile;       // columns of the vocabulary per cross-entropy tile
    final float[][] residual;  // L+1 × (N, C): residual[l] is block l's input, residual[L] the last output
    final Block[] blocks;      // L blocks, or the one working block when checkpointed
    final float[] lnf;         // (N, C)  final RMSNorm output
    final float[] rstdf;       // (N)
    final float[] logitsTile;  // (N, vocabTile) one tile of logits, or of their gradient
    final float[] lse;         // (N)  the cross-entropy's log-sum-exp per token (its running maximum during forward)
    final float[] lseSums;     // (N)  the running sums of the log-sum-exp
    final float[] losses;      // (N)  per-token losses (the target's logit during forward)
    final float[] nextLogits;  // (B, V) each sequence's logits at one position, for generation

    // Gradients of activations, reused by every block during backward.
    final float[] dres;        // (N, C)  gradient of the residual stream
    final float[] dln;         // (N, C)  gradient of an RMSNorm output
    final float[] dq;          // (N, NH·HD)
    final float[] dk;          // (N, NKV·HD)
    final float[] dv;          // (N, NKV·HD)
    final float[] datt;        // (N, NH·HD)
    final float[] delta;       // (B, NH, T) attention's dout·out per query row
    final float[] dgate;       // (N, F)
    final float[] dup;         // (N, F)
    final float[] dh;          // (N, F)
    final float[] dRaw;        // (N, NH·HD) Qwen3: the gradient of q or k before its norm; null otherwise
    final float[] normGrads;   // (slots, normStride) the RMSNorm weights' gradients, also for a replay: slots 2l, 2l+1 block l's,
                               // 2L the final norm's, 2L+1+2l and 2L+2+2l block l's q and k norms (Qwen3)
    final int normStride;      // max(C, HD)

    private final MemoryLedger ledger;
    private long bytes;

    /** Bytes of activations block l keeps from its forward for its backward: its input, and its buffers unless checkpointed. */
    long keptBytes(int l) {
        long b = 4L * residual[l].length;
        if (!checkpointed) {
            Block k = blocks[l];
            for (float[] a : new float[][] {k.ln1, k.rstd1, k.q, k.k, k.v, k.lse, k.att, k.res1, k.ln2, k.rstd2, k.gate, k.up, k.h,
                    k.qRaw, k.kRaw, k.rstdQ, k.rstdK}) {
                if (a != null) b += 4L * a.length;
            }
        }
        return b;
    }

    /** Bytes the head keeps from forward for backward: the final norm's output and the per-token log-sum-exp. */
    long headBytes() {
        return 4L * (residual[residual.length - 1].length + lnf.length + rstdf.length + lse.length);
    }

    public Activations(LlamaConfig cfg, int maxBatch, int maxSeq, boolean checkpointed, MemoryLedger ledger) {
        if (maxSeq > cfg.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + maxSeq + " exceeds the model's max_position_embeddings ("
                    + cfg.maxPositionEmbeddings() + ")");
        }
        this.maxBatch = maxBatch;
        this.maxSeq = maxSeq;
        this.checkpointed = checkpointed;
        this.vocabTile = vocabTile(cfg);
        this.ledger = ledger;
        long n = (long) maxBatch * maxSeq;
        Sizes s = new Sizes(n, cfg.hiddenSize(), cfg.intermediateSize(), (long) cfg.numAttentionHeads() * cfg.headDim(),
                cfg.kvDim(), cfg.numAttentionHeads(), cfg.numKeyValueHeads(), cfg.qkNorm());
        long before = ledger.current(Category.ACTIVATIONS);
        residual = new float[cfg.numHiddenLayers() + 1][];
        for (int l = 0; l <= cfg.numHiddenLayers(); l++) residual[l] = act(ledger, n * s.c);
        blocks = new Block[checkpointed ? 1 : cfg.numHiddenLayers()];
        for (int l = 0; l < blocks.length; l++) blocks[l] = new Block(s, ledger);
        lnf = act(ledger, n * s.c);
        rstdf = act(ledger, n);
        logitsTile = act(ledger, n * vocabTile);
        lse = act(ledger, n);
        lseSums = act(ledger, n);
        losses = act(ledger, n);
        nextLogits = act(ledger, (long) maxBatch * cfg.vocabSize());
        dres = act(ledger, n * s.c);
        dln = act(ledger, n * s.c);
        dq = act(ledger, n * s.qDim);
        dk = act(ledger, n * s.kvDim);
        dv = act(ledger, n * s.kvDim);
        datt = act(ledger, n * s.qDim);
        delta = act(ledger, n * s.heads);
        dgate = act(ledger, n * s.f);
        dup = act(ledger, n * s.f);
        dh = act(ledger, n * s.f);
        dRaw = cfg.qkNorm() ? act(ledger, n * s.qDim) : null;
        normStride = Math.max(cfg.hiddenSize(), cfg.headDim());
        normGrads = act(ledger, ((cfg.qkNorm() ? 4L : 2L) * cfg.numHiddenLayers() + 1) * normStride);
        bytes = ledger.current(Category.ACTIVATIONS) - before;
    }

    /**
     * Vocabulary columns per cross-entropy tile: the whole vocabulary when it is at most 2·C wide (a tile is
     * then no larger than two (N, C) buffers), else 2·C rounded to whole gradient tiles of rows.
     */
    static int vocabTile(LlamaConfig cfg) {
        int rows = GradientSink.TILE_ROWS;
        int cap = Math.max(rows, (2 * cfg.hiddenSize() + rows - 1) / rows * rows);
        return Math.min(cfg.vocabSize(), cap);
    }

    private static float[] act(MemoryLedger m, long count) {
        return m.floats(Category.ACTIVATIONS, count);
    }

    /** Block l's buffers: its own, or the working block when checkpointed. */
    Block block(int l) {
        return blocks[checkpointed ? 0 : l];
    }

    public int maxBatch() {
        return maxBatch;
    }

    public int maxSeq() {
        return maxSeq;
    }

    /** Bytes these buffers take, as accounted. */
    public long bytes() {
        return bytes;
    }

    /** Returns the bytes to the ledger; the buffers must not be used afterwards. */
    public void release() {
        ledger.releaseBytes(Category.ACTIVATIONS, bytes);
        bytes = 0;
    }
}
