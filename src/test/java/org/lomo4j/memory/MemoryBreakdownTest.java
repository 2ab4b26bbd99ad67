package org.lomo4j.memory;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.lomo4j.TinyModels;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;

import java.util.EnumMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The paper's Table 1, measured: with parameters dominating, AdamW ≈ 4×P + A, SGD ≈ 2×P + A and
 * LOMO ≈ P + A + one tile of gradient rows per worker (P parameter bytes, A activation bytes).
 */
class MemoryBreakdownTest {
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    @Test
    void peaksFollowTheAnalyticBreakdown() {
        // ~560k parameters against a batch of 1 × 4 tokens: parameters dominate.
        LlamaConfig cfg = new LlamaConfig(64, 256, 8, 4, 2, 512, 32, 1e-5f, 10000.0, false);
        Map<OptimizerConfig.Kind, MemoryLedger> ledgers = new EnumMap<>(OptimizerConfig.Kind.class);
        long paramBytes = 0;
        long actBytes = 0;
        long workspace = 0;  // the SIMD matmul's packed blocks: the same for every optimizer
        for (OptimizerConfig.Kind kind : OptimizerConfig.Kind.values()) {
            MemoryLedger ledger = new MemoryLedger();
            LlamaModel model = TinyModels.model(cfg, 1, PAR, ledger);
            Optimizer opt = Optimizer.create(model, OptimizerConfig.of(kind, LrSchedule.constant(1e-3)).withClipNorm(1.0));
            for (int i = 0; i < 2; i++) opt.step(TinyModels.batch(cfg, 1, 4, i));
            ledgers.put(kind, ledger);
            paramBytes = 4 * model.layout().totalSize();
            actBytes = ledger.peak(Category.ACTIVATIONS);
            workspace = model.workspaceBytes();
        }
        MemoryLedger adamw = ledgers.get(OptimizerConfig.Kind.ADAMW);
        MemoryLedger sgd = ledgers.get(OptimizerConfig.Kind.SGD);
        MemoryLedger lomo = ledgers.get(OptimizerConfig.Kind.LOMO);
        MemoryLedger adalomo = ledgers.get(OptimizerConfig.Kind.ADALOMO);

        for (MemoryLedger l : ledgers.values()) {
            assertEquals(paramBytes, l.peak(Category.PARAMETERS));
            assertEquals(actBytes, l.peak(Category.ACTIVATIONS), "activations do not depend on the optimizer");
        }
        assertEquals(paramBytes, adamw.peak(Category.GRADIENTS));
        assertEquals(2 * paramBytes, adamw.peak(Category.OPTIMIZER_STATE));
        assertEquals(4 * paramBytes + actBytes + workspace, adamw.peakTotal());
        assertEquals(paramBytes, sgd.peak(Category.GRADIENTS));
        assertEquals(0, sgd.peak(Category.OPTIMIZER_STATE));
        assertEquals(2 * paramBytes + actBytes + workspace, sgd.peakTotal());
        assertEquals(0, lomo.peak(Category.GRADIENTS));
        assertEquals(0, lomo.peak(Category.OPTIMIZER_STATE));
        assertEquals(paramBytes + actBytes + lomo.peak(Category.SCRATCH), lomo.peakTotal());
        long lomoScratch = lomo.peak(Category.SCRATCH) - workspace;
        // One tile of up to 64 rows per worker, whatever the depth.
        assertTrue(lomoScratch < paramBytes / 10, "LOMO's scratch is a tile per worker, not a tensor set: "
                + lomoScratch + " of " + paramBytes + " bytes");

        // AdaLomo: LOMO's memory plus a row and a column moment per matrix (P / 30 here), no gradients.
        assertEquals(0, adalomo.peak(Category.GRADIENTS));
        assertTrue(adalomo.peak(Category.OPTIMIZER_STATE) > 0 && adalomo.peak(Category.OPTIMIZER_STATE) < paramBytes / 20,
                "AdaLomo's factored moments: " + adalomo.peak(Category.OPTIMIZER_STATE) + " of " + paramBytes + " bytes");
        assertTrue(adalomo.peakTotal() < 1.15 * lomo.peakTotal(), "AdaLomo " + adalomo.peakTotal() + " vs LOMO " + lomo.peakTotal());

        // Parameters dominate here, so the totals approach 4 : 2 : 1.
        assertTrue(actBytes < paramBytes / 4, "test premise: parameters dominate");
        double adamwOverLomo = (double) adamw.peakTotal() / lomo.peakTotal();
        double sgdOverLomo = (double) sgd.peakTotal() / lomo.peakTotal();
        assertTrue(adamwOverLomo > 3.0 && adamwOverLomo < 4.0, "AdamW / LOMO = " + adamwOverLomo);
        assertTrue(sgdOverLomo > 1.6 && sgdOverLomo < 2.0, "SGD / LOMO = " + sgdOverLomo);
        System.out.println(adamw.table("adamw") + sgd.table("sgd") + lomo.table("lomo"));
    }

    @Test
    void releasingActivationsReturnsTheirBytes() {
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel model = TinyModels.model(TinyModels.config(false), 1, PAR, ledger);
        model.reserve(2, 8);
        long held = ledger.current(Category.ACTIVATIONS);
        assertTrue(held > 0);
        model.reserve(4, 8);
        assertTrue(ledger.current(Category.ACTIVATIONS) > held, "growing reallocates");
        model.releaseActivations();
        assertEquals(0, ledger.current(Category.ACTIVATIONS));
    }
}
