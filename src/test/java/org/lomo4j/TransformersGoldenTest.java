package org.lomo4j;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.lomo4j.checkpoint.Checkpoint;
import org.lomo4j.checkpoint.ModelWeights;
import org.lomo4j.checkpoint.Safetensors;
import org.lomo4j.checkpoint.TrainState;
import org.lomo4j.data.PromptTemplate;
import org.lomo4j.kernels.Half;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.Tensor;
import org.lomo4j.optim.FullGradients;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Against Hugging Face transformers itself: {@code src/test/resources/hf/make-hf-fixtures.py} saved tiny random
 * LlamaForCausalLM and Qwen2ForCausalLM checkpoints with save_pretrained, and recorded, in float64, their
 * logits, loss and every parameter's gradient on one batch. lomo4j loads the directories unchanged and must
 * agree: logits and loss within 1e-4, gradients within 1e-3 relative.
 *
 * <p>Then three LOMO steps, and the checkpoint lomo4j writes must load back to the same weights. With
 * {@code -Dlomo4j.hf.out=DIR} it is written to DIR/NAME with lomo4j's logits beside it, and again as BF16
 * shards to DIR/NAME-bf16-shards, for {@code check-hf-roundtrip.py} to load in transformers; and a model trained
 * with bf16 weights, saved as bf16, to DIR/NAME-bf16 with its logits.
 */
class TransformersGoldenTest {
    private static final Path FIXTURES = Path.of("src/test/resources/hf");
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "qwen2", "llama3", "qwen3"})
    void logitsLossAndGradientsMatchTransformers(String name, @TempDir Path tmp) throws IOException {
        Path dir = FIXTURES.resolve(name);
        JsonNode golden = new ObjectMapper().readTree(dir.resolve("golden.json").toFile());
        Safetensors expected = Safetensors.open(dir.resolve("golden.safetensors"));
        LlamaModel model = Checkpoint.loadModel(dir, 0, PAR, new MemoryLedger());
        assertEquals(name.equals("qwen2"), model.config().qkvBias());
        assertEquals(name.equals("qwen3"), model.config().qkNorm());
        int b = golden.get("batch").asInt(), t = golden.get("seq").asInt(), vocab = model.config().vocabSize();
        Batch batch = new Batch(ints(golden.get("tokens")), ints(golden.get("targets")), b, t);

        float[] wantLogits = new float[b * t * vocab];
        expected.read("logits", new int[] {b, t, vocab}, wantLogits, 0);
        float[] logits = model.logits(batch.tokens(), b, t);
        double worstLogit = 0;
        for (int i = 0; i < wantLogits.length; i++) worstLogit = Math.max(worstLogit, Math.abs(logits[i] - wantLogits[i]));
        assertTrue(worstLogit <= 1e-4, name + " logits differ by up to " + worstLogit);

        float loss = model.forward(batch);
        double wantLoss = golden.get("loss").asDouble();
        assertEquals(wantLoss, loss, 1e-4 * wantLoss, name + " loss");

        FullGradients grads = new FullGradients(model.layout(), PAR, new MemoryLedger());
        grads.zero();
        model.backward(grads);
        assertEquals(model.layout().tensors().size(), expected.entries().size() - 1, "a gradient for every parameter");
        for (Tensor w : model.layout().tensors()) {
            float[] want = new float[w.size()];
            expected.read("grad." + w.name(), w.shape(), want, 0);
            double scale = 0, worst = 0;
            for (float g : want) scale = Math.max(scale, Math.abs(g));
            for (int i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(grads.grads()[w.offset() + i] - want[i]));
            assertTrue(scale > 0, w.name() + ": the fixture must exercise it");
            assertTrue(worst <= 1e-3 * scale, w.name() + ": gradient differs by " + worst + " at scale " + scale);
        }

        // Fine-tune a few LOMO steps and write the HF directory back.
        OptimizerConfig lomo = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.05)).withClipNorm(1.0);
        Optimizer opt = Optimizer.create(model, lomo);
        for (int step = 0; step < 3; step++) opt.step(batch);
        String outDir = System.getProperty("lomo4j.hf.out");
        Path out = (outDir != null ? Path.of(outDir) : tmp).resolve(name);
        Checkpoint.save(out, model, opt, new TrainState(3, 0, "golden", b, t, lomo));
        assertArrayEquals(model.params(), Checkpoint.loadModel(out, 0, PAR, new MemoryLedger()).params());
        float[] tuned = model.logits(batch.tokens(), b, t).clone();
        Map<String, Safetensors.Slice> logitsFile = new LinkedHashMap<>();
        logitsFile.put("logits", new Safetensors.Slice(tuned, 0, new int[] {b, t, vocab}));
        Safetensors.write(out.resolve("lomo4j-logits.safetensors"), logitsFile, Map.of());
        Files.copy(dir.resolve("golden.json"), out.resolve("golden.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        // The same weights as BF16 shards with an index, as transformers writes large models.
        Path shards = out.resolveSibling(out.getFileName() + "-bf16-shards");
        Checkpoint.save(shards, model, opt, new TrainState(3, 0, "golden", b, t, lomo), Map.of(), Map.of(),
                new ModelWeights.Format(Safetensors.Dtype.BF16, 10_000));
        assertTrue(Files.isRegularFile(shards.resolve(ModelWeights.INDEX)), "shards of at most 10 kB, and their index");
        float[] rounded = Checkpoint.loadModel(shards, 0, PAR, new MemoryLedger()).params();
        for (int i = 0; i < rounded.length; i++) {
            assertEquals(Float.intBitsToFloat(Half.nearest(model.params()[i], Half.BF16) << 16), rounded[i], 0f, "param " + i);
        }

        // A bf16 model: the fixture loaded into bf16 weights, three LOMO steps with stochastic rounding, saved
        // in its stored dtype; it must load back bit for bit (and in transformers, check-hf-roundtrip.py).
        LlamaModel half = Checkpoint.loadModel(dir, ParamDtype.BF16, 0, PAR, new MemoryLedger());
        Optimizer halfOpt = Optimizer.create(half, lomo);
        for (int step = 0; step < 3; step++) halfOpt.step(batch);
        Path bf16 = out.resolveSibling(out.getFileName() + "-bf16");
        Checkpoint.save(bf16, half, halfOpt, new TrainState(3, 0, "golden", b, t, lomo, PromptTemplate.NONE, ParamDtype.BF16));
        assertEquals(Safetensors.Dtype.BF16, Safetensors.open(bf16.resolve(ModelWeights.SINGLE)).entries().get("model.norm.weight").dtype());
        LlamaModel halfBack = Checkpoint.loadModel(bf16, ParamDtype.BF16, 0, PAR, new MemoryLedger());
        for (Tensor w : half.layout().tensors()) {
            for (int i = 0; i < w.size(); i++) assertEquals(half.parameters().get(w, i), halfBack.parameters().get(w, i), 0f, w.name());
        }
        Map<String, Safetensors.Slice> halfLogits = new LinkedHashMap<>();
        halfLogits.put("logits", new Safetensors.Slice(half.logits(batch.tokens(), b, t).clone(), 0, new int[] {b, t, vocab}));
        Safetensors.write(bf16.resolve("lomo4j-logits.safetensors"), halfLogits, Map.of());
        Files.copy(dir.resolve("golden.json"), bf16.resolve("golden.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private static int[] ints(JsonNode array) {
        int[] a = new int[array.size()];
        for (int i = 0; i < a.length; i++) a[i] = array.get(i).asInt();
        return a;
    }
}
