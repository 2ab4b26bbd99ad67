package org.lomo4j.tornado;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import org.lomo4j.backend.DeviceProfile;
import org.lomo4j.kernels.Update;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.optim.StepResult;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.TornadoExecutionResult;
import uk.ac.manchester.tornado.api.TornadoProfilerResult;
import uk.ac.manchester.tornado.api.enums.ProfilerMode;
import uk.ac.manchester.tornado.api.common.TornadoDevice;

import java.util.ArrayList;
import java.util.List;


/**
 * LOMO on a TornadoVM device. The weights go to the device with the first step and stay there; each step runs
 * the forward graphs (the block's once per layer), then the backward graphs from the top, where every weight's
 * gradient element is computed and applied in one thread ({@link Tasks#matmulLomo}), after the layer's input
 * gradient was computed from the old weights. With global-norm clipping, the backward is a norm pass that sums
 * squares and keeps each weight's output gradient, and the updates come from a replay of the weight-gradient
 * products alone ({@link Graphs#replay}), as {@code org.lomo4j.optim.Lomo} does on the JVM.
 */
final class TornadoLomo extends Optimizer {
    private final DeviceWeights weights;
    private final DeviceBuffers d;
    private final org.lomo4j.memory.MemoryLedger deviceMemory = new org.lomo4j.memory.MemoryLedger();
    private final Graphs graphs;
    private final TornadoExecutionPlan plan;
    /** The plan's graphs, in the order they are built (which is the order each hands its buffers on). */
    private static final int EMBED_FWD = 0, BLOCK_FWD = 1, HEAD_FWD = 2, HEAD_BWD = 3, BLOCK_BWD = 4, EMBED_BWD = 5, HEAD_REPLAY = 6,
            BLOCK_REPLAY = 7;
    private TornadoExecutionResult lastBackward;
    private DeviceProfile profile;     // with --device-profile
    private boolean deviceAhead;       // the device's weights are newer than the model's array

    TornadoLomo(LlamaModel model, OptimizerConfig config, TornadoDevice device, int batch, int seq) {
        super(model, config);
        if (config.kind() != OptimizerConfig.Kind.LOMO) {
            throw new IllegalArgumentException("--backend tornado runs LOMO only; --optimizer " + config.kind().id()
                    + (config.kind() == OptimizerConfig.Kind.ADALOMO
                    ? " needs per-weight reductions over rows and columns before each weight's update, which this backend's kernels do not have yet; use --backend jvm"
                    : " needs a full gradient set, which this backend never builds"));
        }
        weights = new DeviceWeights(model.parameters(), config.rounding().code);
        d = new DeviceBuffers(model.config(), model.layout(), batch, seq, true);
        d.account(deviceMemory, weights.deviceBytes());
        d.account(model.ledger(), weights.hostMirrorBytes());  // TornadoVM maps Java arrays: the host holds a copy of every device buffer
        graphs = new Graphs(model.config(), model.layout(), weights, d, device);
        List<TaskGraph> all = new ArrayList<>(graphs.forward(true));
        all.addAll(graphs.backward(config.clipNorm() > 0));
        if (config.clipNorm() > 0) all.addAll(graphs.replay());
        plan = graphs.plan(all);
    }

    @Override
    public StepResult step(Batch batch) {
        float loss = forwardLoss(batch, true);
        int counted = batch.countedTargets();
        d.control[Tasks.LOSS_SCALE] = counted == 0 ? 0f : 1f / counted;

        double norm = Double.NaN;
        float scale = 1f;
        if (config.clipNorm() > 0) {
            d.control[Tasks.MODE] = Tasks.NORM_PASS;
            lastBackward = graphs.throughLayers(this::run, HEAD_BWD, BLOCK_BWD, EMBED_BWD, true, true);
            lastBackward.transferToHost(d.partials);
            double s = 0;
            for (float r : d.partials) s += r;
            norm = Math.sqrt(s);
            scale = Update.clipScale(norm, config.clipNorm());
        }
        double lr = prepareHyperParameters(scale);
        System.arraycopy(hp, 0, d.hp, 0, hp.length);
        d.roundingKey[0] = roundingKey;
        d.control[Tasks.MODE] = Tasks.UPDATE_PASS;
        // Clipped, the updates replay the norm pass's gradients (head_replay, block_replay, then embed_bwd again).
        lastBackward = config.clipNorm() > 0 ? graphs.throughLayers(this::run, HEAD_REPLAY, BLOCK_REPLAY, EMBED_BWD, true, false)
                : graphs.throughLayers(this::run, HEAD_BWD, BLOCK_BWD, EMBED_BWD, true, true);
        deviceAhead = true;
        step++;
        return new StepResult(loss, norm, lr);
    }

