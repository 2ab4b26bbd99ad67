package org.lomo4j.data;

import org.lomo4j.tokenizer.Tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** The built-in tokenizer: one token per UTF-8 byte (0..255), plus BOS, EOS and PAD. */
public final class ByteTokenizer implements Tokenizer {
    public static final int BOS = 256;
    public static final int EOS = 257;
    public static final int PAD = 258;
    public static final int VOCAB_SIZE = 259;

    @Override
    public int[] encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) ids[i] = bytes[i] & 0xFF;
        return ids;
    }

    /** Decodes byte tokens; special tokens are dropped, and invalid UTF-8 becomes U+FFFD. */
    public String decode(int[] ids, int from, int to) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = from; i < to; i++) if (ids[i] >= 0 && ids[i] < 256) out.write(ids[i]);
        return out.toString(StandardCharsets.UTF_8);
    }

    public String decode(int[] ids) {
        return decode(ids, 0, ids.length);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecial) {
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (int i = 0; i <= ids.length; i++) {
            if (i == ids.length || ids[i] >= 256) {
                sb.append(decode(ids, from, i));
                if (i < ids.length && !skipSpecial) sb.append(ids[i] == BOS ? "<bos>" : ids[i] == EOS ? "<eos>" : "<pad>");
                from = i + 1;
            }
        }
        return sb.toString();
    }

    @Override
    public int id(String token) {
        return switch (token) {
            case "<bos>" -> BOS;
            case "<eos>" -> EOS;
            case "<pad>" -> PAD;
            default -> -1;
        };
    }

    @Override
    public int vocabSize() {
        return VOCAB_SIZE;
    }

    @Override
    public int bos() {
        return BOS;
    }

    @Override
    public int eos() {
        return EOS;
    }

    @Override
    public int pad() {
        return PAD;
    }
}
