package org.lomo4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;

/** A Hugging Face {@code tokenizer.json}: text to ids and back. */
public interface Tokenizer {

    int[] encode(String text);

    /** Text of the ids; added tokens (BOS, EOS, …) come out as their content unless {@code skipSpecial}. */
    String decode(int[] ids, boolean skipSpecial);

    /** The id of a token or added token, or -1. */
    int id(String token);

    int vocabSize();

    /**
     * Byte-level BPE (GPT-2, Llama 3, Qwen) or SentencePiece-style BPE with byte fallback (Llama 2,
     * TinyLlama), chosen by the file's {@code model.byte_fallback}.
     */
    static Tokenizer load(Path file) {
        JsonNode root = readJson(file);
        return root.path("model").path("byte_fallback").asBoolean(false)
                ? SentencePieceBpe.fromJson(root, file) : ByteLevelBpe.fromJson(root, file);
    }

    static JsonNode readJson(Path file) {
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not readable as JSON: " + e.getMessage());
        }
    }
}
