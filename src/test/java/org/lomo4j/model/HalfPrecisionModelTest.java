package org.lomo4j.model;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.lomo4j.TinyModels;
import org.lomo4j.kernels.Half;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.optim.FullGradients;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;

import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 16-bit weights are widened exactly where they are read, so a bf16 or f16 model computes what an fp32 model
 * holding the same values computes, bit for bit; and segments change where the weights live, never what is
 * computed (stochastic rounding included, since its random bits follow a weight's index, not its segment).
 */
class HalfPrecisionModelTest {
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    /** {@code src}'s weights (rounded to nearest if 16-bit) in a model of {@code layout} storing {@code dtype}. */
    static LlamaModel copy(LlamaModel src, ParameterLayout layout, ParamDtype dtype, MemoryLedger ledger) {
        Parameters p = Parameters.allocate(layout, dtype, ledger);
        for (Tensor t : src.layout().tensors()) {
            Tensor d = layout.get(t.name());
            for (int i = 0; i < t.size(); i++) p.set(d, i, src.parameters().get(t, i));
        }
        return new LlamaModel(src.config(), p, PAR, ledger);
    }

    static Stream<Arguments> modelsAndDtypes() {
        return Stream.of("untied", "tied", "qwen2", "vocab-tiles, tied").flatMap(
                name -> Stream.of(Arguments.of(name, ParamDtype.BF16), Arguments.of(name, ParamDtype.F16)));
    }

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("modelsAndDtypes")
    void halfWeightsComputeExactlyWhatTheirValuesComputeInFp32(String name, ParamDtype dtype) {
        LlamaConfig cfg = TinyModels.named(name);
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel source = TinyModels.model(cfg, 3, PAR, ledger);
        LlamaModel half = copy(source, new ParameterLayout(cfg), dtype, ledger);
        LlamaModel widened = copy(half, new ParameterLayout(cfg), ParamDtype.F32, ledger);
        assertNotEquals(source.params()[5], widened.params()[5], "the test's weights must be rounded by the 16-bit copy");
        Batch batch = TinyModels.batch(cfg, 2, 5, 4);

        assertArrayEquals(widened.logits(batch.tokens(), 2, 5).clone(), half.logits(batch.tokens(), 2, 5).clone());
        assertEquals(widened.forward(batch), half.forward(batch), 0f);
        FullGradients want = new FullGradients(widened.layout(), PAR, ledger);
        FullGradients got = new FullGradients(half.layout(), PAR, ledger);
        want.zero();
        got.zero();
        widened.backward(want);
        half.backward(got);
        assertArrayEquals(want.grads(), got.grads(), "the same fp32 gradients, whatever the weights are stored in");
    }

    static Stream<Arguments> optimizersAndDtypes() {
        LrSchedule lr = LrSchedule.constant(0.05);
        OptimizerConfig lomo = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, lr).withClipNorm(0.05).withWeightDecay(0.1).withSeed(9);
        return Stream.of(ParamDtype.F32, ParamDtype.BF16).flatMap(d -> Stream.of(
                Arguments.of(lomo, d),
                Arguments.of(lomo.withClipNorm(0), d),
                Arguments.of(lomo.withKind(OptimizerConfig.Kind.SGD), d),
                Arguments.of(lomo.withKind(OptimizerConfig.Kind.ADAMW), d)));
    }

    @ParameterizedTest(name = "{1} {0}")
    @MethodSource("optimizersAndDtypes")
    void trainingInManySegmentsEqualsTrainingInOne(OptimizerConfig oc, ParamDtype dtype) {
        LlamaConfig cfg = TinyModels.named("untied");
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel source = TinyModels.model(cfg, 3, PAR, ledger);
        ParameterLayout many = new ParameterLayout(cfg, 100);  // the largest tensor is 96 values
        assertTrue(many.segments() >= 4, "the test must split the weights: " + many.segments() + " segments");
        LlamaModel one = copy(source, new ParameterLayout(cfg), dtype, ledger);
        LlamaModel split = copy(source, many, dtype, ledger);
        Optimizer a = Optimizer.create(one, oc);
        Optimizer b = Optimizer.create(split, oc);
        for (int step = 0; step < 3; step++) {
            Batch batch = TinyModels.batch(cfg, 2, 6, 100 + step);
            assertEquals(a.step(batch).loss(), b.step(batch).loss(), 0f, "step " + step);
        }
        for (Tensor t : one.layout().tensors()) {
            Tensor u = many.get(t.name());
            for (int i = 0; i < t.size(); i++) {
                assertEquals(one.parameters().get(t, i), split.parameters().get(u, i), 0f, t.name() + "[" + i + "]");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(ParamDtype.class)
    void parametersAreCountedInTheirRealBytes(ParamDtype dtype) {
        LlamaConfig cfg = TinyModels.named("untied");
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel m = LlamaModel.initialize(cfg, dtype, 1, PAR, ledger);
        assertEquals((long) dtype.bytes * m.layout().totalSize(), ledger.peak(Category.PARAMETERS));
        assertEquals(dtype, m.parameters().dtype());
        if (dtype.half()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, m::params);
            assertTrue(e.getMessage().contains(dtype.id()), e.getMessage());
        }
    }

    @Test
    void initializationIsTheFp32DrawsRounded() {
        LlamaConfig cfg = TinyModels.named("qwen2");
        LlamaModel f32 = LlamaModel.initialize(cfg, 5, PAR, new MemoryLedger());
        LlamaModel bf16 = LlamaModel.initialize(cfg, ParamDtype.BF16, 5, PAR, new MemoryLedger());
        for (Tensor t : f32.layout().tensors()) {
            for (int i = 0; i < t.size(); i++) {
                float v = f32.parameters().get(t, i);
                assertEquals(Half.toFloat(Half.nearest(v, Half.BF16),
                        Half.BF16), bf16.parameters().get(t, i), 0f, t.name());
            }
        }
    }

    /**
     * Llama-2-7B's 6.7B weights take four segments, and each block lies whole in one, right after the one before or
     * at a segment's start: what lets a device widen a layer from one array at the same offsets every time.
     */
    @Test
    void blocksLieWholeInOneSegment() {
        ParameterLayout layout = new ParameterLayout(LlamaConfig.load(java.nio.file.Path.of("models/llama-2-7b/config.json")));
        assertEquals(4, layout.segments());
        ParameterLayout.Block previous = null;
        for (ParameterLayout.Block b : layout.blocks()) {
            Tensor first = b.inputNorm(), last = b.wDown();
            assertEquals(first.segment(), last.segment(), first.name());
            if (previous != null && previous.wDown().segment() == first.segment()) {
                assertEquals(previous.wDown().offset() + previous.wDown().size(), first.offset(), "next to the block before");
            } else if (previous != null) {
                assertEquals(0, first.offset(), "a new segment's start");
            }
            previous = b;
        }
    }

    @Test
    void aTensorLargerThanASegmentIsAClearError() {
        ConfigException e = assertThrows(ConfigException.class, () -> new ParameterLayout(TinyModels.named("untied"), 50));
        assertTrue(e.getMessage().contains("model.embed_tokens.weight"), e.getMessage());
    }
}
