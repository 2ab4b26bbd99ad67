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

    /**
     * Fails, naming the data, when there is nothing held out to evaluate on at {@code seqLen}: a loss over no
     * tokens is NaN, not a result.
     */
    default void requireHeldOut(int seqLen) {}

    /** This data with nothing held out (another file is evaluated on): every example or token is trained on. */
    default DataSource trainingOnAll() {
        return this;
    }

    /** This data as an evaluation set: every example or token held out. */
    default DataSource evaluationOnAll() {
        return this;
    }

    /** {@code synthetic:NAME}, a JSON Lines file of prompt/response objects, or any other file as plain text. */
    static DataSource open(String spec, Tokenizer tok, boolean skipBadLines) {
        return open(spec, tok, PromptTemplate.NONE, skipBadLines, 0);
    }

    /**
     * As {@link #open(String, Tokenizer, boolean)}, with prompts wrapped in {@code template}, and every example checked
     * to fit sequences of {@code seqLen} tokens (when positive), so that no step fails on one later. JSON Lines are
     * recognized by content (a first line that is a JSON object) whatever the file's extension.
     */
    static DataSource open(String spec, Tokenizer tok, PromptTemplate template, boolean skipBadLines, int seqLen) {
        if (spec.startsWith("synthetic:")) {
            SyntheticSource source = new SyntheticSource(SyntheticTask.parse(spec.substring("synthetic:".length())), tok);
            int needs = source.task().minSeq(tok);
            if (seqLen > 0 && needs > seqLen) {
                throw new IllegalArgumentException("--data " + spec + ": its longest examples need --seq " + needs + ", got --seq " + seqLen);
            }
            return source;
        }
        Path path = Path.of(spec);
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("--data " + spec + ": no such file (or use synthetic:NAME)");
        }
        return JsonlSource.isJsonl(path) ? JsonlSource.read(path, tok, template, skipBadLines, seqLen) : TextSource.read(path, tok, seqLen);
    }

    /**
     * A separate evaluation set ({@code --eval-data}): as {@link #open(String, Tokenizer, PromptTemplate, boolean, int)},
     * with every example or token held out.
     */
    static DataSource openForEvaluation(String spec, Tokenizer tok, PromptTemplate template, boolean skipBadLines, int seqLen) {
        if (spec.startsWith("synthetic:")) return open(spec, tok, template, skipBadLines, seqLen);
        Path path = Path.of(spec);
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("--eval-data " + spec + ": no such file");
        }
        DataSource source = JsonlSource.isJsonl(path) ? JsonlSource.read(path, tok, template, skipBadLines, seqLen) : TextSource.read(path, tok, 0);
        return source.evaluationOnAll();
    }

    /** A seed for (seed, step, stream) that decorrelates neighbouring steps. */
    static long mix(long seed, long step, long stream) {
        long z = seed * 0x9E3779B97F4A7C15L + step * 0xBF58476D1CE4E5B9L + stream * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
