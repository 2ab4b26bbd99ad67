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
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.Parameters;
import org.lomo4j.model.Tensor;
import org.lomo4j.parallel.Parallel;

import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** AdaLomo, fused into backward, against the rule written out plainly over full gradients. */
class AdaLomoTest {
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    /**
     * The AdaLomo reference ({@code lomo_optim/adalomo.py}) as straightforward code: the whole gradient first,
     * then per tensor the factored (or, for a vector, full) second moment over whole rows and columns, the update
     * normalized by its RMS taken over the update itself, the learning rate scaled by the weight's RMS. Values are
     * fp32 as in PyTorch, sums are double.
     */
    static final class Reference {
        private final LlamaModel model;
        private final OptimizerConfig config;
        private final FullGradients grads;
        private final Map<String, float[]> row = new HashMap<>(), col = new HashMap<>(), vec = new HashMap<>();
        private int t;

        Reference(LlamaModel model, OptimizerConfig config) {
            this.model = model;
            this.config = config;
            this.grads = new FullGradients(model.layout(), model.parallel(), new MemoryLedger());
        }

        float step(Batch batch) {
            float loss = model.forward(batch);
            grads.zero();
            model.backward(grads);
            float coef = config.clipNorm() > 0 ? (float) Math.min(1.0, config.clipNorm() / (grads.norm() + 1e-6)) : 1f;
            float clip = config.clipValue() > 0 ? (float) config.clipValue() : Float.POSITIVE_INFINITY;
            float lr = (float) config.schedule().at(t);
            t++;
            float beta = (float) (1 - Math.pow(t, -0.8));
            Parameters p = model.parameters();
            for (Tensor w : model.layout().tensors()) {
                int rows = w.rows(), cols = w.cols(), n = w.size();
                float[] gb = grads.grads(w);
                float[] g = new float[n];
                for (int i = 0; i < n; i++) g[i] = Math.max(-clip, Math.min(clip, gb[w.offset() + i])) * coef;
                float[] u = new float[n];
                if (w.vector()) {
                    float[] v = vec.computeIfAbsent(w.name(), k -> new float[n]);
                    for (int i = 0; i < n; i++) {
                        v[i] = beta * v[i] + (1 - beta) * (g[i] * g[i] + 1e-30f);
                        u[i] = g[i] / (float) Math.sqrt(v[i]);
                    }
                } else {
                    float[] r = row.computeIfAbsent(w.name(), k -> new float[rows]);
                    float[] c = col.computeIfAbsent(w.name(), k -> new float[cols]);
                    for (int i = 0; i < rows; i++) {
                        double s = 0;
                        for (int j = 0; j < cols; j++) s += (double) g[i * cols + j] * g[i * cols + j];
                        r[i] = beta * r[i] + (1 - beta) * ((float) (s / cols) + 1e-30f);
                    }
                    for (int j = 0; j < cols; j++) {
                        double s = 0;
                        for (int i = 0; i < rows; i++) s += (double) g[i * cols + j] * g[i * cols + j];
                        c[j] = beta * c[j] + (1 - beta) * ((float) (s / rows) + 1e-30f);
                    }
                    double meanRow = 0;
                    for (float ri : r) meanRow += ri;
                    meanRow /= rows;
                    for (int i = 0; i < rows; i++) {
                        float rf = 1f / (float) Math.sqrt(r[i] / meanRow);
                        for (int j = 0; j < cols; j++) u[i * cols + j] = g[i * cols + j] * rf * (1f / (float) Math.sqrt(c[j]));
                    }
                }
                double uSq = 0, pSq = 0;
                for (int i = 0; i < n; i++) {
                    uSq += (double) u[i] * u[i];
                    pSq += (double) p.get(w, i) * p.get(w, i);
                }
                float divisor = (float) Math.max(1.0, Math.sqrt(uSq / n));
                float step = lr * (float) Math.max(1e-3, Math.sqrt(pSq / n));
                for (int i = 0; i < n; i++) {
                    float wi = p.get(w, i);
                    p.set(w, i, wi * (1 - step * (float) config.weightDecay()) - step * (u[i] / divisor));
                }
            }
            return loss;
        }
    }

