package org.lomo4j.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.data.SyntheticSource;
import org.lomo4j.data.SyntheticTask;
import org.lomo4j.kernels.Half;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;
import org.lomo4j.train.Trainer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointTest {
    /** Small enough for milliseconds per step; vocab fits the byte tokenizer. */
    private static final LlamaConfig CFG = new LlamaConfig(16, 24, 2, 2, 1, ByteTokenizer.VOCAB_SIZE, 32, 1e-5f, 10000.0, false);
    private static final int BATCH = 4, SEQ = 16;

    // ---- safetensors ----

    @Test
    void safetensorsRoundTripIsExact(@TempDir Path dir) throws IOException {
        float[] a = {1.5f, -2.25f, Float.MIN_VALUE, 3e38f, 0f, -0f};
        Map<String, Safetensors.Slice> t = new LinkedHashMap<>();
        t.put("a", new Safetensors.Slice(a, 0, new int[] {2, 3}));
        t.put("b", new Safetensors.Slice(a, 2, new int[] {4}));
        Path f = dir.resolve("x.safetensors");
        Safetensors.write(f, t, Map.of("format", "pt"));

        Safetensors st = Safetensors.open(f);
        assertEquals("pt", st.metadata().get("format"));
        float[] out = new float[10];
        st.read("a", new int[] {2, 3}, out, 0);
        st.read("b", new int[] {4}, out, 6);
        float[] want = {1.5f, -2.25f, Float.MIN_VALUE, 3e38f, 0f, -0f, Float.MIN_VALUE, 3e38f, 0f, -0f};
        for (int i = 0; i < want.length; i++) assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(out[i]));
        // The layout is the format's: 8-byte little-endian header length, JSON header, 8-aligned data.
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        long headerLen = raw.getLong(0);
        assertEquals(0, headerLen % 8);
        assertEquals(8 + headerLen + 4 * 10, Files.size(f));
        assertEquals(1.5f, raw.getFloat((int) (8 + headerLen)));
    }

    @Test
    void halfPrecisionDtypesConvertOnLoad(@TempDir Path dir) throws IOException {
        float[] values = {1f, -2.5f, 0.099975586f, 65504f};
        ByteBuffer f16 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer bf16 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            f16.putShort(Float.floatToFloat16(v));
            bf16.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
        }
        String header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[8,16]}}";
        Path f = raw(dir, header, concat(f16.array(), bf16.array()));
        Safetensors st = Safetensors.open(f);
        float[] out = new float[8];
        st.read("h", new int[] {2, 2}, out, 0);
        st.read("b", new int[] {4}, out, 4);
        assertArrayEquals(values, Arrays.copyOf(out, 4));
        for (int i = 0; i < 4; i++) {
            float truncated = Float.intBitsToFloat(Float.floatToRawIntBits(values[i]) & 0xFFFF0000);
            assertEquals(truncated, out[4 + i]);
        }
    }

    @Test
    void malformedFilesFailNamingFileAndTensor(@TempDir Path dir) throws IOException {
        byte[] data = new byte[16];
        // Truncated: the header promises more data than the file holds.
        String msg = openError(raw(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}", data));
        assertTrue(msg.contains("tensor 'w'") && msg.contains("outside the data section of 16 bytes"), msg);
        // Lying shape: 2x3 floats need 24 bytes, offsets span 16.
        msg = openError(raw(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", data));
        assertTrue(msg.contains("needs 24 bytes, data_offsets span 16"), msg);
        // Unknown dtype.
        msg = openError(raw(dir, "{\"w\":{\"dtype\":\"I8\",\"shape\":[16],\"data_offsets\":[0,16]}}", data));
        assertTrue(msg.contains("unsupported dtype 'I8'"), msg);
        // Header that is not JSON.
        msg = openError(raw(dir, "{\"w\": [", data));
        assertTrue(msg.contains("not valid JSON"), msg);
        // Header length larger than the file.
        Path f = dir.resolve("short.safetensors");
        Files.write(f, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        msg = openError(f);
        assertTrue(msg.contains("header length 1000 does not fit the file of 12 bytes"), msg);
        // Fewer than 8 bytes.
        Files.write(f, new byte[3]);
        assertTrue(openError(f).contains("too short"));
    }

    @Test
    void readChecksNameAndShape(@TempDir Path dir) throws IOException {
        Path f = raw(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", new byte[16]);
        Safetensors st = Safetensors.open(f);
        float[] out = new float[4];
        String msg = assertThrows(CheckpointException.class, () -> st.read("w", new int[] {4, 1}, out, 0)).getMessage();
        assertEquals(f + ": tensor 'w' has shape [2, 2], the config needs [4, 1]", msg);
        msg = assertThrows(CheckpointException.class, () -> st.read("v", new int[] {4}, out, 0)).getMessage();
        assertEquals(f + ": missing tensor 'v'", msg);
    }

    // ---- checkpoints ----

    @Test
    void checkpointReloadsTheSameModel(@TempDir Path dir) throws IOException {
        try (Parallel par = new Parallel(2)) {
            LlamaModel m = LlamaModel.initialize(CFG, 5, par, new MemoryLedger());
            Optimizer opt = Optimizer.create(m, lomo(10));
            Path ckpt = dir.resolve("step-000000");
            Checkpoint.save(ckpt, m, opt, state(0, lomo(10)));
            LlamaModel back = Checkpoint.loadModel(ckpt, 999, par, new MemoryLedger());
            assertEquals(CFG, back.config());
            assertArrayEquals(m.params(), back.params());
            assertEquals(state(0, lomo(10)), Checkpoint.loadTrainState(ckpt));

            // The prompt template travels with the recipe; trainer.json files from before templates mean none.
            TrainState chat = new TrainState(3, 3, "chat.jsonl", BATCH, SEQ, lomo(10), org.lomo4j.data.PromptTemplate.CHATML,
                    org.lomo4j.model.ParamDtype.F32);
            Checkpoint.save(ckpt, m, opt, chat);
            assertEquals(chat, Checkpoint.loadTrainState(ckpt));
            ObjectNode old = (ObjectNode) new ObjectMapper().readTree(ckpt.resolve("trainer.json").toFile());
            old.remove("template");
            Files.writeString(ckpt.resolve("trainer.json"), old.toString());
            assertEquals(org.lomo4j.data.PromptTemplate.NONE, Checkpoint.loadTrainState(ckpt).template());
        }
    }

    @Test
    void checkpointThatDisagreesWithItsConfigIsRejected(@TempDir Path dir) throws IOException {
        try (Parallel par = new Parallel(1)) {
            LlamaModel m = LlamaModel.initialize(CFG, 5, par, new MemoryLedger());
            Path ckpt = dir.resolve("ckpt");
            Checkpoint.save(ckpt, m, Optimizer.create(m, lomo(10)), state(0, lomo(10)));
            ObjectMapper json = new ObjectMapper();
            ObjectNode cfg = (ObjectNode) json.readTree(ckpt.resolve("config.json").toFile());
            cfg.put("intermediate_size", 32);
            Files.writeString(ckpt.resolve("config.json"), cfg.toString());
            String msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger()))
                    .getMessage();
            assertTrue(msg.contains("model.layers.0.mlp.gate_proj.weight") && msg.contains("has shape [24, 16], the config needs [32, 16]"), msg);

            // Extra tensors are an error, except old HF checkpoints' RoPE buffers, which are skipped.
            cfg.put("intermediate_size", 24);
            Files.writeString(ckpt.resolve("config.json"), cfg.toString());
            Safetensors.write(ckpt.resolve("model.safetensors"), withExtra(m, "model.layers.0.self_attn.rotary_emb.inv_freq"), Map.of());
            assertArrayEquals(m.params(), Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger()).params());
            Safetensors.write(ckpt.resolve("model.safetensors"), withExtra(m, "model.layers.0.mlp.bias"), Map.of());
            msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger())).getMessage();
            assertTrue(msg.contains("unexpected tensor 'model.layers.0.mlp.bias'"), msg);

            Files.delete(ckpt.resolve("model.safetensors"));
            msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger())).getMessage();
            assertEquals(ckpt + ": no model.safetensors or model.safetensors.index.json", msg);
        }
    }

    @ParameterizedTest
    @EnumSource(Safetensors.Dtype.class)
    void shardedSaveWritesHfIndexAndLoadsBack(Safetensors.Dtype dtype, @TempDir Path dir) throws IOException {
        try (Parallel par = new Parallel(1)) {
            LlamaModel m = LlamaModel.initialize(CFG, 5, par, new MemoryLedger());
            Path ckpt = dir.resolve("ckpt");
            long limit = (long) dtype.width * m.params().length / 3;  // three or four shards
            Checkpoint.save(ckpt, m, Optimizer.create(m, lomo(10)), state(0, lomo(10)), Map.of(), Map.of(),
                    new ModelWeights.Format(dtype, limit));

            JsonNode index = new ObjectMapper().readTree(ckpt.resolve("model.safetensors.index.json").toFile());
            assertFalse(Files.exists(ckpt.resolve("model.safetensors")));
            assertEquals((long) dtype.width * m.params().length, index.path("metadata").path("total_size").asLong());
            java.util.Set<String> shardFiles = new java.util.TreeSet<>();
            index.get("weight_map").forEach(f -> shardFiles.add(f.asText()));
            int n = shardFiles.size();
            assertTrue(n >= 3, "shards: " + shardFiles);
            for (int i = 1; i <= n; i++) {
                Path shard = ckpt.resolve(String.format("model-%05d-of-%05d.safetensors", i, n));
                assertTrue(Files.size(shard) <= limit + 4096 || Safetensors.open(shard).entries().size() == 1, shard + " over the limit");
            }
            assertEquals(m.layout().tensors().size(), index.get("weight_map").size());
            assertEquals(dtype.torchName, new ObjectMapper().readTree(ckpt.resolve("config.json").toFile()).get("torch_dtype").asText());

            float[] back = Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger()).params();
            for (int i = 0; i < back.length; i++) {
                float want = switch (dtype) {
                    case F32 -> m.params()[i];
                    case F16 -> Float.float16ToFloat(Float.floatToFloat16(m.params()[i]));
                    case BF16 -> Float.intBitsToFloat(Half.nearest(m.params()[i], Half.BF16) << 16);
                };
                assertEquals(want, back[i], 0f, "param " + i);
            }
        }
    }

    @Test
    void brokenShardedCheckpointsFailNamingTheFile(@TempDir Path dir) throws IOException {
        try (Parallel par = new Parallel(1)) {
            LlamaModel m = LlamaModel.initialize(CFG, 5, par, new MemoryLedger());
            Path ckpt = dir.resolve("ckpt");
            Checkpoint.save(ckpt, m, Optimizer.create(m, lomo(10)), state(0, lomo(10)), Map.of(), Map.of(),
                    new ModelWeights.Format(Safetensors.Dtype.F32, 4L * m.params().length / 2));
            Path index = ckpt.resolve("model.safetensors.index.json");
            String good = Files.readString(index);

            Path lastShard = ckpt.resolve("model-00003-of-00003.safetensors");
            byte[] shard = Files.readAllBytes(lastShard);
            Files.delete(lastShard);
            String msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger())).getMessage();
            assertTrue(msg.startsWith(index + ": missing shard 'model-00003-of-00003.safetensors'"), msg);
            Files.write(lastShard, shard);

            Files.writeString(index, good.replace("\"model-00003-of-00003", "\"model-00001-of-00003"));
            msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger())).getMessage();
            assertTrue(msg.contains("model-00001-of-00003.safetensors: no tensor '") && msg.contains("which model.safetensors.index.json places there"), msg);

            Files.writeString(index, good.replace("\"model.norm.weight\"", "\"model.norm.weight.gone\""));
            msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger())).getMessage();
            assertTrue(msg.contains("no tensor 'model.norm.weight.gone'"), msg);

            Files.writeString(index, "{\"metadata\": {}}");
            msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger())).getMessage();
            assertTrue(msg.startsWith(index + ": needs a non-empty object 'weight_map'"), msg);

            Files.writeString(index, "{\"weight_map\": {\"model.norm.weight\": \"../elsewhere.safetensors\"}}");
            msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger())).getMessage();
            assertTrue(msg.contains("must be a file name in the directory"), msg);

            Files.writeString(index, good.substring(0, good.length() / 2));
            msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger())).getMessage();
            assertTrue(msg.startsWith(index + ": not readable as JSON"), msg);
        }
    }

    /** Tensors are mapped one by one, so data past the 2 GiB a single mapping holds is read correctly. */
    @Test
    void tensorsBeyondTwoGibibytesAreRead(@TempDir Path dir) throws IOException {
        long at = 3_000_000_000L;
        byte[] h = ("{\"far\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + at + "," + (at + 8) + "]}}")
                .getBytes(StandardCharsets.UTF_8);
        Path f = dir.resolve("big.safetensors");
        try (var file = new java.io.RandomAccessFile(f.toFile(), "rw")) {  // sparse: no 3 GB on disk
            file.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            file.write(h);
            file.seek(8 + h.length + at);
            file.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1.25f).putFloat(-7f).array());
        }
        float[] out = new float[2];
        Safetensors.open(f).read("far", new int[] {2}, out, 0);
        assertArrayEquals(new float[] {1.25f, -7f}, out);
    }

    @Test
    void savingOverACheckpointReplacesItWhole(@TempDir Path dir) throws IOException {
        try (Parallel par = new Parallel(1)) {
            LlamaModel m = LlamaModel.initialize(CFG, 5, par, new MemoryLedger());
            Optimizer opt = Optimizer.create(m, lomo(10));
            Path ckpt = dir.resolve("last");
            Checkpoint.save(ckpt, m, opt, state(0, lomo(10)));
            // A crash during an earlier save left a half-written sibling behind; it must not leak in.
            Files.createDirectories(dir.resolve("last.tmp"));
            Files.writeString(dir.resolve("last.tmp/model.safetensors"), "garbage");
            m.params()[0] = 42f;
            Checkpoint.save(ckpt, m, opt, state(7, lomo(10)));
            assertEquals(42f, Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger()).params()[0]);
            assertEquals(7, Checkpoint.loadTrainState(ckpt).step());
            assertFalse(Files.exists(dir.resolve("last.tmp")));
            assertFalse(Files.exists(dir.resolve("last.old")));
        }
    }

    @Test
    void failedWriteLeavesThePreviousFile(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("trainer.json");
        AtomicFiles.writeString(f, "old");
        assertThrows(IOException.class, () -> AtomicFiles.write(f, out -> {
            out.write("half".getBytes(StandardCharsets.UTF_8));
            throw new IOException("disk full");
        }));
        assertEquals("old", Files.readString(f));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    /** Train 6 steps straight, or 3, save, load into fresh objects, 3 more: the weights must match to the bit. */
    @ParameterizedTest
    @EnumSource(OptimizerConfig.Kind.class)
    void resumeIsBitExact(OptimizerConfig.Kind kind, @TempDir Path dir) throws IOException {
        OptimizerConfig oc = OptimizerConfig.of(kind, new LrSchedule(LrSchedule.Kind.COSINE, kind == OptimizerConfig.Kind.ADAMW ? 3e-3 : 0.1, 2, 6))
                .withClipNorm(0.5).withWeightDecay(0.01);
        SyntheticSource data = new SyntheticSource(SyntheticTask.ADDITION, new ByteTokenizer());
        try (Parallel par = new Parallel(2)) {
            LlamaModel straight = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
            Optimizer o1 = Optimizer.create(straight, oc);
            new Trainer(o1, data, 3, BATCH, SEQ).run(6, (r, n) -> {}, () -> false);

            LlamaModel first = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
            Optimizer o2 = Optimizer.create(first, oc);
            new Trainer(o2, data, 3, BATCH, SEQ).run(3, (r, n) -> {}, () -> false);
            Path ckpt = dir.resolve("step-000003");
            Checkpoint.save(ckpt, first, o2, new TrainState(o2.stepCount(), 3, "synthetic:addition", BATCH, SEQ, oc));

            TrainState st = Checkpoint.loadTrainState(ckpt);
            assertEquals(oc.withSeed(3), st.optimizer(), "the recipe, keyed by the run's seed");
            LlamaModel resumed = Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger());
            Optimizer o3 = Optimizer.create(resumed, st.optimizer());
            o3.setStepCount(st.step());
            Checkpoint.loadOptimizerState(ckpt, o3);
            new Trainer(o3, data, st.seed(), st.batchSize(), st.seqLen()).run(6, (r, n) -> {}, () -> false);

            assertEquals(6, o3.stepCount());
            assertArrayEquals(straight.params(), resumed.params());
            for (String k : o1.state().keySet()) assertArrayEquals(o1.state().get(k), o3.state().get(k), k);
            assertFalse(Arrays.equals(straight.params(), LlamaModel.initialize(CFG, 11, par, new MemoryLedger()).params()),
                    "training changed the weights");
        }
    }

    /**
     * 16-bit weights resume bit-exactly too: the checkpoint stores them in their own dtype, stochastic rounding's
     * bits come from the seed, the step and the weight's index, and float16's loss scale is saved with the run.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"BF16,LOMO", "F16,LOMO", "BF16,ADALOMO", "F16,ADALOMO"})
    void resumeIsBitExactWithHalfWeights(org.lomo4j.model.ParamDtype dtype, OptimizerConfig.Kind kind, @TempDir Path dir) throws IOException {
        OptimizerConfig oc = OptimizerConfig.of(kind, new LrSchedule(LrSchedule.Kind.COSINE, 0.1, 2, 6))
                .withClipNorm(0.5).withWeightDecay(0.01);
        SyntheticSource data = new SyntheticSource(SyntheticTask.ADDITION, new ByteTokenizer());
        try (Parallel par = new Parallel(2)) {
            LlamaModel straight = LlamaModel.initialize(CFG, dtype, 11, par, new MemoryLedger());
            Optimizer o1 = Optimizer.create(straight, oc.withSeed(3));
            new Trainer(o1, data, 3, BATCH, SEQ).run(6, (r, n) -> {}, () -> false);

            LlamaModel first = LlamaModel.initialize(CFG, dtype, 11, par, new MemoryLedger());
            Optimizer o2 = Optimizer.create(first, oc.withSeed(3));
            new Trainer(o2, data, 3, BATCH, SEQ).run(3, (r, n) -> {}, () -> false);
            Path ckpt = dir.resolve("step-000003");
            Checkpoint.save(ckpt, first, o2, new TrainState(3, 3, "synthetic:addition", BATCH, SEQ, oc,
                    org.lomo4j.data.PromptTemplate.NONE, dtype));
            assertEquals(Checkpoint.storedDtype(dtype), Safetensors.open(ckpt.resolve("model.safetensors")).entries()
                    .get("model.norm.weight").dtype(), "saved in the stored dtype");

            TrainState st = Checkpoint.loadTrainState(ckpt);
            assertEquals(dtype, st.paramDtype());
            LlamaModel resumed = Checkpoint.loadModel(ckpt, st.paramDtype(), 0, par, new MemoryLedger());
            Optimizer o3 = Optimizer.create(resumed, st.optimizer());
            o3.setStepCount(st.step());
            Checkpoint.loadOptimizerState(ckpt, o3);
            assertEquals(dtype == org.lomo4j.model.ParamDtype.F16, o3.state().containsKey("lomo.loss_scale"), "float16's loss scale is saved");
            assertEquals(kind == OptimizerConfig.Kind.ADALOMO, o3.state().containsKey("adalomo.exp_avg_sq_row"), "AdaLomo's moments are saved");
            new Trainer(o3, data, st.seed(), st.batchSize(), st.seqLen()).run(6, (r, n) -> {}, () -> false);

            for (var t : straight.layout().tensors()) {
                for (int i = 0; i < t.size(); i++) {
                    assertEquals(straight.parameters().get(t, i), resumed.parameters().get(t, i), 0f, t.name() + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void float16OverflowOnLoadIsAnErrorNamingTheTensor(@TempDir Path dir) throws IOException {
        try (Parallel par = new Parallel(1)) {
            LlamaModel m = LlamaModel.initialize(CFG, 5, par, new MemoryLedger());
            m.params()[m.layout().get("model.norm.weight").offset()] = 1e6f;
            Path ckpt = dir.resolve("big");
            Checkpoint.save(ckpt, m, Optimizer.create(m, lomo(10)), state(0, lomo(10)));
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> Checkpoint.loadModel(ckpt, org.lomo4j.model.ParamDtype.F16, 0, par, new MemoryLedger()));
            assertTrue(e.getMessage().contains("model.norm.weight") && e.getMessage().contains("--param-dtype bf16"), e.getMessage());
            assertEquals(1e6f, Checkpoint.loadModel(ckpt, org.lomo4j.model.ParamDtype.BF16, 0, par, new MemoryLedger())
                    .parameters().get(m.layout().get("model.norm.weight"), 0), 1e6f / 128, "bf16 holds it");
        }
    }

    @Test
    void missingOptimizerStateIsAnError(@TempDir Path dir) throws IOException {
        OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.ADAMW, new LrSchedule(LrSchedule.Kind.CONSTANT, 1e-3, 0, 0));
        try (Parallel par = new Parallel(1)) {
            LlamaModel m = LlamaModel.initialize(CFG, 5, par, new MemoryLedger());
            Optimizer opt = Optimizer.create(m, oc);
            Path ckpt = dir.resolve("c");
            Checkpoint.save(ckpt, m, opt, state(0, oc));
            Files.delete(ckpt.resolve("optimizer.safetensors"));
            String msg = assertThrows(CheckpointException.class, () -> Checkpoint.loadOptimizerState(ckpt, opt)).getMessage();
            assertTrue(msg.contains("no optimizer.safetensors"), msg);
        }
    }

    /** The model's tensors plus one more, named {@code extra}. */
    private static Map<String, Safetensors.Slice> withExtra(LlamaModel m, String extra) {
        Map<String, Safetensors.Slice> t = new LinkedHashMap<>();
        for (var tensor : m.layout().tensors()) t.put(tensor.name(), new Safetensors.Slice(m.params(), tensor.offset(), tensor.shape()));
        t.put(extra, new Safetensors.Slice(new float[4], 0, new int[] {4}));
        return t;
    }

    private static OptimizerConfig lomo(int steps) {
        return OptimizerConfig.of(OptimizerConfig.Kind.LOMO, new LrSchedule(LrSchedule.Kind.COSINE, 0.1, 2, steps));
    }

    private static TrainState state(int step, OptimizerConfig oc) {
        return new TrainState(step, 3, "synthetic:addition", BATCH, SEQ, oc);
    }

    private static String openError(Path f) {
        return assertThrows(CheckpointException.class, () -> Safetensors.open(f)).getMessage();
    }

    private static int files;

    /** A safetensors file from a literal header and data. */
    private static Path raw(Path dir, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path f = dir.resolve("f" + files++ + ".safetensors");
        Files.write(f, b.array());
        return f;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
