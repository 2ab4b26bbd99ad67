package org.lomo4j.tornado;

import org.lomo4j.kernels.Rope;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;

/**
 * The arrays a step's task graphs run on, for batches of exactly B × T tokens (N = B·T). They mirror the JVM
 * backend's {@code Activations}; here the host copies are only the handles TornadoVM maps to device buffers,
 * and only the tokens, targets, losses, control values and (on demand) the weights cross between the two.
 */
final class DeviceBuffers {
    final int batch, seq, n;
    final int[] tokens;       // (N)
    final int[] targets;      // (N)
    final float[] ropeCos;    // (T, HD/2)
    final float[] ropeSin;    // (T, HD/2)
    final float[][] residual; // L+1 × (N, C)
    final Block[] blocks;
    final float[] lnf, rstdf, logits, losses;
    final float[] dres, dln, dq, dk, dv, datt, delta, dgate, dup, dh, dlogits;
    final float[] hp;         // the update kernels' hyper-parameters (Update)
    final float[] control;    // Tasks.MODE, Tasks.LOSS_SCALE
    final float[] squares;    // Σg² per row of every weight, written by the norm pass

    /** What one block keeps from forward; shapes as in the JVM's Activations.Block. */
    static final class Block {
        final float[] ln1, rstd1, q, k, v, lse, att, res1, ln2, rstd2, gate, up, h;

        Block(LlamaConfig c, int n, int rows) {
            int qDim = c.numAttentionHeads() * c.headDim();
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
    }

    DeviceBuffers(LlamaConfig c, int batch, int seq, int squareRows, int hpSize) {
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
        residual = new float[c.numHiddenLayers() + 1][];
        for (int l = 0; l < residual.length; l++) residual[l] = new float[n * hidden];
        blocks = new Block[c.numHiddenLayers()];
        for (int l = 0; l < blocks.length; l++) blocks[l] = new Block(c, n, rows);
        lnf = new float[n * hidden];
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
        dh = new float[n * f];
        dlogits = new float[n * c.vocabSize()];
        hp = new float[hpSize];
        control = new float[Tasks.CONTROL_SIZE];
        squares = new float[Math.max(1, squareRows)];
    }

    /**
     * What these buffers and the weights ({@code params} floats) take on the device, by category: the weights;
     * the activations and their gradients (as the JVM backend counts them); the tables and control arrays. LOMO
     * holds no weight gradient there either.
     */
    void account(MemoryLedger device, long params) {
        device.count(Category.PARAMETERS, 4L * params);
        long acts = 4L * (tokens.length + targets.length + lnf.length + rstdf.length + logits.length + losses.length + dres.length
                + dln.length + dq.length + dk.length + dv.length + datt.length + delta.length + dgate.length + dup.length + dh.length
                + dlogits.length);
        for (float[] r : residual) acts += 4L * r.length;
        for (Block b : blocks) {
            for (float[] a : new float[][] {b.ln1, b.rstd1, b.q, b.k, b.v, b.lse, b.att, b.res1, b.ln2, b.rstd2, b.gate, b.up, b.h}) {
                acts += 4L * a.length;
            }
        }
        device.count(Category.ACTIVATIONS, acts);
        device.count(Category.SCRATCH, 4L * (ropeCos.length + ropeSin.length + hp.length + control.length + squares.length));
    }
}
