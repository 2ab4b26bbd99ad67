package org.lomo4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte-level BPE from a Hugging Face {@code tokenizer.json} (GPT-2, Llama 3, Qwen style).
 *
 * <p>Encoding: split off added tokens (special tokens and the like) by exact match; split the rest into
 * words with the pre-tokenizer's regex; map each word's UTF-8 bytes to printable characters (GPT-2's
 * byte-to-unicode table, so every byte is a symbol); then merge adjacent symbols, lowest merge rank
 * first, until no listed merge applies. Decoding maps the characters back to bytes.
 *
 * <p>Supported pre-tokenizers: {@code ByteLevel} with its built-in GPT-2 regex, and a {@code Sequence} of
 * {@code Split} (a regex) followed by {@code ByteLevel} without regex. Normalizers and byte fallback
 * (SentencePiece-style vocabularies) are rejected with the field named.
 */
public final class ByteLevelBpe extends BpeTokenizer {
    /** GPT-2's pre-tokenizer regex, which HF's ByteLevel uses when {@code use_regex} is true. */
    static final String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    private static final char[] BYTE_TO_CHAR = byteToChar();
    private static final Map<Character, Integer> CHAR_TO_BYTE = charToByte();

    private final boolean ignoreMerges;
    private final Pattern split;          // null: each segment is one word
    private final boolean addPrefixSpace;
    /** Words whose ids are remembered; like HF's BPE cache, it stops taking new words once full. */
    private static final int CACHE_WORDS = 10_000;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private ByteLevelBpe(JsonNode root, Path file, boolean ignoreMerges, Pattern split, boolean addPrefixSpace) {
        super(root, file);
        this.ignoreMerges = ignoreMerges;
        this.split = split;
        this.addPrefixSpace = addPrefixSpace;
    }

    /** Reads a {@code tokenizer.json}; every unsupported or malformed part is an error naming the file and field. */
    public static ByteLevelBpe load(Path file) {
        return fromJson(Tokenizer.readJson(file), file);
    }

    static ByteLevelBpe fromJson(JsonNode root, Path file) {
        JsonNode model = root.path("model");
        if (model.path("byte_fallback").asBoolean(false)) {
            throw new IllegalArgumentException(file + ": field 'model.byte_fallback' = true is SentencePiece-style BPE, not byte-level");
        }
        if (root.hasNonNull("normalizer")) {
            throw new IllegalArgumentException(file + ": field 'normalizer' (" + root.get("normalizer").path("type").asText()
                    + ") is not supported for byte-level BPE");
        }
        JsonNode pre = root.path("pre_tokenizer");
        Pattern split;
        boolean prefix;
        switch (pre.path("type").asText()) {
            case "ByteLevel" -> {
                split = pre.path("use_regex").asBoolean(true) ? compile(GPT2_PATTERN) : null;
                prefix = pre.path("add_prefix_space").asBoolean(false);
            }
            case "Sequence" -> {
                JsonNode steps = pre.path("pretokenizers");
                JsonNode first = steps.path(0), second = steps.path(1);
                if (steps.size() != 2 || !"Split".equals(first.path("type").asText()) || !"ByteLevel".equals(second.path("type").asText())
                        || second.path("use_regex").asBoolean(true) || !"Isolated".equals(first.path("behavior").asText())) {
                    throw new IllegalArgumentException(file + ": field 'pre_tokenizer': only [Split (Isolated), ByteLevel (no regex)] sequences are supported");
                }
                String regex = first.path("pattern").path("Regex").asText(null);
                if (regex == null) throw new IllegalArgumentException(file + ": field 'pre_tokenizer.pretokenizers[0].pattern.Regex' is missing");
                split = compile(regex);
                prefix = second.path("add_prefix_space").asBoolean(false);
            }
            default -> throw new IllegalArgumentException(file + ": field 'pre_tokenizer' of type " + pre.path("type")
                    + " is not supported (ByteLevel, or Sequence of Split and ByteLevel)");
        }
        return new ByteLevelBpe(root, file, model.path("ignore_merges").asBoolean(false), split, prefix);
    }

    /** HF's regexes use Unicode classes: \s must match Unicode whitespace (no-break space, ideographic space) too. */
    private static Pattern compile(String regex) {
        return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
    }

    @Override
    void encodeSegment(String text, boolean atStart, List<Integer> ids) {
        if (addPrefixSpace && !text.startsWith(" ")) text = " " + text;
        if (split == null) {
            encodeWord(text, ids);
            return;
        }
        Matcher m = split.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) encodeWord(text.substring(last, m.start()), ids);  // Isolated: gaps are words too
            if (m.end() > m.start()) encodeWord(m.group(), ids);
            last = m.end();
        }
        if (last < text.length()) encodeWord(text.substring(last), ids);
    }

    private void encodeWord(String word, List<Integer> ids) {
        int[] wordIds = cache.get(word);
        if (wordIds == null) {
            wordIds = encodeUncached(word);
            if (cache.size() < CACHE_WORDS) cache.put(word, wordIds);
        }
        for (int id : wordIds) ids.add(id);
    }

    private int[] encodeUncached(String word) {
        byte[] utf8 = word.getBytes(StandardCharsets.UTF_8);
        StringBuilder mapped = new StringBuilder(utf8.length);
        for (byte b : utf8) mapped.append(BYTE_TO_CHAR[b & 0xFF]);
        String whole = mapped.toString();
        if (ignoreMerges && vocab.containsKey(whole)) return new int[] {vocab.get(whole)};
        List<String> symbols = new ArrayList<>(whole.length());
        for (int i = 0; i < whole.length(); i++) symbols.add(String.valueOf(whole.charAt(i)));
        List<String> merged = merge(symbols);
        int[] out = new int[merged.size()];
        for (int i = 0; i < out.length; i++) {
            Integer id = vocab.get(merged.get(i));
            if (id == null) throw new IllegalStateException("byte-level BPE: symbol '" + merged.get(i) + "' is not in the vocabulary");
            out[i] = id;
        }
        return out;
    }

    /** Each character of a token stands for one byte. */
    @Override
    void appendBytes(String tok, ByteArrayOutputStream out) {
        for (int i = 0; i < tok.length(); i++) {
            Integer b = CHAR_TO_BYTE.get(tok.charAt(i));
            if (b == null) throw new IllegalStateException("byte-level BPE: token '" + tok + "' has a character outside the byte map");
            out.write(b);
        }
    }

    /** GPT-2's table: printable bytes stand for themselves, the rest shift to 256 and up. */
    private static char[] byteToChar() {
        char[] map = new char[256];
        int shifted = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char) b : (char) (256 + shifted++);
        }
        return map;
    }

    private static Map<Character, Integer> charToByte() {
        Map<Character, Integer> m = new HashMap<>();
        for (int b = 0; b < 256; b++) m.put(BYTE_TO_CHAR[b], b);
        return m;
    }
}