    /**
     * An evaluation batch's mean loss from the training forward graphs, on the device's weights (nothing crosses but
     * tokens, targets and losses).
     */
    @Override
    public float evalLoss(Batch batch) {
        return forwardLoss(batch, false);
    }

    /**
     * The training forward graphs on {@code batch} (loaded as {@link #load} says): its mean loss. A step's ({@code full})
     * leaves the top layer's activations in the working set for the backward right after, unless clipping's replay will
     * read them from the store.
     */
    private float forwardLoss(Batch batch, boolean full) {
        load(batch, full);
        graphs.throughLayers(this::run, EMBED_FWD, BLOCK_FWD, HEAD_FWD, false, full && config.clipNorm() <= 0);
        return batch.meanLoss(d.losses);
    }

    /**
     * The batch's tokens and targets into the graphs' arrays. A training batch must fill them ({@code full}); an
     * evaluation batch of fewer rows (the last) is padded with rows that count no target, adding nothing to its loss.
     */
    private void load(Batch batch, boolean full) {
        boolean fits = full ? batch.batchSize() == d.batch : batch.batchSize() <= d.batch;
        if (!fits || batch.seqLen() != d.seq) {
            throw new IllegalArgumentException("the device graphs were built for batches of " + d.batch + " x " + d.seq
                    + ", got " + batch.batchSize() + " x " + batch.seqLen());
        }
        int n = batch.size();
        System.arraycopy(batch.tokens(), 0, d.tokens, 0, n);
        System.arraycopy(batch.targets(), 0, d.targets, 0, n);
        java.util.Arrays.fill(d.tokens, n, d.n, 0);
        java.util.Arrays.fill(d.targets, n, d.n, -1);
    }

    /** Runs graph i; with the profiler on, adds its times (read now: the result reads the plan's current graph). */
    private TornadoExecutionResult run(int i) {
        TornadoExecutionResult r = plan.withGraph(i).execute();
        if (profile != null) {
            TornadoProfilerResult p = r.getProfilerResult();
            profile.addExecution(p.getTotalTime(), p.getCompileTime(), p.getDeviceKernelTime(), p.getKernelDispatchTime(),
                    p.getDataTransfersTime(), p.getTotalBytesCopyIn(), p.getTotalBytesCopyOut());
        }
        return r;
    }

    @Override
    public void profileDevice() {
        plan.withProfiler(ProfilerMode.SILENT);
        profile = new DeviceProfile();
    }

    /**
     * The totals gathered step by step, and each kernel's device time from TornadoVM's log of every graph run
     * (JSON objects, one per run: {@code {graph: {totals..., "graph.task": {"TASK_KERNEL_TIME": ns, ...}}}}; a run
     * without tasks leaves a trailing comma, which the reader allows).
     */
    @Override
    public DeviceProfile deviceProfile() {
        if (profile == null || lastBackward == null) return profile;
        StringBuilder log = new StringBuilder();
        int[] graphsRun = config.clipNorm() > 0 ? new int[] {EMBED_FWD, BLOCK_FWD, HEAD_FWD, HEAD_BWD, BLOCK_BWD, HEAD_REPLAY, BLOCK_REPLAY,
                EMBED_BWD} : new int[] {EMBED_FWD, BLOCK_FWD, HEAD_FWD, HEAD_BWD, BLOCK_BWD, EMBED_BWD};  // unclipped, no replay graphs
        for (int i : graphsRun) {
            plan.withGraph(i);  // a result reads the plan's selected graph; embed_bwd, the last, stays selected, as after a step
            log.append(lastBackward.getProfilerResult().getProfileLog());
        }
        profile.clearKernels();
        var reader = JsonMapper.builder().enable(JsonReadFeature.ALLOW_TRAILING_COMMA).build().readerFor(JsonNode.class);
        try (MappingIterator<JsonNode> runs = reader.readValues(log.toString())) {
            while (runs.hasNext()) {
                for (JsonNode graph : runs.next()) {
                    for (var task : graph.properties()) {
                        JsonNode t = task.getValue().get("TASK_KERNEL_TIME");
                        if (t != null) profile.addKernel(task.getKey(), t.asLong());
                    }
                }
            }
        } catch (java.io.IOException e) {
            throw new IllegalStateException("reading TornadoVM's profiler log: " + e.getMessage(), e);
        }
        return profile;
    }

    /** Copies the device's weights into the model's array (for checkpoints and evaluation). */
    @Override
    public void syncToHost() {
        if (deviceAhead) lastBackward.transferToHost(weights.segments());
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
