package org.lomo4j.cli;

import picocli.CommandLine.Option;

/** The batch shape, shared by train and eval. */
final class BatchOptions {
    @Option(names = "--batch", defaultValue = "32", description = "Sequences per batch. Default: ${DEFAULT-VALUE}")
    int batch;

    @Option(names = "--seq", defaultValue = "16", description = "Tokens per sequence. Default: ${DEFAULT-VALUE}")
    int seq;

    void validate() {
        if (batch < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
        if (seq < 2) throw new IllegalArgumentException("--seq must be at least 2, got " + seq);
    }
}
