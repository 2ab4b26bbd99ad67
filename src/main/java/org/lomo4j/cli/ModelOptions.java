package org.lomo4j.cli;

import org.lomo4j.checkpoint.Checkpoint;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.parallel.Parallel;
import picocli.CommandLine.Option;

import java.nio.file.Path;

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
}
