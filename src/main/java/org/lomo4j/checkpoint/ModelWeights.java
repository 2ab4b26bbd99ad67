package org.lomo4j.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lomo4j.checkpoint.Safetensors.Dtype;
import org.lomo4j.checkpoint.Safetensors.Slice;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model directory's weights as Hugging Face lays them out: one {@code model.safetensors}, or shards
 * {@code model-0000N-of-0000M.safetensors} listed by {@code model.safetensors.index.json}, whose
 * {@code weight_map} names each tensor's shard.
 */
public final class ModelWeights {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    /** How weights are written: their dtype, and the size above which they are split into shards. */
    public record Format(Dtype dtype, long maxShardBytes) {
        /** F32 and HF's default shard size of 5 GB. */
        public static final Format DEFAULT = new Format(Dtype.F32, 5_000_000_000L);

        public Format {
            if (maxShardBytes <= 0) throw new IllegalArgumentException("max shard size must be positive");
        }
    }

    private final Path source;                        // model.safetensors or the index, for errors
    private final Map<String, Safetensors> byTensor;  // tensor name → the file holding it

    private ModelWeights(Path source, Map<String, Safetensors> byTensor) {
        this.source = source;
        this.byTensor = byTensor;
    }

    /** Opens the weights in {@code dir}; every shard's header is validated before anything is read. */
    public static ModelWeights open(Path dir) {
        Path single = dir.resolve(SINGLE);
        if (Files.isRegularFile(single)) {
            Safetensors st = Safetensors.open(single);
            Map<String, Safetensors> map = new LinkedHashMap<>();
            for (String name : st.entries().keySet()) map.put(name, st);
            return new ModelWeights(single, map);
        }
        Path index = dir.resolve(INDEX);
        if (!Files.isRegularFile(index)) throw new CheckpointException(dir + ": no " + SINGLE + " or " + INDEX);
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (IOException e) {
            throw new CheckpointException(index + ": not readable as JSON: " + e.getMessage());
        }
        JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject() || weightMap.isEmpty()) {
            throw new CheckpointException(index + ": needs a non-empty object 'weight_map' (tensor name → shard file)");
        }
        Map<String, Safetensors> shards = new LinkedHashMap<>();
        Map<String, Safetensors> map = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = weightMap.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String file = e.getValue().asText("");
            if (!e.getValue().isTextual() || file.isEmpty() || file.contains("/") || file.contains("\\")) {
                throw new CheckpointException(index + ": weight_map['" + e.getKey() + "'] must be a file name in the directory, got " + e.getValue());
            }
            Safetensors shard = shards.computeIfAbsent(file, f -> {
                Path p = dir.resolve(f);
                if (!Files.isRegularFile(p)) throw new CheckpointException(index + ": missing shard '" + f + "' (listed for '" + e.getKey() + "')");
                return Safetensors.open(p);
            });
            if (!shard.entries().containsKey(e.getKey())) {
                throw new CheckpointException(shard.path() + ": no tensor '" + e.getKey() + "', which " + INDEX + " places there");
            }
            map.put(e.getKey(), shard);
        }
        return new ModelWeights(index, map);
    }

    public Set<String> names() {
        return Collections.unmodifiableSet(byTensor.keySet());
    }

    /** The file holding tensor {@code name}, for error messages. */
    public Path file(String name) {
        return byTensor.get(name).path();
    }

    public void read(String name, int[] shape, float[] dst, int off) {
        shard(name).read(name, shape, dst, off);
    }

    /** Tensor {@code name} into 16-bit weights of {@link org.lomo4j.kernels.Half} {@code format}. */
    public void read(String name, int[] shape, short[] dst, int off, int format) {
        shard(name).read(name, shape, dst, off, format);
    }

    private Safetensors shard(String name) {
        Safetensors st = byTensor.get(name);
        if (st == null) throw new CheckpointException(source + ": missing tensor '" + name + "'");
        return st;
    }

    /**
     * Writes {@code tensors} into {@code dir}: one {@code model.safetensors} if they fit in one shard, else
     * shards in order (a new one starts when the next tensor would pass the limit) and the index.
     */
    public static void write(Path dir, Map<String, Slice> tensors, Format format) throws IOException {
        List<Map<String, Slice>> shards = new ArrayList<>();
        long shardBytes = 0, total = 0;
        for (Map.Entry<String, Slice> t : tensors.entrySet()) {
            long bytes = Safetensors.bytes(t.getValue(), format.dtype());
            if (shards.isEmpty() || (shardBytes > 0 && shardBytes + bytes > format.maxShardBytes())) {
                shards.add(new LinkedHashMap<>());
                shardBytes = 0;
            }
            shards.get(shards.size() - 1).put(t.getKey(), t.getValue());
            shardBytes += bytes;
            total += bytes;
        }
        Map<String, String> meta = Map.of("format", "pt");
        if (shards.size() <= 1) {
            Safetensors.write(dir.resolve(SINGLE), tensors, meta, format.dtype());
            return;
        }
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode index = json.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode weightMap = index.putObject("weight_map");
        for (int i = 0; i < shards.size(); i++) {
            String file = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            Safetensors.write(dir.resolve(file), shards.get(i), meta, format.dtype());
            for (String name : shards.get(i).keySet()) weightMap.put(name, file);
        }
        AtomicFiles.writeString(dir.resolve(INDEX), json.writeValueAsString(index));
    }
}
