package org.lomo4j.cli;

import org.lomo4j.checkpoint.Checkpoint;
import org.lomo4j.checkpoint.TrainState;
import org.lomo4j.data.PromptTemplate;
import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaModel;
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

    @Option(names = "--seed", defaultValue = "1234", description = "Seed for weights, data order and sampling. Default: ${DEFAULT-VALUE}")
    long seed;

    Parallel parallel() {
        return threads == null ? Parallel.allCores() : new Parallel(threads);
    }

    LlamaModel load(Parallel par, MemoryLedger ledger) {
        return Checkpoint.loadModel(model, seed, par, ledger);
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
        if (flag != null) return PromptTemplate.parse(flag);
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
