package org.lomo4j.model;

import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;

/**
 * Every buffer the forward keeps for backward, and the gradient buffers backward reuses across layers,
 * sized up front for batches of up to {@code maxBatch × maxSeq} tokens (N = B·T). Smaller batches run in
 * the same buffers: kernels index by the batch's own B and T.
 */
public final class Activations {

    /** What one decoder block keeps from its forward. */
    public static final class Block {
        final float[] ln1;      // (N, C)        input RMSNorm output
        final float[] rstd1;    // (N)
        final float[] q;        // (N, NH·HD)    after RoPE
        final float[] k;        // (N, NKV·HD)   after RoPE
        final float[] v;        // (N, NKV·HD)
        final float[] probs;    // (B, NH, T, T) attention probabilities
        final float[] att;      // (N, NH·HD)    attention output, before o_proj
        final float[] res1;     // (N, C)        residual stream after attention
        final float[] ln2;      // (N, C)        post-attention RMSNorm output
        final float[] rstd2;    // (N)
        final float[] gate;     // (N, F)
        final float[] up;       // (N, F)
        final float[] h;        // (N, F)        silu(gate) · up

        Block(Sizes s, MemoryLedger m) {
            ln1 = act(m, s.n * s.c);
            rstd1 = act(m, s.n);
            q = act(m, s.n * s.qDim);
            k = act(m, s.n * s.kvDim);
            v = act(m, s.n * s.kvDim);
            probs = act(m, s.scores);
            att = act(m, s.n * s.qDim);
            res1 = act(m, s.n * s.c);
            ln2 = act(m, s.n * s.c);
            rstd2 = act(m, s.n);
            gate = act(m, s.n * s.f);
            up = act(m, s.n * s.f);
            h = act(m, s.n * s.f);
        }
    }

    private record Sizes(long n, long c, long f, long qDim, long kvDim, long scores, long v) {}

    final int maxBatch;
    final int maxSeq;
    final float[][] residual;  // L+1 × (N, C): residual[l] is block l's input, residual[L] the last output
    final Block[] blocks;
    final float[] lnf;         // (N, C)  final RMSNorm output
    final float[] rstdf;       // (N)
    final float[] logits;      // (N, V)  logits, turned into probabilities in place by the loss
    final float[] losses;      // (N)

    // Gradients of activations, reused by every block during backward.
    final float[] dres;        // (N, C)  gradient of the residual stream
    final float[] dln;         // (N, C)  gradient of an RMSNorm output
    final float[] dq;          // (N, NH·HD)
    final float[] dk;          // (N, NKV·HD)
    final float[] dv;          // (N, NKV·HD)
    final float[] datt;        // (N, NH·HD)
    final float[] dscores;     // (B, NH, T, T)
    final float[] dgate;       // (N, F)
    final float[] dup;         // (N, F)
    final float[] dh;          // (N, F)
    final float[] dlogits;     // (N, V)  kept apart from the probabilities: the head's output gradient, for a replay
    final float[] normGrads;   // (2L+1, C) the RMSNorm weights' gradients, also for a replay (rows 2l, 2l+1: block l's; 2L: final)

    private final MemoryLedger ledger;
    private long bytes;

    public Activations(LlamaConfig cfg, int maxBatch, int maxSeq, MemoryLedger ledger) {
        if (maxSeq > cfg.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + maxSeq + " exceeds the model's max_position_embeddings ("
                    + cfg.maxPositionEmbeddings() + ")");
        }
        this.maxBatch = maxBatch;
        this.maxSeq = maxSeq;
        this.ledger = ledger;
        long n = (long) maxBatch * maxSeq;
        Sizes s = new Sizes(n, cfg.hiddenSize(), cfg.intermediateSize(), (long) cfg.numAttentionHeads() * cfg.headDim(),
                cfg.kvDim(), (long) maxBatch * cfg.numAttentionHeads() * maxSeq * maxSeq, cfg.vocabSize());
        long before = ledger.current(Category.ACTIVATIONS);
        residual = new float[cfg.numHiddenLayers() + 1][];
        for (int l = 0; l <= cfg.numHiddenLayers(); l++) residual[l] = act(ledger, n * s.c);
        blocks = new Block[cfg.numHiddenLayers()];
        for (int l = 0; l < blocks.length; l++) blocks[l] = new Block(s, ledger);
        lnf = act(ledger, n * s.c);
        rstdf = act(ledger, n);
        logits = act(ledger, n * s.v);
        losses = act(ledger, n);
        dres = act(ledger, n * s.c);
        dln = act(ledger, n * s.c);
        dq = act(ledger, n * s.qDim);
        dk = act(ledger, n * s.kvDim);
        dv = act(ledger, n * s.kvDim);
        datt = act(ledger, n * s.qDim);
        dscores = act(ledger, s.scores);
        dgate = act(ledger, n * s.f);
        dup = act(ledger, n * s.f);
        dh = act(ledger, n * s.f);
        dlogits = act(ledger, n * s.v);
        normGrads = act(ledger, (2L * cfg.numHiddenLayers() + 1) * s.c);
        bytes = ledger.current(Category.ACTIVATIONS) - before;
    }

    private static float[] act(MemoryLedger m, long count) {
        return m.floats(Category.ACTIVATIONS, count);
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
