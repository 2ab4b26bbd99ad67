package org.lomo4j.tornado;

import org.lomo4j.backend.Backend;
import org.lomo4j.kernels.Half;
import org.lomo4j.model.LlamaModel;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The forward graphs alone, for evaluation and generation: to every position's logits ({@link #logits}, also
 * generation's {@link #prefill}, which fills a key/value cache on the device), and one new token per row against
 * that cache ({@link #decode}). Graphs are built for one batch size and the model's full context; shorter
 * sequences are padded at the end, which causal attention makes invisible to the positions before, so every
 * prompt length reuses the compiled kernels.
 */
final class TornadoForward implements Backend.Forward {
    private final LlamaModel model;
    private final TornadoDevice device;
    private final int seq;
    private final Map<Integer, Plan> plans = new HashMap<>();
    private Plan generating;  // the plan whose cache the last prefill filled

    /** Graphs 0-2: embed_fwd, block_fwd, head_fwd; 3-5: embed_dec, block_dec, head_dec. */
    private record Plan(DeviceBuffers buffers, Graphs graphs, TornadoExecutionPlan plan) {}

    TornadoForward(LlamaModel model, TornadoDevice device, int seq) {
        this.model = model;
        this.device = device;
        this.seq = seq;
    }

    @Override
    public float[] logits(int[] tokens, int batchSize, int seqLen) {
        Plan p = forward(tokens, batchSize, seqLen);
        DeviceBuffers d = p.buffers();
        int vocab = model.config().vocabSize();
        float[] out = new float[batchSize * seqLen * vocab];
        for (int b = 0; b < batchSize; b++) System.arraycopy(d.logits, b * seq * vocab, out, b * seqLen * vocab, seqLen * vocab);
        return out;
    }

    @Override
    public float[] prefill(int[] tokens, int b, int t, int[] last, int maxLen) {
        if (maxLen > seq) throw new IllegalArgumentException("a cache of " + maxLen + " positions; the device graphs hold " + seq);
        generating = forward(tokens, b, t);
        int vocab = model.config().vocabSize();
        float[] out = new float[b * vocab];
        for (int i = 0; i < b; i++) System.arraycopy(generating.buffers().logits, (i * seq + last[i]) * vocab, out, i * vocab, vocab);
        return out;
    }

    @Override
    public float[] decode(int[] next, int[] positions) {
        Plan p = generating;
        if (p == null || p.buffers().batch != next.length) throw new IllegalStateException("decode needs a prefill of " + next.length + " rows first");
        DeviceBuffers d = p.buffers();
        for (int i = 0; i < next.length; i++) {
            if (positions[i] < 0 || positions[i] >= seq) throw new IllegalArgumentException("position " + positions[i] + " outside the cache of " + seq);
        }
        System.arraycopy(next, 0, d.tokens, 0, next.length);
        System.arraycopy(positions, 0, d.positions, 0, positions.length);
        run(p, 3, 4, 5);
        return d.nextLogits;
    }

    /** The cache stays on the device with its plan, for the next generation of as many rows. */
    @Override
    public void endGeneration() {
        generating = null;
    }

    /** Every position's logits on the device, for rows padded to the graphs' length. */
    private Plan forward(int[] tokens, int batchSize, int seqLen) {
        if (seqLen > seq) throw new IllegalArgumentException("sequence of " + seqLen + " tokens; the device graphs hold " + seq);
        Plan p = plans.computeIfAbsent(batchSize, this::build);
        DeviceBuffers d = p.buffers();
        Arrays.fill(d.tokens, 0);
        for (int b = 0; b < batchSize; b++) System.arraycopy(tokens, b * seqLen, d.tokens, b * seq, seqLen);
        run(p, 0, 1, 2);
        return p;
    }

    /** The embedding graph, the block graph once per layer, the head graph. */
    private static void run(Plan p, int embed, int block, int head) {
        p.graphs().throughLayers(i -> p.plan().withGraph(i).execute(), embed, block, head, false, false);
    }

    private Plan build(int batchSize) {
        DeviceBuffers d = new DeviceBuffers(model.config(), model.layout(), batchSize, seq, false);
        DeviceWeights weights = new DeviceWeights(model.parameters(), Half.NEAREST);  // never narrowed: forward updates nothing
        d.account(model.ledger(), weights.hostMirrorBytes());  // the host's copies of the device buffers
        Graphs graphs = new Graphs(model.config(), model.layout(), weights, d, device);
        List<TaskGraph> all = new ArrayList<>(graphs.forward(false));
        all.addAll(graphs.decode());
        return new Plan(d, graphs, graphs.plan(all));
    }

    @Override
    public void close() {
        for (Plan p : plans.values()) {
            try {
                p.plan().close();
            } catch (Exception e) {
                throw new IllegalStateException("closing a TornadoVM execution plan: " + e.getMessage(), e);
            }
        }
        plans.clear();
    }
}
