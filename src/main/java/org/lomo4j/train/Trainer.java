package org.lomo4j.train;

import org.lomo4j.data.DataSource;
import org.lomo4j.model.Batch;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.StepResult;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/** The training loop: batch for the step, optimizer step, timing; the caller decides what to print and save. */
public final class Trainer {

    /** One step as it happened. */
    public record StepRecord(int step, float loss, double gradNorm, double lr, double millis, int tokens) {
        public double tokensPerSecond() {
            return tokens / (millis / 1000.0);
        }
    }

    public interface Listener {
        void onStep(StepRecord record, int totalSteps);

        /** Called when the optimizer starts on step {@code step}: from here until {@link #onStep}, the weights are in flux. */
        default void beforeStep(int step) {}

        /** Another line is about to be printed: a progress bar ends its line first. */
        default void pause() {}
    }

    private final Optimizer optimizer;
    private final DataSource data;
    private final long seed;
    private final int batchSize;
    private final int seqLen;

    public Trainer(Optimizer optimizer, DataSource data, long seed, int batchSize, int seqLen) {
        this.optimizer = optimizer;
        this.data = data;
        this.seed = seed;
        this.batchSize = batchSize;
        this.seqLen = seqLen;
    }

    /** Runs from the optimizer's current step to {@code totalSteps}, or until {@code stop} says so. */
    public List<StepRecord> run(int totalSteps, Listener listener, BooleanSupplier stop) {
        List<StepRecord> records = new ArrayList<>();
        while (optimizer.stepCount() < totalSteps && !stop.getAsBoolean()) {
            int step = optimizer.stepCount();
            Batch batch = data.trainBatch(seed, step, batchSize, seqLen);
            listener.beforeStep(step);
            long t0 = System.nanoTime();
            StepResult r = optimizer.step(batch);
            double ms = (System.nanoTime() - t0) / 1e6;
            if (!Float.isFinite(r.loss())) {
                throw new IllegalStateException("loss became " + r.loss() + " at step " + step
                        + "; try a lower --lr or --clip-norm");
            }
            StepRecord rec = new StepRecord(step, r.loss(), r.gradNorm(), r.lr(), ms, batch.size());
            records.add(rec);
            listener.onStep(rec, totalSteps);
        }
        return records;
    }
}
