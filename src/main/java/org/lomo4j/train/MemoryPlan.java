package org.lomo4j.train;

import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Parameters;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;

import java.util.Locale;

/**
 * A training run's memory, known before any of it is spent: the run's own constructors (the model's
 * parameters, the optimizer's gradients, state and scratch, the activations and kernel workspace for its
 * batch) run against a {@link MemoryLedger#planning planning ledger}, which counts their bytes without
 * allocating them. The plan is therefore the run's accounted peak, byte for byte, by construction.
 *
 * <p>{@link #choose} also decides activation checkpointing when the user did not: on exactly when the run
 * would not fit this JVM without it.
 */
public record MemoryPlan(MemoryLedger ledger, boolean checkpointing) {

    /** Share of the max heap a plan may fill: the rest is for what the ledger does not count (data, the JVM's own). */
    public static final double HEAP_SHARE = 0.9;

    /** The plan of a run with fp32 weights. */
    public static MemoryPlan of(LlamaConfig cfg, OptimizerConfig optimizer, int batch, int seq, boolean checkpointing,
                                Parallel par) {
        return of(cfg, ParamDtype.F32, optimizer, batch, seq, checkpointing, par);
    }

    /** The plan of a run whose weights are stored as {@code dtype} (counted in their real bytes). */
    public static MemoryPlan of(LlamaConfig cfg, ParamDtype dtype, OptimizerConfig optimizer, int batch, int seq,
                                boolean checkpointing, Parallel par) {
        return of(cfg, dtype, optimizer, batch, seq, checkpointing, par, 0);
    }

    /**
     * {@link #of(LlamaConfig, ParamDtype, OptimizerConfig, int, int, boolean, Parallel)} with evaluation's generation:
     * a key/value cache of {@code generationCache} rows × positions (0: no evaluation) beside the step's buffers.
     */
    public static MemoryPlan of(LlamaConfig cfg, ParamDtype dtype, OptimizerConfig optimizer, int batch, int seq,
                                boolean checkpointing, Parallel par, long generationCache) {
        MemoryLedger plan = MemoryLedger.planning();
        LlamaModel model = new LlamaModel(cfg, Parameters.allocate(new ParameterLayout(cfg), dtype, plan), par, plan);
        model.setCheckpointing(checkpointing);
        Optimizer.create(model, optimizer);
        model.reserve(batch, seq);
        model.planGenerationCache(generationCache);
        return new MemoryPlan(plan, checkpointing);
    }

    /**
     * The plan a run follows: with checkpointing as {@code requested}, or (null) without it when that fits
     * {@code budget} bytes, else with it.
     */
    public static MemoryPlan choose(LlamaConfig cfg, OptimizerConfig optimizer, int batch, int seq, Boolean requested,
                                    Parallel par, long budget) {
        return choose(cfg, ParamDtype.F32, optimizer, batch, seq, requested, par, budget);
    }

    /** {@link #choose} for weights stored as {@code dtype}. */
    public static MemoryPlan choose(LlamaConfig cfg, ParamDtype dtype, OptimizerConfig optimizer, int batch, int seq,
                                    Boolean requested, Parallel par, long budget) {
        return choose(cfg, dtype, optimizer, batch, seq, requested, par, budget, 0);
    }

    /** {@link #choose} with evaluation's key/value cache of {@code generationCache} rows × positions. */
    public static MemoryPlan choose(LlamaConfig cfg, ParamDtype dtype, OptimizerConfig optimizer, int batch, int seq,
                                    Boolean requested, Parallel par, long budget, long generationCache) {
        if (requested != null) return of(cfg, dtype, optimizer, batch, seq, requested, par, generationCache);
        MemoryPlan whole = of(cfg, dtype, optimizer, batch, seq, false, par, generationCache);
        return whole.peak() <= budget ? whole : of(cfg, dtype, optimizer, batch, seq, true, par, generationCache);
    }

    /** Bytes a plan may take in this JVM: {@link #HEAP_SHARE} of its max heap, and no more than the machine's memory. */
    public static long budget() {
        return Math.min((long) (HEAP_SHARE * Runtime.getRuntime().maxMemory()), physicalMemory());
    }

    /** The machine's physical memory in bytes (the max heap's when the JVM does not say). */
    public static long physicalMemory() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return Runtime.getRuntime().maxMemory();
    }

    public long peak() {
        return ledger.peakTotal();
    }

    public long bytes(Category c) {
        return ledger.peak(c);
    }

    /** The planned table, in the form of the table a run prints at its end. */
    public String table(String optimizerName) {
        return ledger.titledTable("Memory (planned peak bytes), optimizer " + optimizerName + ", activation checkpointing "
                + (checkpointing ? "on" : "off"));
    }

    /**
     * The one line a run that does not fit stops with: the bytes needed, the bytes there are, and how to get
     * more. Null when the plan fits {@code budget}.
     */
    public String verdict(long budget) {
        if (peak() <= budget) return null;
        long heap = Runtime.getRuntime().maxMemory();
        long ram = physicalMemory();
        String where = budget == ram && (long) (HEAP_SHARE * heap) > ram
                ? String.format(Locale.ROOT, "the machine's %s of memory", MemoryLedger.human(ram))
                : String.format(Locale.ROOT, "%s, %.0f%% of this JVM's max heap %s", MemoryLedger.human(budget), 100 * HEAP_SHARE,
                        MemoryLedger.human(heap));
        StringBuilder ways = new StringBuilder();
        if (!checkpointing) ways.append("--checkpoint-activations, ");
        ways.append("a smaller --batch or --seq");
        if (bytes(Category.GRADIENTS) > 0) ways.append(", --optimizer lomo (no gradients or optimizer states)");
        long heapNeeded = (long) Math.ceil(peak() / HEAP_SHARE / (1L << 30));  // GiB
        if (heapNeeded << 30 <= ram) {
            ways.append(String.format(Locale.ROOT, ", or a larger heap (LOMO4J_HEAP=%dg ./lomo4j ...; ./lomo4j gives the JVM 85%% of memory by default)",
                    heapNeeded));
        }
        return String.format(Locale.ROOT, "this run needs %s (parameters %s, gradients %s, optimizer states %s, activations %s, "
                        + "scratch %s), more than %s; try %s", MemoryLedger.human(peak()), MemoryLedger.human(bytes(Category.PARAMETERS)),
                MemoryLedger.human(bytes(Category.GRADIENTS)), MemoryLedger.human(bytes(Category.OPTIMIZER_STATE)),
                MemoryLedger.human(bytes(Category.ACTIVATIONS)), MemoryLedger.human(bytes(Category.SCRATCH)), where, ways);
    }
}
