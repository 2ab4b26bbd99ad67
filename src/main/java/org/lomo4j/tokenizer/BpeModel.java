package org.lomo4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What both BPE flavours share: the vocabulary, the merge ranks, and the added tokens split off first. */
final class BpeModel {
    final Map<String, Integer> vocab = new HashMap<>();
    final String[] tokens;                                      // id → token string
    private final Map<String, Integer> mergeRank = new HashMap<>();  // "left right" → rank, lower merges first
    private final Map<String, Integer> added = new HashMap<>();      // added token content → id
    private final Pattern addedPattern;                              // the added tokens, longest first

    BpeModel(JsonNode root, Path file) {
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

    int id(String token) {
        Integer id = added.get(token);
        if (id == null) id = vocab.get(token);
        return id == null ? -1 : id;
    }

    boolean isAdded(int id) {
        return added.containsKey(tokens[id]);
    }

    String token(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) throw new IllegalArgumentException("token id " + id + " is not in the vocabulary");
        return tokens[id];
    }

    /** Splits {@code text} around added tokens: their ids go to {@code ids}, the text between to {@code segment}. */
    void splitAdded(String text, List<Integer> ids, Consumer<String> segment) {
        int from = 0;
        if (addedPattern != null) {
            Matcher m = addedPattern.matcher(text);
            while (m.find()) {
                if (m.start() > from) segment.accept(text.substring(from, m.start()));
                ids.add(added.get(m.group()));
                from = m.end();
            }
        }
        if (from < text.length()) segment.accept(text.substring(from));
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
