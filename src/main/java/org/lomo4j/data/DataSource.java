package org.lomo4j.data;

import org.lomo4j.model.Batch;
import org.lomo4j.tokenizer.Tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Training and evaluation data. A training batch is a pure function of (seed, step), so a resumed run
 * sees exactly the batches it would have seen without the interruption.
 */
public interface DataSource {

    Batch trainBatch(long seed, int step, int batchSize, int seqLen);

    /** Held-out examples for exact-match accuracy; empty where the data has no prompt/response split. */
    List<Example> evalExamples();

    /** Held-out batches for loss and perplexity. */
    List<Batch> evalBatches(int batchSize, int seqLen);

    String describe();

    /** {@code synthetic:NAME}, a {@code .jsonl} file of prompt/response lines, or any other file as plain text. */
    static DataSource open(String spec, Tokenizer tok, boolean skipBadLines) {
        return open(spec, tok, PromptTemplate.NONE, skipBadLines);
    }

    /** As {@link #open(String, Tokenizer, boolean)}, with JSONL prompts wrapped in {@code template}. */
    static DataSource open(String spec, Tokenizer tok, PromptTemplate template, boolean skipBadLines) {
        if (spec.startsWith("synthetic:")) {
            return new SyntheticSource(SyntheticTask.parse(spec.substring("synthetic:".length())), tok);
        }
        Path path = Path.of(spec);
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("--data " + spec + ": no such file (or use synthetic:NAME)");
        }
        return spec.endsWith(".jsonl") ? JsonlSource.read(path, tok, template, skipBadLines) : TextSource.read(path, tok);
    }

    /** A seed for (seed, step, stream) that decorrelates neighbouring steps. */
    static long mix(long seed, long step, long stream) {
        long z = seed * 0x9E3779B97F4A7C15L + step * 0xBF58476D1CE4E5B9L + stream * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
