package org.lomo4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The commands as a user runs them, on a model small enough for a unit test. */
class CliTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream savedOut, savedErr;

    @BeforeEach
    void capture() {
        savedOut = System.out;
        savedErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() {
        System.setOut(savedOut);
        System.setErr(savedErr);
    }

    private int run(String... args) {
        out.reset();
        err.reset();
        return Main.run(args);
    }

    private String stdout() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private String stderr() {
        return err.toString(StandardCharsets.UTF_8);
    }

    private static Path smallModel(Path dir) throws IOException {
        Path cfg = dir.resolve("small.json");
        Files.writeString(cfg, """
                {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "vocab_size": 259, "max_position_embeddings": 32, "tie_word_embeddings": true}
                """);
        return cfg;
    }

    @Test
    void trainWritesCheckpointReportAndPlotsThenResumesAndGenerates(@TempDir Path dir) throws IOException {
        Path runDir = dir.resolve("run");
        int rc = run("train", "--model", smallModel(dir).toString(), "--data", "synthetic:reverse", "--steps", "6",
                "--checkpoint-every", "4", "--batch", "4", "--seq", "16", "--threads", "2", "--out", runDir.toString(), "--no-eval");
        assertEquals(0, rc, stderr());
        String log = stdout();
        assertTrue(log.contains("step 6/6"), log);
        assertTrue(log.contains("Memory (peak bytes accounted), optimizer lomo"), log);

        Path ckpt = runDir.resolve("step-000006");
        for (String f : new String[] {"config.json", "model.safetensors", "trainer.json"}) {
            assertTrue(Files.isRegularFile(ckpt.resolve(f)), f);
        }
        for (String f : new String[] {"report.json", "metrics.csv", "loss.svg", "memory.svg"}) {
            assertTrue(Files.isRegularFile(runDir.resolve(f)), f);
        }
        JsonNode report = new ObjectMapper().readTree(runDir.resolve("report.json").toFile());
        assertEquals("lomo", report.at("/run/optimizer/kind").asText());
        assertEquals(6, report.at("/steps").size());
        assertTrue(report.at("/steps/5/tokens_per_second").asDouble() > 0, report.toPrettyString());
        assertTrue(report.at("/memory_peak_bytes/total").asLong() > 0, report.toPrettyString());
        assertEquals(7, Files.readAllLines(runDir.resolve("metrics.csv")).size(), "header + 6 steps");

        // Resuming the step-4 checkpoint reproduces the straight run's step-6 weights to the bit.
        Path resumed = dir.resolve("resumed");
        rc = run("train", "--resume", runDir.resolve("step-000004").toString(), "--out", resumed.toString(), "--no-eval");
        assertEquals(0, rc, stderr());
        assertTrue(stdout().contains("steps 4..6"), stdout());
        assertArrayEquals(Files.readAllBytes(ckpt.resolve("model.safetensors")),
                Files.readAllBytes(resumed.resolve("step-000006/model.safetensors")));

        rc = run("train", "--resume", runDir.toString(), "--steps", "9", "--no-eval");
        assertEquals(2, rc);
        assertTrue(stderr().contains("--steps 9 goes past the 6 steps"), stderr());

        rc = run("generate", "--model", runDir.toString(), "--prompt", "abc>", "--max-tokens", "5");
        assertEquals(0, rc, stderr());
        assertTrue(stdout().startsWith("abc>"), stdout());

        rc = run("eval", "--model", runDir.toString(), "--data", "synthetic:reverse", "--batch", "64");
        assertEquals(0, rc, stderr());
        assertTrue(stdout().contains("exact-match accuracy"), stdout());
    }

    /** A Hugging Face-style model directory: config.json with bos/eos ids, weights, and a Llama-2-style tokenizer.json. */
    @Test
    void hfDirectoryTrainsWithItsOwnTokenizerAndCheckpointsCarryIt(@TempDir Path dir) throws IOException {
        Path hf = dir.resolve("hf-model");
        Files.createDirectories(hf);
        Path tokenizer = Path.of("src/test/resources/tokenizers/sentencepiece-bpe.json");
        int vocab = org.lomo4j.tokenizer.Tokenizer.load(tokenizer).vocabSize();
        Files.copy(tokenizer, hf.resolve("tokenizer.json"));
        Files.writeString(hf.resolve("config.json"), """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": %d,
                 "max_position_embeddings": 64, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": false}
                """.formatted(vocab));
        // Weights in HF's layout and names, as lomo4j writes them.
        assertEquals(0, run("train", "--model", hf.resolve("config.json").toString(), "--steps", "1", "--batch", "2",
                "--seq", "32", "--no-eval", "--out", dir.resolve("init").toString()), stderr());
        Files.copy(dir.resolve("init/step-000001/model.safetensors"), hf.resolve("model.safetensors"));

        Path runDir = dir.resolve("run");
        assertEquals(0, run("train", "--model", hf.toString(), "--data", "synthetic:reverse", "--steps", "3", "--batch", "4",
                "--seq", "32", "--out", runDir.toString(), "--no-eval"), stderr());
        assertTrue(Files.isRegularFile(runDir.resolve("step-000003/tokenizer.json")), "the checkpoint carries its tokenizer");
        assertArrayEquals(Files.readAllBytes(tokenizer), Files.readAllBytes(runDir.resolve("step-000003/tokenizer.json")));

        assertEquals(0, run("generate", "--model", runDir.toString(), "--prompt", "abc>", "--max-tokens", "4"), stderr());
        assertTrue(stdout().startsWith("abc>"), stdout());

        // A tokenizer with more ids than the model has embedding rows cannot work.
        Files.writeString(hf.resolve("config.json"), Files.readString(hf.resolve("config.json"))
                .replace("\"vocab_size\": " + vocab, "\"vocab_size\": 300"));
        Files.delete(hf.resolve("model.safetensors"));
        assertEquals(2, run("train", "--model", hf.resolve("config.json").toString(), "--steps", "1", "--no-eval",
                "--out", dir.resolve("x").toString()));
        assertTrue(stderr().contains("vocab_size 300 is smaller than the tokenizer's " + vocab), stderr());
    }

    /**
     * HF → lomo4j → HF: a Qwen2-shaped directory (q/k/v biases) whose weights are BF16 shards with an index, as
     * transformers saves large models, fine-tuned a few LOMO steps and written back sharded in BF16.
     */
    @Test
    void shardedBf16Qwen2DirectoryRoundTrips(@TempDir Path dir) throws IOException {
        Path hf = dir.resolve("qwen2-tiny");
        Files.createDirectories(hf);
        Files.writeString(hf.resolve("config.json"), """
                {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 259,
                 "max_position_embeddings": 64, "rope_theta": 1000000.0, "tie_word_embeddings": true,
                 "use_sliding_window": false, "sliding_window": 64, "max_window_layers": 2, "torch_dtype": "bfloat16"}
                """);
        Files.writeString(hf.resolve("generation_config.json"), "{\"bos_token_id\": 256, \"eos_token_id\": 257}");
        assertEquals(0, run("train", "--model", hf.resolve("config.json").toString(), "--steps", "1", "--batch", "2",
                "--seq", "16", "--no-eval", "--save-dtype", "bf16", "--max-shard-size", "40KB",
                "--out", dir.resolve("init").toString()), stderr());
        Path init = dir.resolve("init/step-000001");
        try (var files = Files.list(init)) {
            for (Path f : files.filter(f -> f.getFileName().toString().startsWith("model")).toList()) {
                Files.copy(f, hf.resolve(f.getFileName()));
            }
        }
        assertTrue(Files.isRegularFile(hf.resolve("model.safetensors.index.json")));

        Path runDir = dir.resolve("run");
        assertEquals(0, run("train", "--model", hf.toString(), "--steps", "3", "--batch", "4", "--seq", "16", "--no-eval",
                "--save-dtype", "bf16", "--max-shard-size", "40KB", "--out", runDir.toString()), stderr());
        Path out = runDir.resolve("step-000003");
        JsonNode config = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals("qwen2", config.get("model_type").asText());
        assertEquals("Qwen2ForCausalLM", config.at("/architectures/0").asText());
        assertEquals("bfloat16", config.get("torch_dtype").asText());
        JsonNode index = new ObjectMapper().readTree(out.resolve("model.safetensors.index.json").toFile());
        String biasShard = index.at("/weight_map/model.layers.1.self_attn.v_proj.bias").asText();
        assertTrue(biasShard.matches("model-0000\\d-of-0000\\d\\.safetensors"), index.toPrettyString());
        var bias = org.lomo4j.checkpoint.Safetensors.open(out.resolve(biasShard)).entries().get("model.layers.1.self_attn.v_proj.bias");
        assertEquals(org.lomo4j.checkpoint.Safetensors.Dtype.BF16, bias.dtype());
        assertTrue(Files.isRegularFile(out.resolve("generation_config.json")), "generation_config.json is carried along");

        // The fine-tuned weights moved, and the written directory is itself a loadable model.
        assertEquals(0, run("eval", "--model", out.toString(), "--data", "synthetic:reverse", "--batch", "8", "--seq", "16"), stderr());
        assertTrue(stdout().contains("eval loss"), stdout());
        try (var par = new org.lomo4j.parallel.Parallel(1)) {
            float[] before = org.lomo4j.checkpoint.Checkpoint.loadModel(hf, 0, par, new org.lomo4j.memory.MemoryLedger()).params();
            float[] after = org.lomo4j.checkpoint.Checkpoint.loadModel(out, 0, par, new org.lomo4j.memory.MemoryLedger()).params();
            assertEquals(before.length, after.length);
            assertTrue(!java.util.Arrays.equals(before, after), "three LOMO steps changed the weights");
        }
    }

    @Test
    void badInputIsOneLineNamingTheCulprit(@TempDir Path dir) throws IOException {
        assertEquals(2, run("train", "--model", dir.resolve("nope.json").toString()));
        assertTrue(stderr().startsWith("error: --model " + dir.resolve("nope.json")), stderr());

        Path cfg = dir.resolve("bad.json");
        Files.writeString(cfg, "{\"hidden_size\": 32, \"hiden_layers\": 2}");
        assertEquals(2, run("train", "--model", cfg.toString()));
        assertEquals("error: " + cfg + ": unknown field 'hiden_layers'", stderr().strip());

        assertEquals(2, run("train", "--model", smallModel(dir).toString(), "--optimizer", "adam"));
        assertTrue(stderr().contains("adam"), stderr());

        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, "{\"prompt\": \"a\"}\n");
        assertEquals(2, run("train", "--model", smallModel(dir).toString(), "--data", data.toString(), "--out", dir.resolve("r").toString()));
        assertTrue(stderr().contains(data + ":1: missing string field 'response'"), stderr());

        assertEquals(2, run("train", "--model", smallModel(dir).toString(), "--save-dtype", "fp8"));
        assertEquals("error: --save-dtype must be f32, f16 or bf16, got 'fp8'", stderr().strip());
        assertEquals(2, run("train", "--model", smallModel(dir).toString(), "--max-shard-size", "5XB"));
        assertTrue(stderr().startsWith("error: --max-shard-size must be a size such as 500MB"), stderr());

        // The default build has no device backend; asking for one says how to get it.
        if (org.lomo4j.backend.Backend.find("tornado").isEmpty()) {
            assertEquals(2, run("train", "--model", smallModel(dir).toString(), "--backend", "tornado", "--out", dir.resolve("r").toString()));
            assertTrue(stderr().startsWith("error: --backend tornado: TornadoVM is not available"), stderr());
        }
        assertEquals(2, run("train", "--model", smallModel(dir).toString(), "--device-profile", "--out", dir.resolve("r").toString()));
        assertTrue(stderr().startsWith("error: --device-profile profiles a device backend; give --backend tornado"), stderr());
        assertEquals(2, run("eval", "--model", smallModel(dir).toString(), "--backend", "cuda"));
        assertEquals("error: --backend must be jvm or tornado, got 'cuda'", stderr().strip());

        // Unknown flags are picocli's usage errors.
        assertEquals(2, run("train", "--stepz", "3"));
        assertTrue(stderr().contains("--stepz"), stderr());
    }

    private int trainSmall(Path dir, String... more) throws IOException {
        String[] base = {"train", "--model", smallModel(dir).toString(), "--batch", "4", "--seq", "16", "--threads", "2", "--no-eval"};
        String[] args = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, args, base.length, more.length);
        return run(args);
    }

    /** One run per directory: a second run is refused, --overwrite replaces, retention goes by step, resume keeps the recipe. */
    @Test
    void aRunDirectoryHoldsOneRunWithItsWholeHistory(@TempDir Path dir) throws IOException {
        Path runDir = dir.resolve("run");
        assertEquals(0, trainSmall(dir, "--steps", "6", "--checkpoint-every", "2", "--keep-checkpoints", "2", "--out", runDir.toString()), stderr());
        assertEquals(java.util.List.of(runDir.resolve("step-000004"), runDir.resolve("step-000006")),
                org.lomo4j.checkpoint.Checkpoint.steps(runDir), "the newest two by step number");

        assertEquals(2, trainSmall(dir, "--steps", "2", "--out", runDir.toString()));
        assertEquals("error: --out " + runDir + " already holds a run (step-000006); continue it with --resume " + runDir
                + ", replace it with --overwrite, or give another --out", stderr().strip());
        assertEquals("", stdout(), "refused before anything was read or trained");

        // A resumed run keeps its recipe: a different value is an error, the same value is fine.
        assertEquals(2, run("train", "--resume", runDir.resolve("step-000004").toString(), "--out", dir.resolve("b").toString(),
                "--lr", "0.1", "--no-eval"));
        assertTrue(stderr().startsWith("error: --lr 0.1: the run being resumed keeps its lr (0.3); to change it, start a new run from "
                + "the checkpoint: ./lomo4j train --model " + runDir.resolve("step-000004")), stderr());
        assertEquals(2, run("train", "--resume", runDir.toString(), "--model", smallModel(dir).toString()));
        assertTrue(stderr().startsWith("error: give --resume or --model, not both"), stderr());
        assertEquals(2, run("train", "--resume", runDir.resolve("step-000004").toString(), "--no-eval"));
        assertTrue(stderr().contains("has later checkpoints (step-000006); resuming from an earlier one would mix two histories"), stderr());

        // Branching from step 4 into a new directory carries steps 0-3 of the history along.
        Path branch = dir.resolve("branch");
        assertEquals(0, run("train", "--resume", runDir.resolve("step-000004").toString(), "--out", branch.toString(), "--lr", "0.3",
                "--batch", "4", "--no-eval"), stderr());
        java.util.List<String> original = Files.readAllLines(runDir.resolve("metrics.csv"));
        java.util.List<String> continued = Files.readAllLines(branch.resolve("metrics.csv"));
        assertEquals(7, continued.size());
        for (int i = 0; i < 5; i++) {
            // step, loss, grad_norm and lr as the first session ran them (tokens/s is recomputed from the rounded ms)
            assertEquals(String.join(",", java.util.Arrays.copyOf(original.get(i).split(","), 4)),
                    String.join(",", java.util.Arrays.copyOf(continued.get(i).split(","), 4)));
        }
        JsonNode report = new ObjectMapper().readTree(branch.resolve("report.json").toFile());
        assertEquals(6, report.at("/steps").size());
        assertEquals(2, report.at("/sessions").size());
        assertEquals(4, report.at("/sessions/0/to_step").asInt());
        assertEquals(4, report.at("/sessions/1/from_step").asInt());
        assertEquals("completed", report.at("/sessions/1/outcome").asText());
        assertArrayEquals(Files.readAllBytes(runDir.resolve("step-000006/model.safetensors")),
                Files.readAllBytes(branch.resolve("step-000006/model.safetensors")));

        assertEquals(0, trainSmall(dir, "--steps", "2", "--out", runDir.toString(), "--overwrite"), stderr());
        assertEquals(java.util.List.of(runDir.resolve("step-000002")), org.lomo4j.checkpoint.Checkpoint.steps(runDir));
        assertEquals(3, Files.readAllLines(runDir.resolve("metrics.csv")).size());
    }

    /** Everything that can be checked before step 1 is, and fails in one line naming the flag or the file and line. */
    @Test
    void badFlagsAndDataFailBeforeStepOne(@TempDir Path dir) throws IOException {
        String[][] bad = {
                {"--lr", "NaN", "--lr must be a positive number, got NaN"},
                {"--lr", "-1", "--lr must be a positive number, got -1.0"},
                {"--weight-decay", "NaN", "--weight-decay must be a non-negative number, got NaN"},
                {"--clip-norm", "-1", "--clip-norm must be a non-negative number, got -1.0"},
                {"--clip-value", "Infinity", "--clip-value must be a non-negative number, got Infinity"},
                {"--epochs", "0", "--epochs must be a positive number, got 0.0"},
                {"--checkpoint-minutes", "NaN", "--checkpoint-minutes must be a non-negative number, got NaN"},
                {"--checkpoint-every", "-1", "--checkpoint-every must not be negative, got -1"},
                {"--keep-checkpoints", "0", "--keep-checkpoints must be at least 1, got 0"},
                {"--warmup", "-2", "--warmup must not be negative, got -2"},
                {"--steps", "0", "--steps must be at least 1, got 0"},
        };
        for (String[] b : bad) {
            assertEquals(2, trainSmall(dir, b[0], b[1], "--out", dir.resolve("never").toString()), b[0]);
            assertEquals("error: " + b[2], stderr().strip());
        }
        assertFalse(Files.exists(dir.resolve("never")), "nothing is created for a bad flag");
        assertEquals(2, run("train", "--model", smallModel(dir).toString(), "--seq", "64", "--out", dir.resolve("r").toString()));
        assertEquals("error: --seq 64 is longer than the model's context (max_position_embeddings 32)", stderr().strip());

        Path file = dir.resolve("a-file");
        Files.writeString(file, "");
        assertEquals(2, trainSmall(dir, "--out", file.resolve("run").toString()));
        assertTrue(stderr().startsWith("error: --out " + file.resolve("run") + ": cannot create the directory"), stderr());

        // Example 120 of 300 is too long: found before step 1, not at the step that would draw it.
        Path data = dir.resolve("train.data");  // JSON Lines by content, whatever the extension
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= 300; i++) sb.append("{\"prompt\": \"q").append(i % 10).append("\", \"response\": \"")
                .append(i == 120 ? "x".repeat(30) : "ok").append("\"}\n");
        Files.writeString(data, sb.toString());
        Path out = dir.resolve("jsonl-run");
        assertEquals(2, trainSmall(dir, "--data", data.toString(), "--steps", "300", "--out", out.toString()));
        assertTrue(stderr().startsWith("error: " + data + ":120: example does not fit --seq 16"), stderr());
        assertFalse(stdout().contains("step "), stdout());
        assertTrue(org.lomo4j.checkpoint.Checkpoint.steps(out).isEmpty());
        assertEquals(0, trainSmall(dir, "--data", data.toString(), "--steps", "2", "--out", out.toString(), "--skip-bad-lines"), stderr());
        assertTrue(stdout().contains("(270 train / 29 eval examples, 1 bad lines skipped)"), stdout());

        Path few = dir.resolve("few.jsonl");
        Files.writeString(few, "{\"prompt\": \"a\", \"response\": \"b\"}\n".repeat(4));
        assertEquals(2, run("train", "--model", smallModel(dir).toString(), "--data", few.toString(), "--out", dir.resolve("f").toString()));
        assertTrue(stderr().startsWith("error: " + few + ": 4 examples leave none to hold out for evaluation"), stderr());
    }

    /** A separate evaluation file, evaluated every few steps: the log, the report and the loss plot show each evaluation. */
    @Test
    void evalDataIsEvaluatedEveryFewSteps(@TempDir Path dir) throws IOException {
        Path train = dir.resolve("train.jsonl"), held = dir.resolve("held.jsonl");
        StringBuilder a = new StringBuilder(), b = new StringBuilder();
        for (int i = 0; i < 40; i++) a.append("{\"prompt\": \"").append(i).append("+1=\", \"response\": \"").append(i + 1).append("\"}\n");
        for (int i = 40; i < 45; i++) b.append("{\"prompt\": \"").append(i).append("+1=\", \"response\": \"").append(i + 1).append("\"}\n");
        Files.writeString(train, a.toString());
        Files.writeString(held, b.toString());
        Path runDir = dir.resolve("run");
        assertEquals(0, run("train", "--model", smallModel(dir).toString(), "--data", train.toString(), "--eval-data", held.toString(),
                "--eval-every", "2", "--steps", "6", "--batch", "4", "--seq", "16", "--threads", "2", "--out", runDir.toString()), stderr());
        String log = stdout();
        assertTrue(log.contains("(40 train / 0 eval examples)"), "all of the training file is trained on: " + log);
        assertTrue(log.contains("eval     " + held + " (0 train / 5 eval examples)"), log);
        assertTrue(log.contains("eval     step 2: eval loss") && log.contains("eval     step 4: eval loss"), log);
        assertTrue(log.contains("(5 held-out examples)"), log);
        JsonNode report = new ObjectMapper().readTree(runDir.resolve("report.json").toFile());
        assertEquals(2, report.at("/evals").size());
        assertEquals(4, report.at("/evals/1/step").asInt());
        assertTrue(Files.readString(runDir.resolve("loss.svg")).contains("eval loss"), "eval points on the loss chart");
        assertEquals(held.toString(), new ObjectMapper().readTree(runDir.resolve("step-000006/trainer.json").toFile()).get("eval_data").asText());

        // eval defaults to the checkpoint's evaluation set.
        assertEquals(0, run("eval", "--model", runDir.toString()), stderr());
        assertTrue(stdout().contains("(0 train / 5 eval examples)"), stdout());
        assertEquals(2, run("train", "--resume", runDir.toString(), "--eval-data", train.toString()));
        assertTrue(stderr().startsWith("error: --eval-data " + train + ": the run being resumed keeps its eval-data"), stderr());
    }

    /** --template auto: the model directory's own chat_template, kept by the run's checkpoints and used by generate. */
    @Test
    void autoTemplateUsesTheModelsChatTemplate(@TempDir Path dir) throws IOException {
        Path hf = dir.resolve("chat-model");
        Files.createDirectories(hf);
        Path tokenizer = Path.of("src/test/resources/tokenizers/byte-level-bpe.json");
        int vocab = org.lomo4j.tokenizer.Tokenizer.load(tokenizer).vocabSize();
        Files.copy(tokenizer, hf.resolve("tokenizer.json"));
        Files.writeString(hf.resolve("config.json"), """
                {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "vocab_size": %d, "max_position_embeddings": 64, "tie_word_embeddings": true,
                 "eos_token_id": 0}
                """.formatted(vocab));
        var cfg = new ObjectMapper().createObjectNode();
        cfg.put("chat_template", Files.readString(Path.of("src/test/resources/chat-templates/templates/zephyr.jinja")));
        Files.writeString(hf.resolve("tokenizer_config.json"), cfg.toString());
        Path data = dir.resolve("chat.jsonl");
        Files.writeString(data, "{\"prompt\": \"hi\", \"response\": \"yo\"}\n".repeat(12));
        Path runDir = dir.resolve("run");
        assertEquals(0, run("train", "--model", hf.resolve("config.json").toString(), "--data", data.toString(), "--template", "auto",
                "--steps", "2", "--batch", "2", "--seq", "32", "--out", runDir.toString(), "--no-eval"), stderr());
        assertTrue(stdout().contains("template auto"), stdout());
        assertEquals("auto", new ObjectMapper().readTree(runDir.resolve("step-000002/trainer.json").toFile()).get("template").asText());
        assertTrue(Files.readString(runDir.resolve("step-000002/tokenizer_config.json")).contains("<|assistant|>"), "the template travels");
        assertEquals(0, run("generate", "--model", runDir.toString(), "--prompt", "hi", "--max-tokens", "2"), stderr());

        assertEquals(2, run("train", "--model", smallModel(dir).toString(), "--template", "auto", "--out", dir.resolve("x").toString()));
        assertTrue(stderr().startsWith("error: --template auto: "), stderr());
    }

    /** report: several runs' peak memory side by side, as a table and a chart (SVG or PNG). */
    @Test
    void reportDrawsTheRunsMemorySideBySide(@TempDir Path dir) throws IOException {
        for (String opt : new String[] {"lomo", "adamw"}) {
            assertEquals(0, trainSmall(dir, "--optimizer", opt, "--steps", "1", "--out", dir.resolve(opt).toString()), stderr());
        }
        Path svg = dir.resolve("memory.svg");
        assertEquals(0, run("report", dir.resolve("lomo").toString(), dir.resolve("adamw").toString(), "--out", svg.toString()), stderr());
        assertTrue(stdout().contains("adamw (adamw)"), stdout());
        String chart = Files.readString(svg);
        assertTrue(chart.startsWith("<?xml") && chart.contains("Optimizer states") && chart.contains("lomo (lomo)"), "an SVG chart");
        Path png = dir.resolve("memory.png");
        assertEquals(0, run("report", dir.resolve("lomo").toString(), "--out", png.toString()), stderr());
        byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(png), 4);
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, head);
        assertEquals(2, run("report", dir.toString(), "--out", svg.toString()));
        assertTrue(stderr().startsWith("error: " + dir + ": no readable report.json"), stderr());
        assertTrue(Files.readString(dir.resolve("lomo/loss.svg")).contains("training loss"), "loss.svg is a chart too");
    }

    /**
     * --memory-timeline: the bytes alive through one step. SGD's gradients grow to the whole model's by the end of
     * backward and are gone after the update; LOMO's never exceed a tile per worker (and the tied embedding's).
     */
    @Test
    void memoryTimelineShowsWhatFusingTheUpdateSaves(@TempDir Path dir) throws IOException {
        for (String opt : new String[] {"lomo", "sgd"}) {
            assertEquals(0, trainSmall(dir, "--optimizer", opt, "--steps", "2", "--memory-timeline", "--out", dir.resolve(opt).toString()),
                    stderr());
            assertTrue(Files.isRegularFile(dir.resolve(opt).resolve("memory-timeline.svg")));
        }
        long params = new org.lomo4j.model.ParameterLayout(org.lomo4j.model.LlamaConfig.load(smallModel(dir))).totalSize();
        JsonNode sgd = new ObjectMapper().readTree(dir.resolve("sgd/report.json").toFile()).get("memory_timeline");
        JsonNode lomo = new ObjectMapper().readTree(dir.resolve("lomo/report.json").toFile()).get("memory_timeline");
        long sgdMax = 0, lomoMax = 0;
        for (JsonNode p : sgd) sgdMax = Math.max(sgdMax, p.at("/bytes/gradients").asLong());
        for (JsonNode p : lomo) lomoMax = Math.max(lomoMax, p.at("/bytes/gradients").asLong());
        assertEquals(4 * params, sgdMax, "SGD holds every gradient before its update");
        assertEquals("step done", sgd.get(sgd.size() - 1).get("at").asText());
        assertEquals(0, sgd.get(sgd.size() - 1).at("/bytes/gradients").asLong(), "and none after it");
        assertTrue(lomoMax > 0 && lomoMax < 4 * params / 2, "LOMO: tiles and the tied embedding's gradient, " + lomoMax + " bytes");
        assertEquals(0, sgd.get(0).at("/bytes/activations").asLong());
        assertTrue(sgd.get(3).at("/bytes/activations").asLong() > sgd.get(2).at("/bytes/activations").asLong(), "forward keeps activations");

        Path chart = dir.resolve("timeline.svg");
        assertEquals(0, run("report", "--timeline", dir.resolve("lomo").toString(), dir.resolve("sgd").toString(), "--out", chart.toString()),
                stderr());
        assertTrue(Files.readString(chart).contains("Bytes alive during one training step"));
        assertEquals(2, run("report", "--timeline", dir.resolve("x").toString(), "--out", chart.toString()));
    }

    /** A context of two billion positions is a number in a config, not a table: RoPE covers the positions in use. */
    @Test
    void aHugeContextLengthNeedsNoTableOfThatSize(@TempDir Path dir) throws IOException {
        Path cfg = dir.resolve("long.json");
        Files.writeString(cfg, Files.readString(smallModel(dir)).replace("\"max_position_embeddings\": 32", "\"max_position_embeddings\": 2000000000"));
        assertEquals(0, run("train", "--model", cfg.toString(), "--steps", "2", "--batch", "2", "--seq", "16", "--no-eval",
                "--out", dir.resolve("run").toString()), stderr());
        assertEquals(0, run("generate", "--model", dir.resolve("run").toString(), "--prompt", "ab>", "--max-tokens", "3"), stderr());
    }

    /** Output that is not a real result (NaN loss, NaN logits, weights that are not finite) exits non-zero. */
    @Test
    void resultsThatAreNotNumbersExitNonZero(@TempDir Path dir) throws IOException {
        Path runDir = dir.resolve("run");
        assertEquals(0, trainSmall(dir, "--steps", "2", "--out", runDir.toString()), stderr());
        Path ckpt = runDir.resolve("step-000002");
        assertEquals(0, run("eval", "--model", runDir.toString()), stderr());
        assertTrue(stdout().contains("batch 4 x 16"), "the checkpoint's batch and seq: " + stdout());

        // Finite weights so large that the logits overflow: eval and generate refuse to print NaN.
        Path huge = dir.resolve("huge");
        try (var par = new org.lomo4j.parallel.Parallel(1)) {
            var ledger = new org.lomo4j.memory.MemoryLedger();
            var model = org.lomo4j.checkpoint.Checkpoint.loadModel(ckpt, 0, par, ledger);
            var p = model.parameters();
            var norm = model.layout().get("model.norm.weight");
            for (int i = 0; i < norm.size(); i++) p.set(norm, i, 3e38f);
            org.lomo4j.checkpoint.Checkpoint.save(huge, model, org.lomo4j.optim.Optimizer.create(model,
                    org.lomo4j.checkpoint.Checkpoint.loadTrainState(ckpt).optimizer()), org.lomo4j.checkpoint.Checkpoint.loadTrainState(ckpt));
        }
        assertEquals(Main.EXIT_FAILED, run("eval", "--model", huge.toString()));
        assertTrue(stderr().startsWith("error: the evaluation loss is NaN"), stderr());
        assertEquals(Main.EXIT_FAILED, run("generate", "--model", huge.toString(), "--prompt", "ab>"));
        assertTrue(stderr().startsWith("error: the model's logits are NaN or infinite"), stderr());
        assertEquals("", stdout());

        // A prompt that fills the context leaves nothing to generate.
        assertEquals(2, run("generate", "--model", runDir.toString(), "--prompt", "x".repeat(31)));
        assertEquals("error: a prompt of 32 tokens leaves no room to generate in the model's context (max_position_embeddings 32)",
                stderr().strip());
        Path few = dir.resolve("few.jsonl");
        Files.writeString(few, "{\"prompt\": \"a\", \"response\": \"b\"}\n".repeat(4));
        assertEquals(2, run("eval", "--model", runDir.toString(), "--data", few.toString()));
        assertTrue(stderr().contains("4 examples leave none to hold out"), stderr());
    }
}
