package org.lomo4j.data;

import org.lomo4j.model.Batch;
import org.lomo4j.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** A {@link SyntheticTask}: training examples from (seed, step), a fixed evaluation set from its own stream. */
public final class SyntheticSource implements DataSource {
    private static final int EVAL_EXAMPLES = 256;
    private static final long EVAL_STREAM = 0xE7A1L;

    private final SyntheticTask task;
    private final Tokenizer tok;

    public SyntheticSource(SyntheticTask task, Tokenizer tok) {
        this.task = task;
        this.tok = tok;
    }

    public SyntheticTask task() {
        return task;
    }

    @Override
    public Batch trainBatch(long seed, int step, int batchSize, int seqLen) {
        SplittableRandom rng = new SplittableRandom(DataSource.mix(seed, step, 0));
        List<Example> ex = new ArrayList<>(batchSize);
        for (int i = 0; i < batchSize; i++) ex.add(task.example(rng, tok));
        return Batches.pack(ex, seqLen, tok);
    }

    @Override
    public List<Example> evalExamples() {
        SplittableRandom rng = new SplittableRandom(DataSource.mix(0, 0, EVAL_STREAM));
        List<Example> ex = new ArrayList<>(EVAL_EXAMPLES);
        for (int i = 0; i < EVAL_EXAMPLES; i++) ex.add(task.example(rng, tok));
        return ex;
    }

    @Override
    public List<Batch> evalBatches(int batchSize, int seqLen) {
        List<Example> ex = evalExamples();
        List<Batch> out = new ArrayList<>();
        for (int i = 0; i < ex.size(); i += batchSize) out.add(Batches.pack(ex.subList(i, Math.min(ex.size(), i + batchSize)), seqLen, tok));
        return out;
    }

    @Override
    public String describe() {
        return "synthetic:" + task.id() + " (" + task.description() + ")";
    }
}
