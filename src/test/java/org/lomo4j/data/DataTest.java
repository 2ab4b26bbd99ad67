package org.lomo4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lomo4j.model.Batch;
import org.lomo4j.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataTest {
    private final ByteTokenizer tok = new ByteTokenizer();

    @Test
    void byteTokenizerRoundTripsUtf8() {
        String s = "héllo wörld → 🙂";
        int[] ids = tok.encode(s);
        assertEquals(s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, ids.length);
        assertEquals(s, tok.decode(ids));
        // Specials are not text: decoding drops them.
        assertEquals("ab", tok.decode(new int[] {ByteTokenizer.BOS, 'a', 'b', ByteTokenizer.EOS, ByteTokenizer.PAD}));
    }

    @Test
    void packMasksThePromptAndPredictsResponseAndEos() {
        Example ex = new Example(tok.encode("12+3="), tok.encode("15"));
        Batch b = Batches.pack(List.of(ex), 10, tok);
        int B = ByteTokenizer.BOS, E = ByteTokenizer.EOS, P = ByteTokenizer.PAD;
        assertArrayEquals(new int[] {B, '1', '2', '+', '3', '=', '1', '5', E, P}, b.tokens());
        // Position 5 reads '=' and predicts '1'; 6 predicts '5'; 7 predicts EOS; everything else is masked.
        assertArrayEquals(new int[] {-1, -1, -1, -1, -1, '1', '5', E, -1, -1}, b.targets());
    }

    @Test
    void packWithoutBosStartsWithThePrompt() {
        Tokenizer noBos = new Tokenizer() {
            public int[] encode(String text) {
                return tok.encode(text);
            }

            public String decode(int[] ids, boolean skipSpecial) {
                return tok.decode(ids, skipSpecial);
            }

            public int id(String token) {
                return -1;
            }

            public int vocabSize() {
                return 258;
            }

            @Override
            public int eos() {
                return 257;
            }
        };
        Batch b = Batches.pack(List.of(new Example(tok.encode("ab>"), tok.encode("ba"))), 6, noBos);
        assertArrayEquals(new int[] {'a', 'b', '>', 'b', 'a', 257}, b.tokens());
        assertArrayEquals(new int[] {-1, -1, 'b', 'a', 257, -1}, b.targets());
    }

    @Test
    void packRejectsExamplesLongerThanTheSequence() {
        Example ex = new Example(tok.encode("abcdef>"), tok.encode("fedcba"));
        var e = assertThrows(IllegalArgumentException.class, () -> Batches.pack(List.of(ex), 8, tok));
        assertTrue(e.getMessage().contains("--seq 8"), e.getMessage());
    }

    @Test
    void syntheticTasksProduceCorrectAnswers() {
        SplittableRandom rng = new SplittableRandom(7);
        for (int i = 0; i < 200; i++) {
            String[] add = SyntheticTask.ADDITION.sample(rng);
            String[] ab = add[0].substring(0, add[0].length() - 1).split("\\+");
            assertEquals(Integer.parseInt(ab[0]) + Integer.parseInt(ab[1]), Integer.parseInt(add[1]), add[0]);

            String[] rev = SyntheticTask.REVERSE.sample(rng);
            assertEquals(new StringBuilder(rev[0].substring(0, rev[0].length() - 1)).reverse().toString(), rev[1]);

            String[] sort = SyntheticTask.SORT.sample(rng);
            char[] c = sort[0].substring(0, sort[0].length() - 1).toCharArray();
            Arrays.sort(c);
            assertEquals(new String(c), sort[1]);

            String[] rec = SyntheticTask.RECALL.sample(rng);
            String pairs = rec[0].substring(0, rec[0].indexOf('?'));
            char key = rec[0].charAt(rec[0].length() - 1);
            assertEquals(String.valueOf(pairs.charAt(pairs.indexOf(key) + 1)), rec[1], rec[0]);
        }
    }

    @Test
    void syntheticBatchesAreSeededAndEvalIsHeldOut() {
        SyntheticSource src = new SyntheticSource(SyntheticTask.ADDITION, tok);
        assertArrayEquals(src.trainBatch(1, 5, 8, 16).tokens(), src.trainBatch(1, 5, 8, 16).tokens());
        assertFalse(Arrays.equals(src.trainBatch(1, 5, 8, 16).tokens(), src.trainBatch(1, 6, 8, 16).tokens()));
        assertFalse(Arrays.equals(src.trainBatch(1, 5, 8, 16).tokens(), src.trainBatch(2, 5, 8, 16).tokens()));
        List<Example> eval = src.evalExamples();
        assertEquals(eval.size(), src.evalExamples().size());
        assertArrayEquals(eval.get(0).prompt(), src.evalExamples().get(0).prompt());
    }

    @Test
    void jsonlMalformedLineNamesFileAndLine(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("train.jsonl");
        Files.writeString(f, """
                {"prompt": "a", "response": "b"}

                {"prompt": "c", "response": 3}
                {"prompt": "d" "response": "e"}
                {"prompt": "f", "response": "g"}
                """);
        var e = assertThrows(IllegalArgumentException.class, () -> JsonlSource.read(f, tok, false));
        assertTrue(e.getMessage().startsWith(f + ":3: missing string field 'response'"), e.getMessage());
        assertTrue(e.getMessage().contains("--skip-bad-lines"), e.getMessage());

        JsonlSource skipped = JsonlSource.read(f, tok, true);
        assertEquals(2, skipped.skippedLines());
        assertEquals(2, skipped.size());
        assertTrue(skipped.describe().contains("2 bad lines skipped"), skipped.describe());
    }

    /** ChatML around the prompt, its markers as single ids of a tokenizer that has them; loss on the response only. */
    @Test
    void chatmlTemplateWrapsPromptsAndKeepsLossOnTheResponse(@TempDir Path dir) throws IOException {
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var root = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(Path.of("src/test/resources/tokenizers/byte-level-bpe.json").toFile());
        int next = Tokenizer.load(Path.of("src/test/resources/tokenizers/byte-level-bpe.json")).vocabSize();
        for (String special : new String[] {"<|im_start|>", "<|im_end|>"}) {
            root.withArray("added_tokens").addObject().put("id", next++).put("content", special).put("special", true);
        }
        Path tokFile = dir.resolve("tokenizer.json");
        json.writeValue(tokFile.toFile(), root);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|im_end|>\"}");  // as Qwen's chat models
        Tokenizer chat = Tokenizer.forModelDirectory(dir);
        Path f = dir.resolve("chat.jsonl");
        Files.writeString(f, "{\"prompt\": \"2+2?\", \"response\": \"4\"}\n");

        JsonlSource src = JsonlSource.read(f, chat, PromptTemplate.CHATML, false, 0);
        assertTrue(src.evalExamples().isEmpty(), "one example: none held out, rather than scoring on the training set");
        Example ex = src.trainExamples().get(0);
        assertEquals("<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n", chat.decode(ex.prompt(), false));
        assertEquals(chat.id("<|im_start|>"), ex.prompt()[0], "the marker is one id");
        assertEquals("4", chat.decode(ex.response(), false));
        assertTrue(src.describe().contains("template chatml"), src.describe());

        Batch b = src.trainBatch(1, 0, 1, 32);
        int counted = 0;
        for (int target : b.targets()) if (target >= 0) counted++;
        assertEquals(ex.response().length + 1, counted, "the response and EOS are the only targets");
        assertEquals(chat.id("<|im_end|>"), b.tokens()[ex.prompt().length + ex.response().length], "EOS closes the turn");
        assertEquals(PromptTemplate.ALPACA, PromptTemplate.parse("alpaca"));
        assertEquals("--template must be auto, none, chatml, llama2 or alpaca, got 'jinja'",
                assertThrows(IllegalArgumentException.class, () -> PromptTemplate.parse("jinja")).getMessage());
    }

    @Test
    void jsonlEmptyOrMissingFileIsAnError(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("empty.jsonl");
        Files.writeString(f, "\n\n");
        assertEquals(f + ": no examples",
                assertThrows(IllegalArgumentException.class, () -> JsonlSource.read(f, tok, false)).getMessage());
        var e = assertThrows(IllegalArgumentException.class,
                () -> DataSource.open(dir.resolve("nope.jsonl").toString(), tok, false));
        assertTrue(e.getMessage().contains("nope.jsonl"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> DataSource.open("synthetic:multiply", tok, false));
        assertTrue(e.getMessage().contains("'multiply'"), e.getMessage());
    }

    @Test
    void textSourceTrainsOnSlidingWindowsAndHoldsOutTheTail(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("corpus.txt");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 200; i++) sb.append("line ").append(i).append('\n');
        Files.writeString(f, sb.toString());
        TextSource src = TextSource.read(f, tok);
        Batch b = src.trainBatch(3, 0, 4, 12);
        for (int r = 0; r < 4; r++) {
            for (int i = 0; i + 1 < 12; i++) {
                assertEquals(b.tokens()[r * 12 + i + 1], b.targets()[r * 12 + i], "target is the next token");
            }
        }
        assertNotEquals(0, src.evalBatches(4, 12).size());
    }

    /** An over-long example is found while the file is read, with its line, not at the step that draws it. */
    @Test
    void everyExampleIsCheckedAgainstTheSequenceLengthUpFront(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("train.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= 30; i++) sb.append("{\"prompt\": \"p\", \"response\": \"").append(i == 17 || i == 25 ? "r".repeat(40) : "rr").append("\"}\n");
        Files.writeString(f, sb.toString());
        var e = assertThrows(IllegalArgumentException.class, () -> DataSource.open(f.toString(), tok, PromptTemplate.NONE, false, 16));
        // BOS + "p" + 40 response tokens are the inputs a sequence must hold.
        assertEquals(f + ":17: example does not fit --seq 16 (2 example(s) do not; the longest needs --seq 42); raise --seq, "
                + "or --skip-bad-lines skips them", e.getMessage());
        JsonlSource skipped = (JsonlSource) DataSource.open(f.toString(), tok, PromptTemplate.NONE, true, 16);
        assertEquals(2, skipped.skippedLines());
        assertEquals(28, skipped.size());
        for (int step = 0; step < 50; step++) assertEquals(4, skipped.trainBatch(1, step, 4, 16).batchSize());
        assertEquals(30, ((JsonlSource) DataSource.open(f.toString(), tok, PromptTemplate.NONE, false, 42)).size());

        e = assertThrows(IllegalArgumentException.class, () -> DataSource.open("synthetic:reverse", tok, PromptTemplate.NONE, false, 13));
        assertEquals("--data synthetic:reverse: its longest examples need --seq 14, got --seq 13", e.getMessage());
        SplittableRandom rng = new SplittableRandom(7);
        for (int i = 0; i < 2000; i++) {
            assertTrue(Batches.minSeq(SyntheticTask.REVERSE.example(rng, tok), tok) <= 14);
            assertTrue(Batches.minSeq(SyntheticTask.ADDITION.example(rng, tok), tok) <= SyntheticTask.ADDITION.minSeq(tok));
            assertTrue(Batches.minSeq(SyntheticTask.RECALL.example(rng, tok), tok) <= SyntheticTask.RECALL.minSeq(tok));
        }
    }

    @Test
    void jsonLinesAreRecognizedByContentAndBytesThatAreNotUtf8NameTheirLine(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("train.txt");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 12; i++) sb.append("{\"prompt\": \"").append(i).append("+1=\", \"response\": \"").append(i + 1).append("\"}\n");
        Files.writeString(f, sb.toString());
        assertTrue(DataSource.open(f.toString(), tok, PromptTemplate.NONE, false, 16) instanceof JsonlSource j && j.size() == 12);
        Path prose = dir.resolve("notes.txt");
        Files.writeString(prose, "{braces} open this text, which is not JSON\n" + "and more text. ".repeat(20));
        assertTrue(DataSource.open(prose.toString(), tok, PromptTemplate.NONE, false, 16) instanceof TextSource);

        Path latin1 = dir.resolve("latin1.jsonl");
        Files.write(latin1, "{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"caf\u00e9\", \"response\": \"x\"}\n"
                .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        var e = assertThrows(IllegalArgumentException.class, () -> DataSource.open(latin1.toString(), tok, PromptTemplate.NONE, false, 16));
        assertEquals(latin1 + ":2: not UTF-8 text (byte 0xE9 at column 16); save the file as UTF-8", e.getMessage());
        Path text = dir.resolve("latin1.txt");
        Files.write(text, "line one\nline two\nna\u00efve\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        e = assertThrows(IllegalArgumentException.class, () -> DataSource.open(text.toString(), tok, PromptTemplate.NONE, false, 4));
        assertEquals(text + ":3: not UTF-8 text (byte 0xEF at column 3); save the file as UTF-8", e.getMessage());
    }

    /** A loss over nothing held out is NaN, not a result: missing held-out data is an error before training. */
    @Test
    void heldOutDataIsRequiredAndNeverTheTrainingData(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("five.jsonl");
        Files.writeString(f, "{\"prompt\": \"a\", \"response\": \"b\"}\n".repeat(5));
        JsonlSource five = JsonlSource.read(f, tok, false);
        assertTrue(five.evalExamples().isEmpty());
        var e = assertThrows(IllegalArgumentException.class, () -> five.requireHeldOut(16));
        assertTrue(e.getMessage().startsWith(f + ": 5 examples leave none to hold out"), e.getMessage());
        assertTrue(e.getMessage().endsWith("or train with --no-eval"), e.getMessage());

        Path t = dir.resolve("short.txt");
        Files.writeString(t, "x".repeat(100));  // 90 tokens to train on, 10 held out
        TextSource text = TextSource.read(t, tok, 16);
        e = assertThrows(IllegalArgumentException.class, () -> text.requireHeldOut(16));
        assertTrue(e.getMessage().contains("the held-out last 10% (10 tokens) is shorter than one window of --seq 16"), e.getMessage());
        text.requireHeldOut(9);
        assertEquals(1, text.evalBatches(4, 9).size(), "a partial batch of held-out windows still counts");
        e = assertThrows(IllegalArgumentException.class, () -> TextSource.read(t, tok, 90));
        assertTrue(e.getMessage().startsWith(t + ": 100 tokens is too little text for --seq 90"), e.getMessage());

        SyntheticSource synthetic = new SyntheticSource(SyntheticTask.REVERSE, tok);
        List<Batch> batches = synthetic.evalBatches(100, 16);
        assertEquals(3, batches.size(), "256 examples: two full batches of 100 and one of 56");
        assertEquals(56, batches.get(2).batchSize());
    }
}