    static Stream<Arguments> settings() {
        OptimizerConfig plain = OptimizerConfig.of(OptimizerConfig.Kind.ADALOMO, LrSchedule.constant(0.01));
        OptimizerConfig cosine = OptimizerConfig.of(OptimizerConfig.Kind.ADALOMO, new LrSchedule(LrSchedule.Kind.COSINE, 0.02, 1, 5));
        return Stream.of(
                Arguments.of("plain", "untied", plain, false),
                Arguments.of("tied embedding", "tied", plain, false),
                Arguments.of("clip-norm active", "untied", plain.withClipNorm(0.05), false),
                Arguments.of("clip-value, weight decay, cosine", "tied", cosine.withClipValue(0.01).withWeightDecay(0.1), false),
                Arguments.of("qwen2 q/k/v biases", "qwen2", plain, false),
                Arguments.of("qwen3 q/k norms, head dim 6 of hidden 8", "qwen3", plain, false),
                Arguments.of("head in vocabulary tiles: measured, then updated", "vocab-tiles", plain, false),
                Arguments.of("head in vocabulary tiles, clip-norm active", "vocab-tiles", plain.withClipNorm(0.05), false),
                Arguments.of("head in vocabulary tiles, tied", "vocab-tiles, tied", plain, false),
                Arguments.of("checkpointed, clip-norm active", "untied", plain.withClipNorm(0.05), true),
                Arguments.of("checkpointed, vocabulary tiles, weight decay", "vocab-tiles", cosine.withWeightDecay(0.1), true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("settings")
    void fusedAdaLomoEqualsTheReferenceOverSeveralSteps(String name, String model, OptimizerConfig config, boolean checkpointing) {
        LlamaConfig cfg = TinyModels.named(model);
        LlamaModel refModel = TinyModels.model(cfg, 11, PAR, new MemoryLedger());
        LlamaModel fusedModel = TinyModels.model(cfg, 11, PAR, new MemoryLedger());
        fusedModel.setCheckpointing(checkpointing);
        Reference reference = new Reference(refModel, config);
        Optimizer fused = Optimizer.create(fusedModel, config);
        float[] before = refModel.params().clone();
        for (int step = 0; step < 5; step++) {
            Batch batch = TinyModels.batch(cfg, 2, 6, 100 + step);
            float expected = reference.step(batch);
            StepResult r = fused.step(batch);
            assertEquals(expected, r.loss(), 1e-5f * Math.abs(expected), "step " + step + "'s loss");
            double worst = maxScaledDifference(refModel, fusedModel);
            assertTrue(worst <= 1e-5, "step " + step + ": max difference " + worst + " of a weight's magnitude");
        }
        assertTrue(LomoTest.maxRelativeDifference(before, refModel.params()) > 1e-3, "the steps must move the weights");
    }

    /**
     * max |a − b| / max(|a|, RMS of its tensor), over every weight. AdaLomo moves each weight by about lr · RMS
     * whatever its gradient, so weights pass near 0, where a plain relative difference of two correct
     * computations (whose gradients differ in the last bits) is large; relative to the tensor's scale it is not.
     */
    static double maxScaledDifference(LlamaModel a, LlamaModel b) {
        double worst = 0;
        for (Tensor w : a.layout().tensors()) {
            double squares = 0;
            for (int i = 0; i < w.size(); i++) squares += (double) a.parameters().get(w, i) * a.parameters().get(w, i);
            double rms = Math.sqrt(squares / w.size());
            for (int i = 0; i < w.size(); i++) {
                double x = a.parameters().get(w, i), y = b.parameters().get(w, i);
                worst = Math.max(worst, Math.abs(x - y) / Math.max(Math.abs(x), rms));
            }
        }
        return worst;
    }

    /** The state is a row and a column vector per matrix and a vector per vector: O(rows + cols), not AdamW's 2P. */
    @Test
    void statesAreFactoredAndNoGradientIsHeld() {
        LlamaConfig cfg = new LlamaConfig(64, 160, 2, 4, 2, 259, 32, 1e-5f, 10000.0, false);
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel model = TinyModels.model(cfg, 5, PAR, ledger);
        Optimizer ada = Optimizer.create(model, OptimizerConfig.of(OptimizerConfig.Kind.ADALOMO, LrSchedule.constant(0.01)));
        ada.step(TinyModels.batch(cfg, 2, 8, 1));
        long expected = 0;
        for (Tensor t : model.layout().tensors()) expected += t.vector() ? t.cols() : t.rows() + t.cols();
        assertEquals(4 * expected, ledger.peak(Category.OPTIMIZER_STATE));
        assertEquals(0, ledger.peak(Category.GRADIENTS));
        long adamw = 2L * 4 * model.layout().totalSize();
        assertTrue(ledger.peak(Category.OPTIMIZER_STATE) * 50 < adamw,
                ledger.peak(Category.OPTIMIZER_STATE) + " bytes of state, AdamW's " + adamw);
        assertTrue(ada.state().get("adalomo.exp_avg_sq_row")[0] > 0, "the moments were set");
    }

    /** bf16 weights (stochastic rounding) train as fp32 weights do. */
    @Test
    void bf16WeightsTrainAsFp32Weights() {
        LlamaConfig cfg = TinyModels.named("vocab-tiles");
        OptimizerConfig config = OptimizerConfig.of(OptimizerConfig.Kind.ADALOMO, LrSchedule.constant(0.05));
        float[] last = new float[2];
        float first = Float.NaN;
        for (ParamDtype dtype : new ParamDtype[] {ParamDtype.F32, ParamDtype.BF16}) {
            LlamaModel model = LlamaModel.initialize(cfg, dtype, 11, PAR, new MemoryLedger());
            Optimizer ada = Optimizer.create(model, config);
            for (int step = 0; step < 40; step++) {
                float loss = ada.step(TinyModels.batch(cfg, 2, 6, 7)).loss();
                if (step == 0) first = loss;
                last[dtype.ordinal()] = loss;
            }
            assertTrue(model.parameters().allFinite());
        }
        System.out.printf("AdaLomo on one batch: %.4f -> f32 %.4f, bf16 %.4f%n", first, last[0], last[1]);
        assertTrue(last[0] < first - 1, "fp32 AdaLomo fits one batch: " + first + " -> " + last[0]);
        assertEquals(last[0], last[1], 0.1, "bf16 follows fp32");
    }
}
