package org.lomo4j.tornado;

import org.lomo4j.kernels.Update;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.optim.StepResult;
import uk.ac.manchester.tornado.api.ImmutableTaskGraph;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.common.TornadoDevice;

import java.util.ArrayList;
import java.util.List;


/**
 * LOMO on a TornadoVM device. The weights go to the device with the first step and stay there; each step runs
 * the forward graphs (the block's once per layer), then the backward graphs from the top, where every weight's gradient element is computed
 * and applied in one thread ({@link Tasks#matmulLomo}), after the layer's input gradient was computed from the
 * old weights. With global-norm clipping the backward graphs run twice: a norm pass that only sums squares,
 * then the updating pass, as {@code org.lomo4j.optim.Lomo} does on the JVM.
 */
final class TornadoLomo extends Optimizer {
    private final DeviceBuffers d;
    private final org.lomo4j.memory.MemoryLedger deviceMemory = new org.lomo4j.memory.MemoryLedger();
    private final Graphs graphs;
    private final int layers;
    private final TornadoExecutionPlan plan;  // embed_fwd, block_fwd, head_fwd, head_bwd, block_bwd, embed_bwd
    private TornadoExecutionResult lastBackward;
    private boolean deviceAhead;       // the device's weights are newer than the model's array

    TornadoLomo(LlamaModel model, OptimizerConfig config, TornadoDevice device, int batch, int seq) {
        super(model, config);
        if (config.kind() != OptimizerConfig.Kind.LOMO) {
            throw new IllegalArgumentException("--backend tornado runs LOMO only; --optimizer " + config.kind().id()
                    + (config.kind() == OptimizerConfig.Kind.ADALOMO
                    ? " needs per-weight reductions over rows and columns before each weight's update, which this backend's kernels do not have yet; use --backend jvm"
                    : " needs a full gradient set, which this backend never builds"));
        }
        d = new DeviceBuffers(model.config(), batch, seq, true, Graphs.squareSlots(model.layout()), Update.SIZE);
        d.account(deviceMemory, model.params().length);
        graphs = new Graphs(model.config(), model.layout(), model.params(), d);
        layers = model.config().numHiddenLayers();
        List<TaskGraph> all = new ArrayList<>(graphs.forward(true));
        all.addAll(graphs.backward());
        plan = new TornadoExecutionPlan(all.stream().map(TaskGraph::snapshot).toArray(ImmutableTaskGraph[]::new));
        if (device != null) plan.withDevice(device);
    }

    @Override
    public StepResult step(Batch batch) {
        if (batch.batchSize() != d.batch || batch.seqLen() != d.seq) {
            throw new IllegalArgumentException("the device graphs were built for batches of " + d.batch + " x " + d.seq
                    + ", got " + batch.batchSize() + " x " + batch.seqLen());
        }
        System.arraycopy(batch.tokens(), 0, d.tokens, 0, d.n);
        System.arraycopy(batch.targets(), 0, d.targets, 0, d.n);
        plan.withGraph(0).execute();
        for (int l = 0; l < layers; l++) {
            graphs.selectLayer(l);
            plan.withGraph(1).execute();
        }
        plan.withGraph(2).execute();
        float loss = batch.meanLoss(d.losses);
        int counted = batch.countedTargets();
        d.control[Tasks.LOSS_SCALE] = counted == 0 ? 0f : 1f / counted;

        double norm = Double.NaN;
        float scale = 1f;
        if (config.clipNorm() > 0) {
            d.control[Tasks.MODE] = Tasks.NORM_PASS;
            backward();
            lastBackward.transferToHost(d.squares);
            double s = 0;
            for (float r : d.squares) s += r;
            norm = Math.sqrt(s);
            scale = Update.clipScale(norm, config.clipNorm());
        }
        double lr = prepareHyperParameters(scale);
        System.arraycopy(hp, 0, d.hp, 0, hp.length);
        d.control[Tasks.MODE] = Tasks.UPDATE_PASS;
        backward();
        deviceAhead = true;
        step++;
        return new StepResult(loss, norm, lr);
    }

    /** head_bwd, block_bwd for each layer from the top, embed_bwd. */
    private void backward() {
        plan.withGraph(3).execute();
        for (int l = layers - 1; l >= 0; l--) {
            graphs.selectLayer(l);
            plan.withGraph(4).execute();
        }
        lastBackward = plan.withGraph(5).execute();
    }

    /** Copies the device's weights into the model's array (for checkpoints and evaluation). */
    @Override
    public void syncToHost() {
        if (deviceAhead) lastBackward.transferToHost(model.params());
        deviceAhead = false;
    }

    @Override
    public void close() {
        try {
            plan.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing the TornadoVM execution plan: " + e.getMessage(), e);
        }
    }

    /** The device's buffers by category: the weights, the activations and their gradients, the tables. */
    @Override
    public org.lomo4j.memory.MemoryLedger deviceMemory() {
        return deviceMemory;
    }
}
