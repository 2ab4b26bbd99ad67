package org.lomo4j.data;

import org.lomo4j.model.Batch;
import org.lomo4j.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Language modelling over a plain text file: windows of T + 1 tokens at random offsets of the first 90%,
 * every position predicting the next token; the last 10% is held out for evaluation.
 */
public final class TextSource implements DataSource {
    private final Path path;
    private final int[] tokens;
    private final int split;

    private TextSource(Path path, int[] tokens) {
        this(path, tokens, tokens.length - tokens.length / 10);
    }

    private TextSource(Path path, int[] tokens, int split) {
        this.path = path;
        this.tokens = tokens;
        this.split = split;
    }

    @Override
    public DataSource trainingOnAll() {
        return new TextSource(path, tokens, tokens.length);
    }

    @Override
    public DataSource evaluationOnAll() {
        return new TextSource(path, tokens, 0);
    }

    public static TextSource read(Path path, Tokenizer tok) {
        return read(path, tok, 0);
    }

    /** The file's text, tokenized; with {@code seqLen > 0}, it must hold a training window of that many tokens. */
    public static TextSource read(Path path, Tokenizer tok, int seqLen) {
        TextSource source = new TextSource(path, tok.encode(Utf8.read(path)));
        if (seqLen > 0) source.requireTrainingWindow(seqLen);
        return source;
    }

    private void requireTrainingWindow(int seqLen) {
        if (split < seqLen + 1) {
            throw new IllegalArgumentException(path + ": " + tokens.length + " tokens is too little text for --seq " + seqLen
                    + " (its first 90% must hold one window of " + (seqLen + 1) + " tokens)");
        }
    }

    @Override
    public void requireHeldOut(int seqLen) {
        if (tokens.length - split < seqLen + 1) {
            throw new IllegalArgumentException(path + ": the held-out last 10% (" + (tokens.length - split) + " tokens) is shorter than one "
                    + "window of --seq " + seqLen + " + 1 tokens; use more text, a smaller --seq, or train with --no-eval");
        }
    }

    @Override
    public Batch trainBatch(long seed, int step, int batchSize, int seqLen) {
        if (split < seqLen + 1) {
            throw new IllegalArgumentException(path + ": " + tokens.length + " tokens is too little text for --seq " + seqLen);
        }
        SplittableRandom rng = new SplittableRandom(DataSource.mix(seed, step, 0));
        int[] offsets = new int[batchSize];
        for (int i = 0; i < batchSize; i++) offsets[i] = rng.nextInt(split - seqLen);
        return windows(offsets, batchSize, seqLen);
    }

    @Override
    public List<Example> evalExamples() {
        return List.of();
    }

    @Override
    public List<Batch> evalBatches(int batchSize, int seqLen) {
        List<Batch> out = new ArrayList<>();
        int[] offsets = new int[batchSize];
        int filled = 0;
        for (int off = split; off + seqLen + 1 <= tokens.length; off += seqLen) {
            offsets[filled++] = off;
            if (filled == batchSize) {
                out.add(windows(offsets, batchSize, seqLen));
                filled = 0;
            }
        }
        if (filled > 0) out.add(windows(offsets, filled, seqLen));
        return out;
    }

    private Batch windows(int[] offsets, int batchSize, int seqLen) {
        int[] in = new int[batchSize * seqLen];
        int[] tg = new int[batchSize * seqLen];
        for (int b = 0; b < batchSize; b++) {
            System.arraycopy(tokens, offsets[b], in, b * seqLen, seqLen);
            System.arraycopy(tokens, offsets[b] + 1, tg, b * seqLen, seqLen);
        }
        return new Batch(in, tg, batchSize, seqLen);
    }

    @Override
    public String describe() {
        String held = split == tokens.length ? "none held out" : split == 0 ? "all for evaluation" : "last 10% held out";
        return path + " (text, " + tokens.length + " tokens, " + held + ")";
    }
}
