package org.lomo4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;

/** Text to token ids and back, with the special ids training and generation need. */
public interface Tokenizer {

    int[] encode(String text);

    /** Text of the ids; added tokens (BOS, EOS, …) come out as their content unless {@code skipSpecial}. */
    String decode(int[] ids, boolean skipSpecial);

    /** The id of a token or added token, or -1. */
    int id(String token);

    int vocabSize();

    /** Beginning-of-sequence id, put before every prompt; -1 for models without one. */
    default int bos() {
        return -1;
    }

    /** End-of-sequence id: the target after every response, and where generation stops; -1 if unknown. */
    default int eos() {
        return -1;
    }

    /** Filler after EOS in a packed batch; never a target, never attended to by real positions. */
    default int pad() {
        return Math.max(eos(), 0);
    }

    /** A prompt as the model sees it: after BOS, where there is one. */
    default int[] withBos(int[] prompt) {
        if (bos() < 0) return prompt.clone();
        int[] p = new int[prompt.length + 1];
        p[0] = bos();
        System.arraycopy(prompt, 0, p, 1, prompt.length);
        return p;
    }

    /**
     * Byte-level BPE (GPT-2, Llama 3, Qwen) or SentencePiece-style BPE with byte fallback (Llama 2,
     * TinyLlama), chosen by the file's {@code model.byte_fallback}.
     */
    static Tokenizer load(Path file) {
        JsonNode root = readJson(file);
        return root.path("model").path("byte_fallback").asBoolean(false)
                ? SentencePieceBpe.fromJson(root, file) : ByteLevelBpe.fromJson(root, file);
    }

    /** Files of a Hugging Face model directory that belong to its tokenizer; checkpoints carry them along. */
    java.util.List<String> FILES = java.util.List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "generation_config.json");

    /**
     * The tokenizer of a Hugging Face model directory ({@code tokenizer.json}), with BOS and EOS from
     * {@code config.json}'s {@code bos_token_id} / {@code eos_token_id}, else {@code generation_config.json}'s,
     * else {@code tokenizer_config.json}'s {@code bos_token} / {@code eos_token}. A model needs an EOS; a
     * missing BOS means none.
     */
    static Tokenizer forModelDirectory(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        Tokenizer tok = load(file);
        JsonNode config = optionalJson(dir.resolve("config.json"));
        JsonNode generation = optionalJson(dir.resolve("generation_config.json"));
        JsonNode tokConfig = optionalJson(dir.resolve("tokenizer_config.json"));
        int bos = special(tok, "bos_token_id", "bos_token", config, generation, tokConfig);
        int eos = special(tok, "eos_token_id", "eos_token", config, generation, tokConfig);
        if (eos < 0) {
            throw new IllegalArgumentException(dir + ": no end-of-sequence token: set 'eos_token_id' in config.json or"
                    + " generation_config.json, or 'eos_token' in tokenizer_config.json");
        }
        if (bos >= tok.vocabSize() || eos >= tok.vocabSize()) {
            throw new IllegalArgumentException(dir + ": bos/eos ids " + bos + "/" + eos + " lie outside the tokenizer's " + tok.vocabSize() + " ids");
        }
        return new WithSpecials(tok, bos, eos);
    }

    private static JsonNode optionalJson(Path file) {
        return java.nio.file.Files.isRegularFile(file) ? readJson(file) : null;
    }

    private static int special(Tokenizer tok, String idField, String tokenField, JsonNode config, JsonNode generation,
                               JsonNode tokConfig) {
        for (JsonNode source : new JsonNode[] {config, generation}) {
            JsonNode id = source == null ? null : source.get(idField);
            if (id != null && id.isArray() && !id.isEmpty()) id = id.get(0);  // Llama 3 lists several EOS ids
            if (id != null && id.isInt()) return id.asInt();
        }
        JsonNode t = tokConfig == null ? null : tokConfig.get(tokenField);
        if (t != null && t.isObject()) t = t.get("content");
        return t != null && t.isTextual() ? tok.id(t.asText()) : -1;
    }

    static JsonNode readJson(Path file) {
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not readable as JSON: " + e.getMessage());
        }
    }
}
