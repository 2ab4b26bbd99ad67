package org.lomo4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What both BPE flavours share: the vocabulary, the merge ranks, and the added tokens, which are split off
 * before encoding and come out whole in decoding. A flavour says how it encodes the text between added
 * tokens and how a vocabulary token turns back into bytes.
 */
abstract sealed class BpeTokenizer implements Tokenizer permits ByteLevelBpe, SentencePieceBpe {
    final Map<String, Integer> vocab = new HashMap<>();
    final String[] tokens;                                      // id → token string
    private final Map<String, Integer> mergeRank = new HashMap<>();  // "left right" → rank, lower merges first
    private final Map<String, Integer> added = new HashMap<>();      // added token content → id
    private final Pattern addedPattern;                              // the added tokens, longest first

    BpeTokenizer(JsonNode root, Path file) {
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText())) {
            throw new IllegalArgumentException(file + ": field 'model.type' = " + model.path("type") + " is not supported (BPE)");
        }
        model.path("vocab").fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        if (vocab.isEmpty()) throw new IllegalArgumentException(file + ": field 'model.vocab' is missing or empty");
        JsonNode merges = model.path("merges");
        for (int i = 0; i < merges.size(); i++) {
            JsonNode m = merges.get(i);
            String pair = m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText();
            if (pair.indexOf(' ') <= 0) throw new IllegalArgumentException(file + ": field 'model.merges[" + i + "]' is not a pair: " + m);
            mergeRank.putIfAbsent(pair, i);
        }
        for (JsonNode a : root.path("added_tokens")) added.put(a.path("content").asText(), a.path("id").asInt());

        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        for (int id : added.values()) size = Math.max(size, id + 1);
        tokens = new String[size];
        vocab.forEach((s, id) -> tokens[id] = s);
        added.forEach((s, id) -> tokens[id] = s);
        List<String> byLength = new ArrayList<>(added.keySet());
        byLength.sort(Comparator.comparingInt(String::length).reversed());
        StringBuilder alt = new StringBuilder();
        for (String a : byLength) alt.append(alt.isEmpty() ? "" : "|").append(Pattern.quote(a));
        addedPattern = added.isEmpty() ? null : Pattern.compile(alt.toString());
    }

    /**
     * Encodes the text between two added tokens, appending to {@code ids}; {@code atStart} says the segment
     * begins the input (some pre-tokenizers treat that one differently).
     */
    abstract void encodeSegment(String segment, boolean atStart, List<Integer> ids);

    /** Appends the bytes a vocabulary (not added) token stands for. */
    abstract void appendBytes(String token, ByteArrayOutputStream out);

    /** The decoded text, after the flavour's last touch. */
    String finishDecoding(String text) {
        return text;
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int id(String token) {
        Integer id = added.get(token);
        if (id == null) id = vocab.get(token);
        return id == null ? -1 : id;
    }

    String token(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) throw new IllegalArgumentException("token id " + id + " is not in the vocabulary");
        return tokens[id];
    }

    /** Added tokens are matched first, exactly; the text between them goes to the flavour. */
    @Override
    public int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        int from = 0;
        if (addedPattern != null) {
            Matcher m = addedPattern.matcher(text);
            while (m.find()) {
                if (m.start() > from) encodeSegment(text.substring(from, m.start()), from == 0, ids);
                ids.add(added.get(m.group()));
                from = m.end();
            }
        }
        if (from < text.length()) encodeSegment(text.substring(from), from == 0, ids);
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public String decode(int[] ids, boolean skipSpecial) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            String tok = token(id);
            if (added.containsKey(tok)) {
                if (!skipSpecial) bytes.writeBytes(tok.getBytes(StandardCharsets.UTF_8));
            } else {
                appendBytes(tok, bytes);
            }
        }
        return finishDecoding(bytes.toString(StandardCharsets.UTF_8));
    }

    /** Joins adjacent symbols, the listed pair of lowest rank first, until no listed merge applies. */
    List<String> merge(List<String> symbols) {
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
        return symbols;
    }
}
