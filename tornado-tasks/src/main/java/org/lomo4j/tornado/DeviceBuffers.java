package org.lomo4j.tornado;

import org.lomo4j.kernels.Rope;
import org.lomo4j.kernels.Update;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.ParameterLayout;

/**
 * The arrays a step's task graphs run on, for batches of exactly B × T tokens (N = B·T). Here the host copies
 * are only the handles TornadoVM maps to device buffers; only the tokens, targets, losses, the small control
 * arrays and (on demand) the weights cross between the two.
 *
 * <p>A block's graphs are compiled once and run for every layer, so a block works on one set of arrays
 * ({@link #layer}, shaped as the JVM backend's {@code Activations.Block}), and what backward needs of each
 * layer is saved to and restored from its region of {@link #store}.
 */
final class DeviceBuffers {
    final int batch, seq, n;
    final int[] tokens;       // (N)
    final int[] targets;      // (N)
    final float[] ropeCos;    // (T, HD/2)
    final float[] ropeSin;    // (T, HD/2)
    final float[] stream;     // (N, C): the residual stream, each block's input and output
    final Block layer;        // the activations of the block being run
    final float[] store;      // L regions of (attention width + MLP width) × N, see Stash
    final int storePerLayer;
    final float[] lnf, rstdf, logits, losses;
    final float[] xT;         // (max(C, QD, F), N): a projection's input transposed for the vector forward (Tasks.transpose)
    final float[] dres, dln, dq, dk, dv, datt, delta, dgate, dup, dlogits;
    final float[] kCache, vCache; // generation's keys and values: L × (B, T, NKV·HD), filled by prefill (forward only)
    final int cachePerLayer;
    final int[] positions;    // (B) each row's position in decode
    final float[] nextLogits; // (B, V) decode's logits
    final int[] widths;       // the saved arrays' row widths (Tasks.W_C ...)
    final int[] at;           // where the running layer's weights, squares and saved activations are (Tasks.AT_SIZE)
    final float[] hp;         // the update kernels' hyper-parameters (Update)
    final float[] control;    // Tasks.MODE, Tasks.LOSS_SCALE
    final float[] squares;    // Σg² per row of every matrix and per element of every vector, written by the norm pass
    final float[] kept;       // the norm pass's gradients of the RMSNorm weights, for the replay
    final float[] partials;   // squares added up on the device (Tasks.sumSquares), what the host reads
    final long[] roundingKey = new long[1];  // with bf16 weights, the step's key of their stochastic rounding (Half.key)
    // What a task gets for arrays it will not touch (Tasks.matmul's residual without add, the missing second and third
    // terms of a task of up to three matrices), each a different one: one array passed twice to a task sends TornadoVM's
    // graph compiler into an endless loop (TornadoVMGraphCompiler's scheduling).
    final float[][] unread = {new float[1], new float[1], new float[1]};

    /** What one block computes forward; shapes as in the JVM's Activations.Block, plus a copy of its input. */
    static final class Block {
        final float[] x, ln1, rstd1, q, k, v, lse, att, res1, ln2, rstd2, gate, up, h;

        Block(LlamaConfig c, int n, int rows) {
            int qDim = c.numAttentionHeads() * c.headDim();
            x = new float[n * c.hiddenSize()];
            ln1 = new float[n * c.hiddenSize()];
            rstd1 = new float[n];
            q = new float[n * qDim];
            k = new float[n * c.kvDim()];
            v = new float[n * c.kvDim()];
            lse = new float[rows];
            att = new float[n * qDim];
            res1 = new float[n * c.hiddenSize()];
            ln2 = new float[n * c.hiddenSize()];
            rstd2 = new float[n];
            gate = new float[n * c.intermediateSize()];
            up = new float[n * c.intermediateSize()];
            h = new float[n * c.intermediateSize()];
        }

        float[][] arrays() {
            return new float[][] {x, ln1, rstd1, q, k, v, lse, att, res1, ln2, rstd2, gate, up, h};
        }
    }

