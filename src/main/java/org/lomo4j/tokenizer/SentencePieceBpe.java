package org.lomo4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * SentencePiece-style BPE with byte fallback, as Llama 2 and TinyLlama ship it in {@code tokenizer.json}:
 * the normalizer prepends "▁" and turns spaces into "▁"; words are not pre-split; the initial symbols are
 * Unicode characters, and a character missing from the vocabulary becomes its UTF-8 bytes as
 * {@code <0xNN>} tokens; then merges run as in any BPE. Decoding follows Llama 2's decoder: "▁" → space,
 * byte tokens → bytes, and one leading space stripped.
 *
 * <p>Added tokens are split off first; the normalizer then runs on each piece between them, as Hugging
 * Face does, so {@code "a</s>b"} encodes as ▁a, &lt;/s&gt;, ▁b.
 *
 * <p>Newer files (transformers' {@code legacy=false}, Mistral) have no normalizer and a {@code Metaspace}
 * pre-tokenizer instead. It turns spaces into "▁" too, but prepends "▁" only where its
 * {@code prepend_scheme} says ({@code first}: at the start of the input only, so "a&lt;/s&gt;b" gives ▁a,
 * &lt;/s&gt;, b) and never to text that already starts with "▁"; with {@code split} it cuts words before
 * each "▁", and merges stay inside words.
 */
public final class SentencePieceBpe extends BpeTokenizer {
    private static final String SPACE = "▁";

    /** Where "▁" is prepended: Llama 2's normalizer does it to every segment, unconditionally. */
    private enum Prepend { EVERY_SEGMENT, ALWAYS, FIRST, NEVER }

    private final Prepend prepend;
    private final boolean splitWords;  // Metaspace split: each "▁"-led word merges alone
    private final int unk;
    private final int[] byteIds = new int[256];  // <0xNN> → id

    private SentencePieceBpe(JsonNode root, Path file, Prepend prepend, boolean splitWords, String unkToken) {
        super(root, file);
        this.prepend = prepend;
        this.splitWords = splitWords;
        this.unk = id(unkToken);
        for (int b = 0; b < 256; b++) {
            byteIds[b] = id(String.format("<0x%02X>", b));
            if (byteIds[b] < 0) throw new IllegalArgumentException(file + ": field 'model.vocab' lacks the byte token " + String.format("<0x%02X>", b));
        }
    }

    public static SentencePieceBpe load(Path file) {
        return fromJson(Tokenizer.readJson(file), file);
    }

    static SentencePieceBpe fromJson(JsonNode root, Path file) {
        String unkToken = root.path("model").path("unk_token").asText("<unk>");
        JsonNode pre = root.path("pre_tokenizer");
        if (root.hasNonNull("pre_tokenizer")) {
            if (!"Metaspace".equals(pre.path("type").asText()) || root.hasNonNull("normalizer")
                    || !SPACE.equals(pre.path("replacement").asText(SPACE))) {
                throw new IllegalArgumentException(file + ": field 'pre_tokenizer' (" + pre.path("type").asText()
                        + ") is not supported for SentencePiece-style BPE (Metaspace with \"▁\" and no normalizer, or"
                        + " Llama 2's Prepend + Replace normalizer, is)");
            }
            Prepend scheme = switch (pre.path("prepend_scheme").asText(pre.path("add_prefix_space").asBoolean(true) ? "always" : "never")) {
                case "always" -> Prepend.ALWAYS;
                case "first" -> Prepend.FIRST;
                case "never" -> Prepend.NEVER;
                default -> throw new IllegalArgumentException(file + ": field 'pre_tokenizer.prepend_scheme' = "
                        + pre.get("prepend_scheme") + " is not one of always, first, never");
            };
            return new SentencePieceBpe(root, file, scheme, pre.path("split").asBoolean(true), unkToken);
        }
        JsonNode norm = root.path("normalizer");
        JsonNode steps = norm.path("normalizers");
        JsonNode first = steps.path(0), second = steps.path(1);
        boolean llama = "Sequence".equals(norm.path("type").asText()) && steps.size() == 2
                && "Prepend".equals(first.path("type").asText()) && SPACE.equals(first.path("prepend").asText())
                && "Replace".equals(second.path("type").asText()) && " ".equals(second.path("pattern").path("String").asText())
                && SPACE.equals(second.path("content").asText());
        if (!llama) {
            throw new IllegalArgumentException(file + ": field 'normalizer' must be Sequence [Prepend(\"▁\"), Replace(\" \" → \"▁\")]"
                    + " as in Llama 2, or absent with a Metaspace pre-tokenizer");
        }
        return new SentencePieceBpe(root, file, Prepend.EVERY_SEGMENT, false, unkToken);
    }

    /** Spaces → "▁" and the prepended "▁", then byte fallback and merges, word by word when split. */
    @Override
    void encodeSegment(String segment, boolean atStart, List<Integer> ids) {
        String normalized = segment.replace(" ", SPACE);
        boolean prependHere = switch (prepend) {
            case EVERY_SEGMENT -> true;
            case ALWAYS -> !normalized.startsWith(SPACE);
            case FIRST -> atStart && !normalized.startsWith(SPACE);
            case NEVER -> false;
        };
        if (prependHere) normalized = SPACE + normalized;
        if (!splitWords) {
            encodeWord(normalized, ids);
            return;
        }
        int from = 0;
        for (int i = normalized.indexOf(SPACE, 1); i > 0; i = normalized.indexOf(SPACE, i + 1)) {
            encodeWord(normalized.substring(from, i), ids);
            from = i;
        }
        encodeWord(normalized.substring(from), ids);
    }

    private void encodeWord(String normalized, List<Integer> ids) {
        // Characters the vocabulary lacks become byte tokens before merging; merges never span them.
        List<String> symbols = new ArrayList<>();
        normalized.codePoints().forEach(cp -> {
            String ch = Character.toString(cp);
            if (vocab.containsKey(ch)) {
                symbols.add(ch);
            } else {
                for (byte b : ch.getBytes(StandardCharsets.UTF_8)) symbols.add(token(byteIds[b & 0xFF]));
            }
        });
        boolean lastUnk = false;
        for (String s : merge(symbols)) {
            Integer id = vocab.get(s);
            if (id == null) {
                if (!lastUnk && unk >= 0) ids.add(unk);  // fuse_unk: a run of unknowns is one <unk>
                lastUnk = true;
            } else {
                ids.add(id);
                lastUnk = false;
            }
        }
    }

    /** A {@code <0xNN>} token is its byte; any other is its text with "▁" as a space. */
    @Override
    void appendBytes(String tok, ByteArrayOutputStream out) {
        int b = byteOf(tok);
        if (b >= 0) out.write(b);
        else out.writeBytes(tok.replace(SPACE, " ").getBytes(StandardCharsets.UTF_8));
    }

    /** Llama 2's decoder strips the one space the normalizer prepended. */
    @Override
    String finishDecoding(String text) {
        return text.startsWith(" ") ? text.substring(1) : text;
    }

    /** The byte of a {@code <0xNN>} token, or -1. */
    private static int byteOf(String tok) {
        if (tok.length() != 6 || !tok.startsWith("<0x") || tok.charAt(5) != '>') return -1;
        try {
            return Integer.parseInt(tok.substring(3, 5), 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
