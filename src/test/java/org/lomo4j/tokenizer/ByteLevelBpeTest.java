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
 * Against Hugging Face's own tokenizers library: src/test/resources/tokenizers/make-fixtures.js trains a
 * byte-level BPE with it and records the ids it gives a set of tricky strings.
 */
class ByteLevelBpeTest {
    private static final Path DIR = Path.of("src/test/resources/tokenizers");

    @Test
    void matchesHuggingFaceIdsAndRoundTrips() throws IOException {
        ByteLevelBpe tok = ByteLevelBpe.load(DIR.resolve("byte-level-bpe.json"));
        JsonNode cases = new ObjectMapper().readTree(DIR.resolve("byte-level-bpe.cases.json").toFile()).path("cases");
        assertTrue(cases.size() >= 20, "fixture cases: " + cases.size());
        for (JsonNode c : cases) {
            String text = c.path("text").asText();
            int[] want = new int[c.path("ids").size()];
            for (int i = 0; i < want.length; i++) want[i] = c.path("ids").get(i).asInt();
            int[] got = tok.encode(text);
            assertArrayEquals(want, got, "ids of " + new ObjectMapper().writeValueAsString(text));
            assertEquals(text, tok.decode(got, false), "round trip");
        }
    }

    @Test
    void specialTokensAreAtomsAndCanBeSkipped() {
        ByteLevelBpe tok = ByteLevelBpe.load(DIR.resolve("byte-level-bpe.json"));
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
