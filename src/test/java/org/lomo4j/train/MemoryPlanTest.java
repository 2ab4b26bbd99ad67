package org.lomo4j.train;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.lomo4j.TinyModels;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A run's memory plan is its accounted peak, and checkpointing is chosen exactly when the run would not fit. */
class MemoryPlanTest {
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    /** 4 layers, V = 150 (three vocabulary tiles), tied: a run's every kind of buffer. */
    private static LlamaConfig config() {
        return new LlamaConfig(16, 24, 4, 4, 2, 150, 32, 1e-5f, 10000.0, true);
    }

    @ParameterizedTest(name = "{0}, checkpointing {1}, clip-norm {2}")
    @CsvSource({"lomo,false,1", "lomo,true,1", "lomo,true,0", "adalomo,false,0", "adalomo,true,1", "sgd,false,1", "sgd,true,0", "adamw,false,1", "adamw,true,1"})
    void planIsTheAccountedPeakOfTrainingSteps(String optimizer, boolean checkpointing, double clipNorm) {
        LlamaConfig cfg = config();
        OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.parse(optimizer), LrSchedule.constant(0.01)).withClipNorm(clipNorm);
        MemoryPlan plan = MemoryPlan.of(cfg, oc, 3, 12, checkpointing, PAR);

        MemoryLedger ledger = new MemoryLedger();
        LlamaModel model = TinyModels.model(cfg, 1, PAR, ledger);
        model.setCheckpointing(checkpointing);
        Optimizer opt = Optimizer.create(model, oc);
        model.reserve(3, 12);
        for (int step = 0; step < 2; step++) opt.step(TinyModels.batch(cfg, 3, 12, step));

        for (Category c : Category.values()) assertEquals(ledger.peak(c), plan.bytes(c), c.label());
        assertEquals(ledger.peakTotal(), plan.peak());
        assertEquals(checkpointing, plan.checkpointing());
    }

    @Test
    void checkpointingKeepsBlockInputsAndOneWorkingBlock() {
        LlamaConfig cfg = config();
        OptimizerConfig lomo = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.01));
        long whole = MemoryPlan.of(cfg, lomo, 4, 32, false, PAR).bytes(Category.ACTIVATIONS);
        long checkpointed = MemoryPlan.of(cfg, lomo, 4, 32, true, PAR).bytes(Category.ACTIVATIONS);
        LlamaConfig deeper = new LlamaConfig(16, 24, 8, 4, 2, 150, 32, 1e-5f, 10000.0, true);
        long deeperWhole = MemoryPlan.of(deeper, lomo, 4, 32, false, PAR).bytes(Category.ACTIVATIONS);
        long deeperCheckpointed = MemoryPlan.of(deeper, lomo, 4, 32, true, PAR).bytes(Category.ACTIVATIONS);

        long perBlock = (deeperWhole - whole) / 4;       // what a layer adds without checkpointing: its block, input, norm rows
        long perInput = (deeperCheckpointed - checkpointed) / 4;  // with it: the block's input, (N, C)
        assertEquals(4L * (4 * 32 * 16 + 2 * 16), perInput, "a checkpointed layer keeps its input (and its norms' two gradient rows)");
        assertEquals(3 * (perBlock - perInput), whole - checkpointed, "of 4 layers' blocks, 3 are gone: one working block remains");
        assertTrue(perInput * 10 < perBlock, "a block keeps far more than its input");
    }

    @Test
    void checkpointingIsChosenExactlyWhenTheRunWouldNotFit() {
        LlamaConfig cfg = config();
        OptimizerConfig lomo = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.01));
        long whole = MemoryPlan.of(cfg, lomo, 4, 32, false, PAR).peak();
        long checkpointed = MemoryPlan.of(cfg, lomo, 4, 32, true, PAR).peak();
        assertTrue(checkpointed < whole);

        assertFalse(MemoryPlan.choose(cfg, lomo, 4, 32, null, PAR, whole).checkpointing(), "fits: no recomputation");
        MemoryPlan tight = MemoryPlan.choose(cfg, lomo, 4, 32, null, PAR, whole - 1);
        assertTrue(tight.checkpointing(), "one byte short: checkpointing");
        assertNull(tight.verdict(whole - 1));
        assertFalse(MemoryPlan.choose(cfg, lomo, 4, 32, false, PAR, whole - 1).checkpointing(), "the user's choice stands");

        String verdict = tight.verdict(checkpointed - 1);
        assertTrue(verdict.startsWith("this run needs " + MemoryLedger.human(checkpointed) + " (parameters "), verdict);
        assertTrue(verdict.contains("a smaller --batch or --seq"), verdict);
        assertTrue(MemoryPlan.of(cfg, lomo, 4, 32, false, PAR).verdict(whole - 1).contains("--checkpoint-activations"));
    }

    /** Evaluation's exact match decodes with a key/value cache: the plan counts it, sized from the held-out examples. */
    @Test
    void planCountsEvaluationsKeyValueCache() {
        LlamaConfig cfg = new LlamaConfig(16, 24, 2, 4, 2, 259, 32, 1e-5f, 10000.0, true);
        OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.01));
        var tok = new org.lomo4j.data.ByteTokenizer();
        var data = new org.lomo4j.data.SyntheticSource(org.lomo4j.data.SyntheticTask.REVERSE, tok);
        int b = 8, t = 16;
        long cache = org.lomo4j.generate.Evaluator.cacheRowPositions(data.evalExamples(), b, t + 1, cfg.maxPositionEmbeddings(), tok);
        assertTrue(cache > 0 && cache <= (long) b * (t + 1), "rows x positions " + cache);
        MemoryPlan plan = MemoryPlan.of(cfg, org.lomo4j.model.ParamDtype.F32, oc, b, t, false, PAR, cache);
        MemoryPlan withoutEval = MemoryPlan.of(cfg, oc, b, t, false, PAR);
        assertEquals(2L * 4 * cfg.numHiddenLayers() * cache * cfg.kvDim(), plan.peak() - withoutEval.peak(), "the cache's bytes");

        MemoryLedger ledger = new MemoryLedger();
        LlamaModel model = TinyModels.model(cfg, 1, PAR, ledger);
        Optimizer opt = Optimizer.create(model, oc);
        model.reserve(b, t);
        opt.step(data.trainBatch(1, 0, b, t));
        new org.lomo4j.generate.Evaluator(model, tok).evaluate(data, b, t);
        for (Category c : Category.values()) assertEquals(ledger.peak(c), plan.bytes(c), c.label());
    }
}
