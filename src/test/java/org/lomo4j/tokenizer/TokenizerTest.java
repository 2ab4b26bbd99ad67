package org.lomo4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

    @Test
    void sentencePieceMatchesHuggingFaceIdsAndDecoding() throws IOException {
        Tokenizer tok = Tokenizer.load(DIR.resolve("sentencepiece-bpe.json"));
        assertTrue(tok instanceof SentencePieceBpe);
        boolean sawByteFallback = false;
        for (JsonNode c : cases("sentencepiece-bpe.cases.json")) {
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
