package org.lomo4j.data;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** The built-in tokenizer: one token per UTF-8 byte (0..255), plus BOS, EOS and PAD. */
public final class ByteTokenizer {
    public static final int BOS = 256;
    public static final int EOS = 257;
    public static final int PAD = 258;
    public static final int VOCAB_SIZE = 259;

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
}
