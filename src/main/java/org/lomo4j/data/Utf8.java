package org.lomo4j.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads a data file as UTF-8, refusing bytes that are not, with the line and column where they are. */
final class Utf8 {
    private Utf8() {}

    static String read(Path path) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new IllegalArgumentException(path + ": cannot read: " + e.getMessage(), e);
        }
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult r = decoder.decode(in, out, true);
        if (r.isError()) {
            int at = in.position(), line = 1, lineStart = 0;
            for (int i = 0; i < at; i++) {
                if (bytes[i] == '\n') {
                    line++;
                    lineStart = i + 1;
                }
            }
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "%s:%d: not UTF-8 text (byte 0x%02X at column %d); save the file as UTF-8", path, line, bytes[at] & 0xFF,
                    at - lineStart + 1));
        }
        decoder.flush(out);
        String text = out.flip().toString();
        // A byte-order mark is an editor's, not the data's.
        return text.startsWith("\uFEFF") ? text.substring(1) : text;
    }
}
