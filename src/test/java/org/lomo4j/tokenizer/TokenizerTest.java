package org.lomo4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Against Hugging Face's own tokenizers library: the scripts in src/test/resources/tokenizers train a
 * byte-level BPE and a SentencePiece-style BPE with it and record the ids (and, for the latter, the
 * decoded text) it gives a set of tricky strings.
 */
class TokenizerTest {
    private static final Path DIR = Path.of("src/test/resources/tokenizers");

    @Test
    void byteLevelMatchesHuggingFaceIdsAndRoundTrips() throws IOException {
        Tokenizer tok = Tokenizer.load(DIR.resolve("byte-level-bpe.json"));
        assertTrue(tok instanceof ByteLevelBpe);
        for (JsonNode c : cases("byte-level-bpe.cases.json")) {
            String text = c.path("text").asText();
            int[] got = tok.encode(text);
            assertArrayEquals(ids(c), got, "ids of " + new ObjectMapper().writeValueAsString(text));
            assertEquals(text, tok.decode(got, false), "round trip");
        }
    }

    /**
     * Three layouts of one SentencePiece model: Llama 2's normalizer; Mistral's Metaspace pre-tokenizer ("▁"
     * prepended at the input's start only); and Metaspace with split, whose tokenizer.json differs only in
     * that flag, so the test flips it rather than keeping a third copy of the vocabulary.
     */
    @ParameterizedTest
    @ValueSource(strings = {"sentencepiece-bpe", "sentencepiece-metaspace", "sentencepiece-metaspace-split"})
    void sentencePieceMatchesHuggingFaceIdsAndDecoding(String fixture, @TempDir Path dir) throws IOException {
        Path file = DIR.resolve(fixture + ".json");
        if (fixture.endsWith("-split")) {
            ObjectNode root = (ObjectNode) new ObjectMapper().readTree(DIR.resolve("sentencepiece-metaspace.json").toFile());
            ((ObjectNode) root.get("pre_tokenizer")).put("split", true);
            file = dir.resolve("tokenizer.json");
            new ObjectMapper().writeValue(file.toFile(), root);
        }
        Tokenizer tok = Tokenizer.load(file);
        assertTrue(tok instanceof SentencePieceBpe);
        boolean sawByteFallback = false;
        for (JsonNode c : cases(fixture + ".cases.json")) {
            String text = c.path("text").asText();
            int[] got = tok.encode(text);
            assertArrayEquals(ids(c), got, "ids of " + new ObjectMapper().writeValueAsString(text));
            assertEquals(c.path("decoded").asText(), tok.decode(got, true), "decoding of " + text);
            for (int id : got) sawByteFallback |= id >= 3 && id < 259;
        }
        assertTrue(sawByteFallback, "the fixtures must exercise byte fallback");
    }

    private static JsonNode cases(String name) throws IOException {
        JsonNode cases = new ObjectMapper().readTree(DIR.resolve(name).toFile()).path("cases");
        assertTrue(cases.size() >= 15, name + ": " + cases.size() + " cases");
        return cases;
    }

    private static int[] ids(JsonNode c) {
        int[] ids = new int[c.path("ids").size()];
        for (int i = 0; i < ids.length; i++) ids[i] = c.path("ids").get(i).asInt();
        return ids;
    }

    @Test
    void specialTokensAreAtomsAndCanBeSkipped() {
        Tokenizer tok = Tokenizer.load(DIR.resolve("byte-level-bpe.json"));
        int bos = tok.id("<|bos|>");
        int eos = tok.id("<|eos|>");
        int[] ids = tok.encode("<|bos|>hi<|eos|>");
        assertEquals(bos, ids[0]);
        assertEquals(eos, ids[ids.length - 1]);
        assertEquals("hi", tok.decode(ids, true));
        assertEquals(-1, tok.id("<|nope|>"));
    }

    @Test
    void modelDirectoryFindsBosAndEosWhereHuggingFacePutsThem(@TempDir Path dir) throws IOException {
        Files.copy(DIR.resolve("sentencepiece-bpe.json"), dir.resolve("tokenizer.json"));
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.forModelDirectory(dir));
        assertTrue(e.getMessage().contains("no end-of-sequence token"), e.getMessage());

        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"}}");
        Tokenizer t = Tokenizer.forModelDirectory(dir);
        assertEquals(1, t.bos());
        assertEquals(2, t.eos());

        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [0, 2]}");
        assertEquals(0, Tokenizer.forModelDirectory(dir).eos(), "generation_config.json before tokenizer_config.json");

        Files.writeString(dir.resolve("config.json"), "{\"bos_token_id\": 2, \"eos_token_id\": 1}");
        t = Tokenizer.forModelDirectory(dir);
        assertEquals(2, t.bos());
        assertEquals(1, t.eos(), "config.json first");
        assertArrayEquals(Tokenizer.load(DIR.resolve("sentencepiece-bpe.json")).encode("hello"), t.encode("hello"));
    }

    @Test
    void unsupportedFilesNameTheField(@TempDir Path dir) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = (ObjectNode) json.readTree(DIR.resolve("byte-level-bpe.json").toFile());
        ((ObjectNode) root.get("model")).put("byte_fallback", true);
        Path f = dir.resolve("tokenizer.json");
        Files.writeString(f, root.toString());
        String msg = assertThrows(IllegalArgumentException.class, () -> ByteLevelBpe.load(f)).getMessage();
        assertTrue(msg.startsWith(f + ": field 'model.byte_fallback'"), msg);
        // Read as SentencePiece-style (byte_fallback), its ByteLevel pre-tokenizer does not belong.
        msg = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(f)).getMessage();
        assertTrue(msg.startsWith(f + ": field 'pre_tokenizer'"), msg);

        root = (ObjectNode) json.readTree(DIR.resolve("byte-level-bpe.json").toFile());
        root.putObject("pre_tokenizer").put("type", "Whitespace");
        Files.writeString(f, root.toString());
        msg = assertThrows(IllegalArgumentException.class, () -> ByteLevelBpe.load(f)).getMessage();
        assertTrue(msg.contains("field 'pre_tokenizer'"), msg);

        Files.writeString(f, "{\"model\": ");
        msg = assertThrows(IllegalArgumentException.class, () -> ByteLevelBpe.load(f)).getMessage();
        assertTrue(msg.startsWith(f + ": not readable as JSON"), msg);
    }
}
