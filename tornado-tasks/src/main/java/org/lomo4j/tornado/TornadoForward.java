package org.lomo4j.tornado;

import org.lomo4j.backend.Backend;
import org.lomo4j.kernels.Update;
import org.lomo4j.model.LlamaModel;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The forward graphs alone, to the logits, for evaluation and generation. Graphs are built for one batch
 * size and the model's full context; shorter sequences are padded at the end, which causal attention makes
 * invisible to the positions before, so generation's growing prefix reuses the compiled kernels.
 */
final class TornadoForward implements Backend.Forward {
    private final LlamaModel model;
    private final TornadoDevice device;
    private final int seq;
    private final Map<Integer, Plan> plans = new HashMap<>();

    private record Plan(DeviceBuffers buffers, Graphs graphs, TornadoExecutionPlan plan) {}

    TornadoForward(LlamaModel model, TornadoDevice device, int seq) {
        this.model = model;
        this.device = device;
        this.seq = seq;
    }

    @Override
    public float[] logits(int[] tokens, int batchSize, int seqLen) {
        if (seqLen > seq) throw new IllegalArgumentException("sequence of " + seqLen + " tokens; the device graphs hold " + seq);
        Plan p = plans.computeIfAbsent(batchSize, this::build);
        DeviceBuffers d = p.buffers();
        java.util.Arrays.fill(d.tokens, 0);
        for (int b = 0; b < batchSize; b++) System.arraycopy(tokens, b * seqLen, d.tokens, b * seq, seqLen);
        p.plan().withGraph(0).execute();
        for (int l = 0; l < model.config().numHiddenLayers(); l++) {
            p.graphs().selectLayer(l);
            p.plan().withGraph(1).execute();
        }
        p.plan().withGraph(2).execute();
        int vocab = model.config().vocabSize();
        float[] out = new float[batchSize * seqLen * vocab];
        for (int b = 0; b < batchSize; b++) System.arraycopy(d.logits, b * seq * vocab, out, b * seqLen * vocab, seqLen * vocab);
        return out;
    }

    private Plan build(int batchSize) {
        DeviceBuffers d = new DeviceBuffers(model.config(), batchSize, seq, false, 1, Update.SIZE);
        Graphs graphs = new Graphs(model.config(), model.layout(), model.params(), d);
        List<TaskGraph> forward = graphs.forward(false);
        TornadoExecutionPlan plan = new TornadoExecutionPlan(forward.stream().map(TaskGraph::snapshot).toArray(ImmutableTaskGraph[]::new));
        if (device != null) plan.withDevice(device);
        return new Plan(d, graphs, plan);
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
