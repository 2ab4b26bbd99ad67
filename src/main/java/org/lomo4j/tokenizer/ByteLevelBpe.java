package org.lomo4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
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
public final class ByteLevelBpe {
    /** GPT-2's pre-tokenizer regex, which HF's ByteLevel uses when {@code use_regex} is true. */
    static final String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    private static final char[] BYTE_TO_CHAR = byteToChar();
    private static final Map<Character, Integer> CHAR_TO_BYTE = charToByte();

    private final Map<String, Integer> vocab;
    private final String[] tokens;                 // id → token string
    private final Map<String, Integer> mergeRank;  // "left right" → rank (lower merges first)
    private final boolean ignoreMerges;
    private final Pattern split;                   // null: the whole text is one word
    private final boolean addPrefixSpace;
    private final Map<String, Integer> added;      // added token content → id
    private final Pattern addedPattern;            // alternation of added tokens, longest first
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private ByteLevelBpe(Map<String, Integer> vocab, Map<String, Integer> mergeRank, boolean ignoreMerges, Pattern split,
                         boolean addPrefixSpace, Map<String, Integer> added) {
        this.vocab = vocab;
        this.mergeRank = mergeRank;
        this.ignoreMerges = ignoreMerges;
        this.split = split;
        this.addPrefixSpace = addPrefixSpace;
        this.added = added;
        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        for (int id : added.values()) size = Math.max(size, id + 1);
        this.tokens = new String[size];
        vocab.forEach((s, id) -> tokens[id] = s);
        added.forEach((s, id) -> tokens[id] = s);
        List<String> byLength = new ArrayList<>(added.keySet());
        byLength.sort(Comparator.comparingInt(String::length).reversed());
        StringBuilder alt = new StringBuilder();
        for (String a : byLength) alt.append(alt.isEmpty() ? "" : "|").append(Pattern.quote(a));
        this.addedPattern = added.isEmpty() ? null : Pattern.compile(alt.toString());
    }

    /** Reads a {@code tokenizer.json}; every unsupported or malformed part is an error naming the file and field. */
    public static ByteLevelBpe load(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not readable as JSON: " + e.getMessage());
        }
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText())) {
            throw new IllegalArgumentException(file + ": field 'model.type' = " + model.path("type") + " is not supported (BPE)");
        }
        if (model.path("byte_fallback").asBoolean(false)) {
            throw new IllegalArgumentException(file + ": field 'model.byte_fallback' = true (SentencePiece-style BPE) is not supported yet");
        }
        if (root.hasNonNull("normalizer")) {
            throw new IllegalArgumentException(file + ": field 'normalizer' (" + root.get("normalizer").path("type").asText()
                    + ") is not supported for byte-level BPE");
        }
        Map<String, Integer> vocab = new HashMap<>();
        model.path("vocab").fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        if (vocab.isEmpty()) throw new IllegalArgumentException(file + ": field 'model.vocab' is missing or empty");
        Map<String, Integer> ranks = new HashMap<>();
        JsonNode merges = model.path("merges");
        for (int i = 0; i < merges.size(); i++) {
            JsonNode m = merges.get(i);
            String pair = m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText();
            if (pair.indexOf(' ') <= 0) throw new IllegalArgumentException(file + ": field 'model.merges[" + i + "]' is not a pair: " + m);
            ranks.putIfAbsent(pair, i);
        }
        Map<String, Integer> added = new HashMap<>();
        for (JsonNode a : root.path("added_tokens")) added.put(a.path("content").asText(), a.path("id").asInt());

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
        return new ByteLevelBpe(vocab, ranks, model.path("ignore_merges").asBoolean(false), split, prefix, added);
    }

    /** HF's regexes use Unicode classes: \s, \w and friends must match Unicode whitespace and letters too. */
    private static Pattern compile(String regex) {
        return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
    }

    public int vocabSize() {
        return tokens.length;
    }

    /** The id of a token or added token, or -1. */
    public int id(String token) {
        Integer id = added.get(token);
        if (id == null) id = vocab.get(token);
        return id == null ? -1 : id;
    }

    public int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        int from = 0;
        if (addedPattern != null) {
            Matcher m = addedPattern.matcher(text);
            while (m.find()) {
                encodeText(text.substring(from, m.start()), ids, from == 0);
                ids.add(added.get(m.group()));
                from = m.end();
            }
        }
        encodeText(text.substring(from), ids, from == 0);
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    private void encodeText(String text, List<Integer> ids, boolean atStart) {
        if (text.isEmpty()) return;
        if (addPrefixSpace && atStart && !text.startsWith(" ")) text = " " + text;
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
        int[] cached = cache.computeIfAbsent(word, this::bpe);
        for (int id : cached) ids.add(id);
    }

    /** The merges of one word: repeatedly join the adjacent pair of lowest rank. */
    private int[] bpe(String word) {
        byte[] utf8 = word.getBytes(StandardCharsets.UTF_8);
        StringBuilder mapped = new StringBuilder(utf8.length);
        for (byte b : utf8) mapped.append(BYTE_TO_CHAR[b & 0xFF]);
        String whole = mapped.toString();
        if (ignoreMerges && vocab.containsKey(whole)) return new int[] {vocab.get(whole)};
        List<String> symbols = new ArrayList<>(whole.length());
        for (int i = 0; i < whole.length(); i++) symbols.add(String.valueOf(whole.charAt(i)));
        while (symbols.size() > 1) {
            int best = -1, bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer r = mergeRank.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    best = i;
                }
            }
            if (best < 0) break;
            symbols.set(best, symbols.get(best) + symbols.remove(best + 1));
        }
        int[] out = new int[symbols.size()];
        for (int i = 0; i < out.length; i++) {
            Integer id = vocab.get(symbols.get(i));
            if (id == null) throw new IllegalStateException("byte-level BPE: symbol '" + symbols.get(i) + "' is not in the vocabulary");
            out[i] = id;
        }
        return out;
    }

    /** Text of the ids; added tokens come out as their content unless {@code skipSpecial}. */
    public String decode(int[] ids, boolean skipSpecial) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            if (id < 0 || id >= tokens.length || tokens[id] == null) throw new IllegalArgumentException("token id " + id + " is not in the vocabulary");
            String tok = tokens[id];
            if (added.containsKey(tok) && !vocab.containsKey(tok)) {
                if (!skipSpecial) bytes.writeBytes(tok.getBytes(StandardCharsets.UTF_8));
                continue;
            }
            for (int i = 0; i < tok.length(); i++) {
                Integer b = CHAR_TO_BYTE.get(tok.charAt(i));
                if (b == null) throw new IllegalStateException("byte-level BPE: token '" + tok + "' has a character outside the byte map");
                bytes.write(b);
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
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
