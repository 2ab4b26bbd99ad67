package org.lomo4j.cli;

import org.lomo4j.backend.Backend;
import org.lomo4j.checkpoint.Checkpoint;
import org.lomo4j.kernels.simd.Simd;
import org.lomo4j.checkpoint.TrainState;
import org.lomo4j.data.PromptTemplate;
import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.parallel.Parallel;
import org.lomo4j.tokenizer.Tokenizer;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/** Options shared by every command: which model, how many threads. */
final class ModelOptions {
    static final String DEFAULT_MODEL = "models/tiny-1m/config.json";

    @Option(names = "--model", paramLabel = "<config.json|checkpoint dir>", defaultValue = DEFAULT_MODEL,
            description = "A Hugging Face config.json (fresh weights from --seed) or a checkpoint directory. Default: ${DEFAULT-VALUE}")
    Path model;

    @Option(names = "--threads", description = "Worker threads (default: all cores)")
    Integer threads;

    @Option(names = "--backend", defaultValue = "jvm",
            description = "jvm (all cores, Vector API) or tornado (TornadoVM devices; needs TornadoVM, see README). Default: ${DEFAULT-VALUE}")
    String backend;

    @Option(names = "--device", defaultValue = "0", description = "--backend tornado: the device, as 'tornado --devices' numbers them. Default: ${DEFAULT-VALUE}")
    int device;

    @Option(names = "--param-dtype", paramLabel = "f32|bf16|f16",
            description = "Store the weights as f32, bf16 or f16 (half the memory; computation is fp32 either way). Default: the checkpoint's, else f32")
    String paramDtype;

    @Option(names = "--seed", defaultValue = "1234", description = "Seed for weights, data order and sampling. Default: ${DEFAULT-VALUE}")
    long seed;

    Parallel parallel() {
        return threads == null ? Parallel.allCores() : new Parallel(threads);
    }

    /** The device backend asked for, or null for the JVM's own. */
    Backend deviceBackend() {
        if (backend.equals("jvm")) return null;
        if (paramDtype() == ParamDtype.F16) {
            throw new IllegalArgumentException("--backend " + backend + " keeps 16-bit weights as bf16 (float16's loss scaling is on "
                    + "the JVM backend); run it with --param-dtype bf16 or f32");
        }
        return Backend.named(backend);
    }

    /** {@code --param-dtype} as given, else the dtype the checkpoint was trained in, else f32. */
    ParamDtype paramDtype() {
        if (paramDtype != null) return ParamDtype.parse(paramDtype, "--param-dtype");
        TrainState st = trainState();
        return st == null ? ParamDtype.F32 : st.paramDtype();
    }

    /** What runs the kernels, for the log's {@code kernels} line. */
    String describeKernels(Backend device) {
        if (device == null) return "JVM backend, " + Simd.describe();
        java.util.List<String> devices = device.devices();
        if (this.device < 0 || this.device >= devices.size()) {
            throw new IllegalArgumentException("--device " + this.device + ": " + devices.size() + " device(s): " + devices);
        }
        return device.name() + " backend, device " + this.device + " of " + devices.size() + ": " + devices.get(this.device);
    }

    /** What a device backend cannot run yet: fails naming the flag. */
    static void requireDeviceSupport(Backend device, org.lomo4j.model.LlamaConfig cfg) {
        if (device != null && cfg.qkNorm()) {
            throw new IllegalArgumentException("--backend " + device.name() + ": Qwen3's per-head q/k norms have no device kernels yet; "
                    + "use --backend jvm");
        }
    }

    /** A device forward for sequences up to {@code maxSeq} tokens under {@code --backend tornado}, or null on the JVM. */
    Backend.Forward forward(LlamaModel model, int maxSeq) {
        Backend b = deviceBackend();
        if (b == null) return null;
        requireDeviceSupport(b, model.config());
        System.out.println("kernels  " + describeKernels(b));
        return b.forward(model, device, Math.min(maxSeq, model.config().maxPositionEmbeddings()));
    }

    LlamaModel load(Parallel par, MemoryLedger ledger) {
        return Checkpoint.loadModel(model, paramDtype(), seed, par, ledger);
    }

    /** The directory holding the model's files: the newest checkpoint of a run, or a config file's folder. */
    Path directory() {
        Path p = Checkpoint.newest(model);
        return Files.isDirectory(p) ? p : p.toAbsolutePath().getParent();
    }

    /** The model directory's own tokenizer ({@code tokenizer.json}) where it has one, else the built-in byte tokenizer. */
    Tokenizer tokenizer() {
        Path dir = directory();
        return Files.isRegularFile(dir.resolve("tokenizer.json")) ? Tokenizer.forModelDirectory(dir) : new ByteTokenizer();
    }

    /**
     * The tokenizer's files in the model directory (name → content), which checkpoints carry along. Read
     * once, up front: the directory may be an older checkpoint of this run that pruning removes.
     */
    Map<String, byte[]> tokenizerFiles() {
        Path dir = directory();
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (String name : Tokenizer.FILES) {
            Path f = dir.resolve(name);
            if (!Files.isRegularFile(f)) continue;
            try {
                files.put(name, Files.readAllBytes(f));
            } catch (IOException e) {
                throw new IllegalArgumentException(f + ": cannot read: " + e.getMessage());
            }
        }
        return files;
    }

    /** The checkpoint's training recipe, or null for a config file or a directory not written by train. */
    TrainState trainState() {
        return Checkpoint.isCheckpoint(Checkpoint.newest(model)) ? Checkpoint.loadTrainState(model) : null;
    }

    /** {@code --template} as given, else the one the checkpoint was trained with, else none. */
    PromptTemplate template(String flag) {
        if (flag != null) return PromptTemplate.parse(flag, directory());
        TrainState st = trainState();
        return st == null ? PromptTemplate.NONE : st.template();
    }

    /** The model must have an embedding row for every id the tokenizer can produce. */
    static void checkVocab(LlamaModel model, Tokenizer tok) {
        if (model.config().vocabSize() < tok.vocabSize()) {
            throw new IllegalArgumentException("--model: vocab_size " + model.config().vocabSize()
                    + " is smaller than the tokenizer's " + tok.vocabSize() + " ids");
        }
    }
}
