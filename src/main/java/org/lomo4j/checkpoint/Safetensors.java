package org.lomo4j.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lomo4j.kernels.Half;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor name
 * to {dtype, shape, data_offsets}, then the raw little-endian data. Reading maps each tensor's bytes
 * rather than copying the file (so files past 2 GiB work), and validates every header entry before any
 * data is touched.
 */
public final class Safetensors {

    /** The element types lomo4j reads and writes, into fp32 or 16-bit weights. */
    public enum Dtype {
        F32(4, "float32"), F16(2, "float16"), BF16(2, "bfloat16");

        public final int width;
        /** The name HF's config.json gives it ({@code torch_dtype}). */
        public final String torchName;

        Dtype(int width, String torchName) {
            this.width = width;
            this.torchName = torchName;
        }

        /** The dtype named {@code name} as safetensors spells it, or null. */
        public static Dtype named(String name) {
            for (Dtype d : values()) if (d.name().equals(name)) return d;
            return null;
        }
    }

    /** A header entry: where a tensor's bytes are, relative to the start of the data section. */
    public record Entry(String name, Dtype dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    /**
     * The values to save under {@code shape}, from {@code offset} of either {@code data} (fp32) or
     * {@code halves} (16-bit, {@link Half} format {@code halfFormat}).
     */
    public record Slice(float[] data, short[] halves, int halfFormat, int offset, int[] shape) {
        public Slice(float[] data, int offset, int[] shape) {
            this(data, null, -1, offset, shape);
        }

        public Slice(short[] halves, int halfFormat, int offset, int[] shape) {
            this(null, halves, halfFormat, offset, shape);
        }

        int length() {
            int n = 1;
            for (int d : shape) n *= d;
            return n;
        }

        float get(int i) {
            return data != null ? data[offset + i] : Half.toFloat(halves[offset + i], halfFormat);
        }
    }

    private final Path path;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;
    private final long dataStart;

    private Safetensors(Path path, Map<String, Entry> entries, Map<String, String> metadata, long dataStart) {
        this.path = path;
        this.entries = entries;
        this.metadata = metadata;
        this.dataStart = dataStart;
    }

    public Path path() {
        return path;
    }

    public Map<String, Entry> entries() {
        return Collections.unmodifiableMap(entries);
    }

    public Map<String, String> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    public static Safetensors open(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new CheckpointException(path + ": too short for a safetensors file (" + size + " bytes)");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen <= 0 || headerLen > size - 8 || headerLen > 100_000_000) {
                throw new CheckpointException(path + ": header length " + headerLen + " does not fit the file of " + size + " bytes");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLen);
            ch.read(header, 8);
            long dataStart = 8 + headerLen;
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, Entry> entries = parseHeader(path, new String(header.array(), StandardCharsets.UTF_8), size - dataStart, meta);
            return new Safetensors(path, entries, meta, dataStart);
        } catch (IOException e) {
            throw new CheckpointException(path + ": cannot read: " + e.getMessage());
        }
    }

    private static Map<String, Entry> parseHeader(Path path, String text, long dataSize, Map<String, String> meta) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(text);
        } catch (IOException e) {
            throw new CheckpointException(path + ": header is not valid JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) throw new CheckpointException(path + ": header is not a JSON object");
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            String name = f.getKey();
            JsonNode n = f.getValue();
            if (name.equals("__metadata__")) {
                n.fields().forEachRemaining(m -> meta.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            String where = path + ": tensor '" + name + "'";
            String dtypeName = n.path("dtype").asText("");
            Dtype dtype = Dtype.named(dtypeName);
            if (dtype == null) throw new CheckpointException(where + ": unsupported dtype '" + dtypeName + "' (F32, F16, BF16)");
            int width = dtype.width;
            JsonNode shapeNode = n.path("shape");
            JsonNode offs = n.path("data_offsets");
            if (!shapeNode.isArray() || !offs.isArray() || offs.size() != 2) {
                throw new CheckpointException(where + ": needs 'shape' and a two-element 'data_offsets'");
            }
            long[] shape = new long[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong(-1);
                if (shape[i] < 0) throw new CheckpointException(where + ": negative dimension in shape " + shapeNode);
            }
            long begin = offs.get(0).asLong(-1);
            long end = offs.get(1).asLong(-1);
            if (begin < 0 || end < begin || end > dataSize) {
                throw new CheckpointException(where + ": data_offsets " + offs + " outside the data section of " + dataSize + " bytes");
            }
            Entry e = new Entry(name, dtype, shape, begin, end);
            if (e.numel() * width != end - begin) {
                throw new CheckpointException(where + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                        + e.numel() * width + " bytes, data_offsets span " + (end - begin));
            }
            entries.put(name, e);
        }
        return entries;
    }

    /** Converts tensor {@code name} to fp32 into {@code dst[off ..]}, after checking its shape. */
    public void read(String name, int[] expectedShape, float[] dst, int off) {
        ByteBuffer data = map(name, expectedShape);
        Dtype from = entries.get(name).dtype();
        int n = data.capacity() / from.width;
        switch (from) {
            case F32 -> data.asFloatBuffer().get(dst, off, n);
            case F16 -> {
                for (int i = 0; i < n; i++) dst[off + i] = Float.float16ToFloat(data.getShort(2 * i));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) dst[off + i] = Float.intBitsToFloat((data.getShort(2 * i) & 0xFFFF) << 16);
            }
        }
    }

    /**
     * Tensor {@code name} into 16-bit weights of {@link Half} {@code format} at {@code dst[off ..]}, after
     * checking its shape: copied when the file has that format, else rounded to nearest one value at a time
     * (no fp32 copy of the tensor). A finite value past float16's range is an error naming the tensor.
     */
    public void read(String name, int[] expectedShape, short[] dst, int off, int format) {
        ByteBuffer data = map(name, expectedShape);
        Dtype from = entries.get(name).dtype();
        int n = data.capacity() / from.width;
        if (from == (format == Half.BF16 ? Dtype.BF16 : Dtype.F16)) {
            data.asShortBuffer().get(dst, off, n);
            return;
        }
        for (int i = 0; i < n; i++) {
            float v = from == Dtype.F32 ? data.getFloat(4 * i) : Half.toFloat(data.getShort(2 * i), from == Dtype.BF16 ? Half.BF16 : Half.F16);
            short h = Half.nearest(v, format);
            if (format == Half.F16 && Float.isFinite(v) && !Float.isFinite(Float.float16ToFloat(h))) {
                throw new CheckpointException(path + ": tensor '" + name + "' holds " + v + ", beyond float16's range (±"
                        + Half.F16_MAX + "); load it with --param-dtype bf16 or f32");
            }
            dst[off + i] = h;
        }
    }

    /** Tensor {@code name}'s bytes, mapped, after checking its shape. */
    private ByteBuffer map(String name, int[] expectedShape) {
        Entry e = entries.get(name);
        if (e == null) throw new CheckpointException(path + ": missing tensor '" + name + "'");
        long[] want = Arrays.stream(expectedShape).asLongStream().toArray();
        if (!Arrays.equals(want, e.shape())) {
            throw new CheckpointException(path + ": tensor '" + name + "' has shape " + Arrays.toString(e.shape())
                    + ", the config needs " + Arrays.toString(expectedShape));
        }
        long bytes = e.end() - e.begin();
        if (bytes > Integer.MAX_VALUE) {
            throw new CheckpointException(path + ": tensor '" + name + "' is " + bytes + " bytes, more than one mapping holds");
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), bytes).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException ex) {
            throw new CheckpointException(path + ": cannot read tensor '" + name + "': " + ex.getMessage());
        }
    }

    /** Writes F32 tensors in the given order (to a temporary file, then renamed over {@code path}). */
    public static void write(Path path, Map<String, Slice> tensors, Map<String, String> metadata) throws IOException {
        write(path, tensors, metadata, Dtype.F32);
    }

    /** The bytes {@code slice} takes as {@code dtype}. */
    public static long bytes(Slice slice, Dtype dtype) {
        return (long) dtype.width * slice.length();
    }

    /** Writes the tensors in the given order as {@code dtype} (to a temporary file, then renamed over {@code path}). */
    public static void write(Path path, Map<String, Slice> tensors, Map<String, String> metadata, Dtype dtype) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, Slice> t : tensors.entrySet()) {
            ObjectNode e = header.putObject(t.getKey());
            e.put("dtype", dtype.name());
            ArrayNode shape = e.putArray("shape");
            for (int d : t.getValue().shape()) shape.add(d);
            long bytes = bytes(t.getValue(), dtype);
            e.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] headerBytes = json.writeValueAsBytes(header);
        int padded = (headerBytes.length + 7) / 8 * 8;  // data starts 8-byte aligned
        byte[] h = Arrays.copyOf(headerBytes, padded);
        Arrays.fill(h, headerBytes.length, padded, (byte) ' ');
        AtomicFiles.write(path, out -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(h);
            ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            for (Slice s : tensors.values()) {
                for (int i = 0; i < s.length(); i++) {
                    if (!buf.hasRemaining()) flush(buf, out);
                    // 16-bit weights saved in their own format come back as they were: widening is exact.
                    float v = s.get(i);
                    switch (dtype) {
                        case F32 -> buf.putFloat(v);
                        case F16 -> buf.putShort(Half.nearest(v, Half.F16));
                        case BF16 -> buf.putShort(Half.nearest(v, Half.BF16));
                    }
                }
            }
            flush(buf, out);
        });
    }

    private static void flush(ByteBuffer buf, OutputStream out) throws IOException {
        out.write(buf.array(), 0, buf.position());
        buf.clear();
    }
}
