package org.lomo4j.cli;

import picocli.CommandLine.Option;

/** The batch shape, shared by train and eval. */
final class BatchOptions {
    static final int DEFAULT_BATCH = 32, DEFAULT_SEQ = 16;

    @Option(names = "--batch", description = "Sequences per batch. Default: 32, or a checkpoint's (eval)")
    Integer batch;

    @Option(names = "--seq", description = "Tokens per sequence. Default: 16, or a checkpoint's (eval)")
    Integer seq;

    int batch() {
        return batch != null ? batch : DEFAULT_BATCH;
    }

    int seq() {
        return seq != null ? seq : DEFAULT_SEQ;
    }

    void validate() {
        if (batch() < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + batch());
        if (seq() < 2) throw new IllegalArgumentException("--seq must be at least 2, got " + seq());
        if ((long) batch() * seq() > Integer.MAX_VALUE / 16) {
            throw new IllegalArgumentException("--batch " + batch() + " x --seq " + seq() + " tokens is more than one batch can hold");
        }
    }
}