    /**
     * @param keep      whether forward saves each layer's activations for a backward (training), or keeps a key/value
     *                  cache for generation (evaluation and generation)
     */
    DeviceBuffers(LlamaConfig c, ParameterLayout layout, int batch, int seq, boolean keep) {
        this.batch = batch;
        this.seq = seq;
        this.n = batch * seq;
        int hidden = c.hiddenSize(), f = c.intermediateSize(), qDim = c.numAttentionHeads() * c.headDim();
        int rows = batch * c.numAttentionHeads() * seq;  // attention keeps one log-sum-exp per query row
        tokens = new int[n];
        targets = new int[n];
        ropeCos = new float[seq * c.headDim() / 2];
        ropeSin = new float[seq * c.headDim() / 2];
        Rope.tables(ropeCos, ropeSin, seq, c.ropeInverseFrequencies());
        stream = new float[n * hidden];
        layer = new Block(c, n, rows);
        storePerLayer = n * (Stash.attentionWidth(hidden, qDim, c.kvDim(), c.numAttentionHeads()) + Stash.mlpWidth(hidden, f));
        long storeSize = keep ? (long) c.numHiddenLayers() * storePerLayer : 1;
        if (storeSize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("--batch " + batch + " x --seq " + seq + ": the " + c.numHiddenLayers()
                    + " layers' activations (" + storeSize + " floats) exceed one device array (2^31); use a smaller batch or --seq");
        }
        store = new float[(int) storeSize];
        cachePerLayer = n * c.kvDim();
        long cacheSize = keep ? 1 : (long) c.numHiddenLayers() * cachePerLayer;
        if (cacheSize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(batch + " rows x " + seq + " positions: the " + c.numHiddenLayers()
                    + " layers' key/value cache (" + cacheSize + " floats) exceeds one device array (2^31); generate fewer rows or tokens");
        }
        kCache = new float[(int) cacheSize];
        vCache = new float[(int) cacheSize];
        positions = new int[batch];
        nextLogits = new float[keep ? 1 : batch * c.vocabSize()];
        lnf = new float[n * hidden];
        xT = new float[transposedSize(n, hidden, qDim, f)];
        rstdf = new float[n];
        logits = new float[n * c.vocabSize()];
        losses = new float[n];
        dres = new float[n * hidden];
        dln = new float[n * hidden];
        dq = new float[n * qDim];
        dk = new float[n * c.kvDim()];
        dv = new float[n * c.kvDim()];
        datt = new float[n * qDim];
        delta = new float[rows];
        dgate = new float[n * f];
        dup = new float[n * f];
        dlogits = new float[n * c.vocabSize()];
        widths = new int[Tasks.WIDTHS];
        widths[Tasks.W_C] = hidden;
        widths[Tasks.W_QD] = qDim;
        widths[Tasks.W_KVD] = c.kvDim();
        widths[Tasks.W_HEADS] = c.numAttentionHeads();
        widths[Tasks.W_F] = f;
        at = new int[Tasks.AT_SIZE];
        hp = new float[Update.SIZE];
        control = new float[Tasks.CONTROL_SIZE];
        squares = new float[keep ? Graphs.squareSlots(layout) : 1];
        kept = new float[keep ? Graphs.keptSlots(layout) : 1];
        partials = new float[keep ? Tasks.PARTIAL_SUMS : 1];
    }

    /** The forward transposes the projections' inputs when a pass has at least LANES rows (Graphs.matmul): N of them at most. */
    private static int transposedSize(long n, long hidden, long qd, long f) {
        return n >= Tasks.LANES ? (int) (n * Math.max(hidden, Math.max(qd, f))) : 1;
    }

    /**
     * What {@link #account} will count for these shapes, without allocating anything: the device's memory plan
     * ({@code train --dry-run --backend tornado}). {@code TornadoBackendTest} holds the two equal.
     */
    static MemoryLedger plan(LlamaConfig c, ParameterLayout layout, ParamDtype dtype, int batch, int seq, boolean keep) {
        long n = (long) batch * seq, hidden = c.hiddenSize(), f = c.intermediateSize(), qd = (long) c.numAttentionHeads() * c.headDim(),
                kvd = c.kvDim(), rows = n * c.numAttentionHeads(), vocab = c.vocabSize(), layers = c.numHiddenLayers();
        long store = keep ? layers * n * (Stash.attentionWidth((int) hidden, (int) qd, (int) kvd, c.numAttentionHeads())
                + Stash.mlpWidth((int) hidden, (int) f)) : 1;
        long cache = keep ? 1 : layers * n * kvd;
        long layer = 4 * n * hidden + 2 * n + 2 * n * qd + 2 * n * kvd + rows + 3 * n * f;  // Block: x, ln1, res1, ln2; rstds; q, att; k, v; lse; MLP
        long acts = 2 * n + n * hidden + store + n * hidden + n + n * vocab + n               // tokens, targets, stream, store, lnf, rstdf, logits, losses
                + 2 * n * hidden + 2 * n * qd + 2 * n * kvd + rows + 2 * n * f + n * vocab    // dres, dln, dq, datt, dk, dv, delta, dgate, dup, dlogits
                + 2 * cache + batch + (keep ? 1 : batch * vocab) + layer                     // caches, positions, nextLogits, the working block
                + transposedSize(n, hidden, qd, f);                                          // xT
        long normPass = keep ? Graphs.squareSlots(layout) + Graphs.keptSlots(layout) + Tasks.PARTIAL_SUMS : 3;  // squares, kept, partials
        long scratch = 2L * (seq * c.headDim() / 2) + Tasks.WIDTHS + Tasks.AT_SIZE + Update.SIZE + Tasks.CONTROL_SIZE + normPass + 3;  // + unread
        MemoryLedger planned = new MemoryLedger();
        planned.count(Category.PARAMETERS, DeviceWeights.plannedBytes(layout, dtype));
        planned.count(Category.ACTIVATIONS, 4L * acts);
        planned.count(Category.SCRATCH, 4L * scratch + 8);
        return planned;
    }

    /**
     * What these buffers and {@code weights} bytes of weights take, by category: on the device, or on the host,
     * where TornadoVM keeps the Java array each device buffer mirrors (and the model's ledger counts its weights,
     * so only a working copy is added there): the weights; the activations (every layer's saved ones, the working
     * set, the logits) and their gradients; the tables and control arrays. LOMO holds no weight gradient there either.
     */
    void account(MemoryLedger device, long weights) {
        device.count(Category.PARAMETERS, weights);
        long acts = 4L * (tokens.length + targets.length + stream.length + store.length + lnf.length + rstdf.length + logits.length
                + losses.length + dres.length + dln.length + dq.length + dk.length + dv.length + datt.length + delta.length + dgate.length
                + dup.length + dlogits.length + kCache.length + vCache.length + positions.length + nextLogits.length + xT.length);
        for (float[] a : layer.arrays()) acts += 4L * a.length;
        device.count(Category.ACTIVATIONS, acts);
        device.count(Category.SCRATCH, 4L * (ropeCos.length + ropeSin.length + widths.length + at.length + hp.length + control.length + squares.length
                + kept.length + partials.length + unread[0].length + unread[1].length + unread[2].length) + 8L * roundingKey.length);
    }
}
