package org.lomo4j.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Parameters;
import org.lomo4j.model.Tensor;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.parallel.Parallel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A checkpoint directory, loadable by Hugging Face transformers as a model:
 * <pre>
 *   config.json              the model config, HF field names
 *   model.safetensors        the weights, HF LLaMA tensor names, in their stored dtype unless asked otherwise; above the
 *                            shard limit, model-0000N-of-0000M.safetensors + model.safetensors.index.json
 *   trainer.json             step, seed, data, batch, seq and the optimizer recipe (to resume)
 *   optimizer.safetensors    optimizer buffers, when the optimizer has any (AdamW's moments, a loss scale)
 * </pre>
 * The directory is written beside its final name and renamed into place, so a crash leaves either the
 * previous checkpoint or the new one, never a mix.
 */
public final class Checkpoint {
    public static final String CONFIG = "config.json";
    public static final String TRAINER = "trainer.json";
    public static final String OPTIMIZER = "optimizer.safetensors";
    private static final java.util.regex.Pattern STEP_DIR = java.util.regex.Pattern.compile("step-(\\d+)");

    private Checkpoint() {}

    /** Saves with the weights in their stored dtype, in HF's default shards. */
    public static void save(Path dir, LlamaModel model, Optimizer optimizer, TrainState state) throws IOException {
        save(dir, model, optimizer, state, Map.of(), Map.of(), new ModelWeights.Format(storedDtype(model.parameters().dtype()),
                ModelWeights.Format.DEFAULT.maxShardBytes()));
    }

    /** The file dtype that holds {@code dtype}'s weights exactly. */
    public static Safetensors.Dtype storedDtype(ParamDtype dtype) {
        return switch (dtype) {
            case F32 -> Safetensors.Dtype.F32;
            case BF16 -> Safetensors.Dtype.BF16;
            case F16 -> Safetensors.Dtype.F16;
        };
    }

    /**
     * Also writes {@code companions} (a tokenizer's files: name → content), and {@code configIds} (such as
     * {@code bos_token_id}, {@code eos_token_id}) into config.json, before the directory is swapped into place.
     * The weights take {@code format}'s dtype and shard limit; the optimizer's state is always F32.
     */
    public static void save(Path dir, LlamaModel model, Optimizer optimizer, TrainState state, Map<String, byte[]> companions,
                            Map<String, Integer> configIds, ModelWeights.Format format) throws IOException {
        Tensor bad = model.parameters().firstNonFinite();
        if (bad != null) {
            throw new NonFiniteWeightsException(dir + ": not written: '" + bad.name() + "' holds NaN or infinite values", bad.name());
        }
        Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp");
        deleteRecursively(tmp);
        try {
            writeFiles(tmp, model, optimizer, state, companions, configIds, format);
        } catch (IOException | RuntimeException e) {
            // A full disk: give the space back, and leave the previous checkpoint as the newest.
            try {
                deleteRecursively(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        if (Files.exists(dir)) {
            Path old = dir.resolveSibling(dir.getFileName() + ".old");
            deleteRecursively(old);
            Files.move(dir, old);
            Files.move(tmp, dir);
            deleteRecursively(old);
        } else {
            Files.move(tmp, dir);
        }
    }

    private static void writeFiles(Path tmp, LlamaModel model, Optimizer optimizer, TrainState state, Map<String, byte[]> companions,
                                   Map<String, Integer> configIds, ModelWeights.Format format) throws IOException {
        Files.createDirectories(tmp);
        for (Map.Entry<String, byte[]> f : companions.entrySet()) {
            AtomicFiles.write(tmp.resolve(f.getKey()), out -> out.write(f.getValue()));
        }
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        var config = model.config().toJson();
        configIds.forEach(config::put);
        config.put("torch_dtype", format.dtype().torchName);
        AtomicFiles.writeString(tmp.resolve(CONFIG), json.writeValueAsString(config));
        Map<String, Safetensors.Slice> weights = new LinkedHashMap<>();
        Parameters p = model.parameters();
        for (Tensor t : model.layout().tensors()) {
            weights.put(t.name(), p.dtype().half() ? new Safetensors.Slice(p.halves(t), p.dtype().halfFormat, t.offset(), t.shape())
                    : new Safetensors.Slice(p.floats(t), t.offset(), t.shape()));
        }
        ModelWeights.write(tmp, weights, format);
        Map<String, float[]> optState = optimizer.state();
        if (!optState.isEmpty()) {
            Map<String, Safetensors.Slice> slices = new LinkedHashMap<>();
            optState.forEach((name, buf) -> slices.put(name, new Safetensors.Slice(buf, 0, new int[] {buf.length})));
            Safetensors.write(tmp.resolve(OPTIMIZER), slices, Map.of());
        }
        AtomicFiles.writeString(tmp.resolve(TRAINER), json.writeValueAsString(state.toJson()));
    }

    /** {@link #loadModel(Path, ParamDtype, long, Parallel, MemoryLedger)} with fp32 weights. */
    public static LlamaModel loadModel(Path path, long seed, Parallel par, MemoryLedger ledger) {
        return loadModel(path, ParamDtype.F32, seed, par, ledger);
    }

    /**
     * A model from a {@code config.json} (fresh weights from {@code seed}) or from a checkpoint directory
     * (its config and weights), its weights stored as {@code dtype}: each tensor is converted as it is read,
     * so a bf16 checkpoint loads into bf16 weights without an fp32 copy.
     */
    public static LlamaModel loadModel(Path path, ParamDtype dtype, long seed, Parallel par, MemoryLedger ledger) {
        LlamaConfig cfg = loadConfig(path);
        path = newest(path);
        if (Files.isRegularFile(path)) return LlamaModel.initialize(cfg, dtype, seed, par, ledger);
        ModelWeights weights = ModelWeights.open(path);
        ParameterLayout layout = new ParameterLayout(cfg);
        for (String name : weights.names()) {
            boolean tiedHead = layout.tied() && name.equals("lm_head.weight");
            // Older HF checkpoints saved RoPE's inverse frequencies as buffers; lomo4j computes its own.
            boolean ropeBuffer = name.endsWith(".rotary_emb.inv_freq");
            if (layout.get(name) == null && !tiedHead && !ropeBuffer) {
                throw new CheckpointException(weights.file(name) + ": unexpected tensor '" + name + "' for a "
                        + cfg.modelType() + " model of this config");
            }
        }
        Parameters p = Parameters.allocate(layout, dtype, ledger);
        for (Tensor t : layout.tensors()) {
            if (dtype.half()) weights.read(t.name(), t.shape(), p.halves(t), t.offset(), dtype.halfFormat);
            else weights.read(t.name(), t.shape(), p.floats(t), t.offset());
        }
        Tensor bad = p.firstNonFinite();
        if (bad != null) {
            throw new CheckpointException(weights.file(bad.name()) + ": tensor '" + bad.name()
                    + "' holds NaN or infinite values: the run that wrote it diverged; use an earlier checkpoint");
        }
        return new LlamaModel(cfg, p, par, ledger);
    }

    /** The config of a {@code config.json} or of a checkpoint directory, without reading any weights. */
    public static LlamaConfig loadConfig(Path path) {
        path = newest(path);
        if (Files.isRegularFile(path)) return LlamaConfig.load(path);
        if (!Files.isDirectory(path)) {
            throw new IllegalArgumentException("--model " + path + ": no such config file or checkpoint directory");
        }
        Path configFile = path.resolve(CONFIG);
        if (!Files.isRegularFile(configFile)) throw new CheckpointException(path + ": no " + CONFIG);
        return LlamaConfig.load(configFile);
    }

    public static boolean isCheckpoint(Path dir) {
        return Files.isRegularFile(dir.resolve(TRAINER));
    }

    public static TrainState loadTrainState(Path dir) {
        dir = newest(dir);
        Path file = dir.resolve(TRAINER);
        try {
            return TrainState.fromJson(new ObjectMapper().readTree(file.toFile()), file.toString());
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read: " + e.getMessage());
        }
    }

    /** Restores the optimizer's buffers saved beside the weights. */
    public static void loadOptimizerState(Path dir, Optimizer optimizer) {
        Map<String, float[]> state = optimizer.state();
        if (state.isEmpty()) return;
        dir = newest(dir);
        Path file = dir.resolve(OPTIMIZER);
        if (!Files.isRegularFile(file)) throw new CheckpointException(dir + ": no " + OPTIMIZER + " for the optimizer's state");
        Safetensors st = Safetensors.open(file);
        state.forEach((name, buf) -> st.read(name, new int[] {buf.length}, buf, 0));
    }

    public static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    /** The {@code step-N} checkpoint directories under {@code out}, by step number (so step-1000000 follows step-999999). */
    public static List<Path> steps(Path out) {
        if (!Files.isDirectory(out)) return List.of();
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> stepOf(p) >= 0 && Files.isDirectory(p)).sorted(Comparator.comparingLong(Checkpoint::stepOf)).toList();
        } catch (IOException e) {
            throw new CheckpointException(out + ": cannot list checkpoints: " + e.getMessage());
        }
    }

    /** N for a directory named {@code step-N}, else -1. */
    public static long stepOf(Path dir) {
        Path name = dir.getFileName();
        if (name == null) return -1;
        var m = STEP_DIR.matcher(name.toString());
        return m.matches() && m.group(1).length() < 19 ? Long.parseLong(m.group(1)) : -1;
    }

    /** The directory name of step {@code step}'s checkpoint (six digits, more when needed). */
    public static String stepName(int step) {
        return String.format(java.util.Locale.ROOT, "step-%06d", step);
    }

    /**
     * A run's output directory stands for its newest checkpoint by step number: {@code runs/last} →
     * {@code runs/last/step-000400}. Any other path is returned as is.
     */
    public static Path newest(Path path) {
        if (!Files.isDirectory(path) || Files.exists(path.resolve(CONFIG))) return path;
        List<Path> steps = steps(path);
        return steps.isEmpty() ? path : steps.get(steps.size() - 1);
    }
}
