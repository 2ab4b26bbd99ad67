package org.lomo4j.optim;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.lomo4j.TinyModels;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.Batch;
import org.lomo4j.model.GradientSink;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.parallel.Parallel;

import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** LOMO is SGD with the update fused into backward: same weights after each step, far less memory. */
class LomoTest {
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    static Stream<Arguments> settings() {
        LrSchedule constant = LrSchedule.constant(0.05);
        LrSchedule cosine = new LrSchedule(LrSchedule.Kind.COSINE, 0.05, 1, 4);
        OptimizerConfig plain = OptimizerConfig.of(OptimizerConfig.Kind.SGD, constant);
        return Stream.of(
                Arguments.of("plain", "untied", plain, false),
                Arguments.of("plain, tied", "tied", plain, false),
                Arguments.of("clip-norm active", "untied", plain.withClipNorm(0.05), false),
                Arguments.of("clip-norm active, tied", "tied", plain.withClipNorm(0.05), false),
                Arguments.of("clip-value", "untied", plain.withClipValue(0.01), false),
                Arguments.of("both clips, weight decay, cosine", "tied",
                        OptimizerConfig.of(OptimizerConfig.Kind.SGD, cosine).withClipNorm(0.05).withClipValue(0.01).withWeightDecay(0.1), false),
                Arguments.of("qwen2 q/k/v biases, clip-norm active", "qwen2", plain.withClipNorm(0.05), false),
                Arguments.of("qwen3 q/k norms, clip-norm active", "qwen3", plain.withClipNorm(0.05), false),
                Arguments.of("head in vocabulary tiles, clip-norm active", "vocab-tiles", plain.withClipNorm(0.05), false),
                Arguments.of("head in vocabulary tiles, tied", "vocab-tiles, tied", plain, false),
                Arguments.of("checkpointed", "untied", plain, true),
                Arguments.of("checkpointed, clip-norm active, tied", "tied", plain.withClipNorm(0.05), true),
                Arguments.of("checkpointed, vocabulary tiles, weight decay", "vocab-tiles", plain.withClipNorm(0.05).withWeightDecay(0.1), true));
    }

    /** LOMO (checkpointed or not) against SGD without checkpointing. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("settings")
    void lomoStepEqualsSgdStep(String name, String model, OptimizerConfig sgdConfig, boolean checkpointing) {
        LlamaConfig cfg = TinyModels.named(model);
        LlamaModel sgdModel = TinyModels.model(cfg, 11, PAR, new MemoryLedger());
        LlamaModel lomoModel = TinyModels.model(cfg, 11, PAR, new MemoryLedger());
        lomoModel.setCheckpointing(checkpointing);
        Optimizer sgd = Optimizer.create(sgdModel, sgdConfig);
        Optimizer lomo = Optimizer.create(lomoModel, sgdConfig.withKind(OptimizerConfig.Kind.LOMO));
        float[] before = sgdModel.params().clone();

        for (int step = 0; step < 3; step++) {
            Batch batch = TinyModels.batch(cfg, 2, 6, 100 + step);
            StepResult s = sgd.step(batch);
            StepResult l = lomo.step(batch);
            assertEquals(s.loss(), l.loss(), 0f, "same weights must give the same loss at step " + step);
            if (sgdConfig.clipNorm() > 0) {
                assertEquals(s.gradNorm(), l.gradNorm(), 1e-6 * s.gradNorm(), "two-pass norm = full-gradient norm");
                assertTrue(s.gradNorm() > sgdConfig.clipNorm(), "the test must exercise clipping");
            }
            double worst = maxRelativeDifference(sgdModel.params(), lomoModel.params());
            assertTrue(worst <= 1e-5, "step " + step + ": max relative difference " + worst);
        }
        assertTrue(maxRelativeDifference(before, sgdModel.params()) > 1e-3, "the steps must move the weights");
    }

    @Test
    void lomoHoldsNoGradientBufferBeyondOneTilePerWorker() {
        LlamaConfig cfg = TinyModels.config(false);
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel model = TinyModels.model(cfg, 5, PAR, ledger);
        Optimizer lomo = Optimizer.create(model, OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.01)).withClipNorm(1));
        lomo.step(TinyModels.batch(cfg, 2, 6, 1));

        assertEquals(0, ledger.peak(Category.GRADIENTS));
        assertEquals(0, ledger.peak(Category.OPTIMIZER_STATE));
        long tileBound = 4L * PAR.threads() * Math.min(GradientSink.TILE_ROWS, model.layout().maxRows()) * model.layout().maxCols()
                + 8L * model.layout().maxRows();
        long lomoScratch = ledger.peak(Category.SCRATCH) - model.workspaceBytes();
        assertEquals(tileBound, lomoScratch, "one gradient tile per worker plus per-row norms");
        assertTrue(lomoScratch < 4L * model.layout().totalSize() / 2, "far from a full gradient set");
    }

    @Test
    void tiedEmbeddingHoldsExactlyOneTensor() {
        LlamaConfig cfg = TinyModels.config(true);
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel model = TinyModels.model(cfg, 5, PAR, ledger);
        Optimizer lomo = Optimizer.create(model, OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.01)));
        lomo.step(TinyModels.batch(cfg, 2, 6, 1));
        long bound = 4L * PAR.threads() * Math.min(GradientSink.TILE_ROWS, model.layout().maxRows()) * model.layout().maxCols()
                + 8L * model.layout().maxRows()
                + 4L * model.layout().embedding().size();
        assertEquals(bound, ledger.peak(Category.SCRATCH) - model.workspaceBytes());
        assertEquals(0, ledger.peak(Category.GRADIENTS));
    }

    @Test
    void adamwDiffersFromSgdButAlsoLowersTheLoss() {
        LlamaConfig cfg = TinyModels.config(false);
        LlamaModel model = TinyModels.model(cfg, 5, PAR, new MemoryLedger());
        Optimizer adamw = Optimizer.create(model, OptimizerConfig.of(OptimizerConfig.Kind.ADAMW, LrSchedule.constant(0.01)));
        Batch batch = TinyModels.batch(cfg, 2, 6, 1);
        float first = adamw.step(batch).loss();
        float last = first;
        for (int i = 0; i < 20; i++) last = adamw.step(batch).loss();
        assertTrue(last < first * 0.8, "AdamW should fit one batch: " + first + " -> " + last);
        assertNotEquals(first, last);
    }

    static double maxRelativeDifference(float[] a, float[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs(a[i] - b[i]) / Math.max(Math.max(Math.abs(a[i]), Math.abs(b[i])), 1e-6);
            worst = Math.max(worst, d);
        }
        return worst;
    }
}
