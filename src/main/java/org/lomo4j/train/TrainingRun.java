package org.lomo4j.train;

import org.lomo4j.data.DataSource;
import org.lomo4j.checkpoint.NonFiniteWeightsException;
import org.lomo4j.generate.Evaluator;
import org.lomo4j.memory.MemoryTimeline;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.DivergedException;
import org.lomo4j.optim.Optimizer;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * One session of a training run, from its first step to its last: evaluation before, each step's line in
 * metrics.csv as it ends, checkpoints every so many steps or minutes, the final checkpoint, evaluation after.
 * Whatever stops it (the last step, Ctrl-C, a NaN loss, a full disk, running out of memory) it ends with the
 * newest whole checkpoint on disk and an {@link Outcome} that says which; a checkpoint is written only from
 * weights that are a finished step's and finite.
 */
public final class TrainingRun {

    /** When to save: every {@code everySteps} steps and every {@code everyMinutes} minutes (0: never), keeping the newest {@code keep}. */
    public record Schedule(int everySteps, double everyMinutes, int keep) {}

    /** Writes the model and optimizer, as they are after the optimizer's step count, into a checkpoint directory. */
    @FunctionalInterface
    public interface Saver {
        void save(Path checkpointDir) throws IOException;
    }

    public enum Status { COMPLETED, INTERRUPTED, FAILED }

    /** Evaluation: on {@code data} (held-out or a separate set) before and after, and every {@code every} steps (0: never). */
    public record Evaluation(Evaluator evaluator, DataSource data, int every) {}

    /** An evaluation during training, after {@code step} steps. */
    public record EvalPoint(int step, Evaluator.Result result) {}

    /**
     * How the session ended. {@code checkpoint} is the newest whole checkpoint on disk (null if none);
     * {@code failure} says what went wrong in one sentence (null unless FAILED); {@code diverged} when that was
     * a non-finite loss or non-finite weights, which resuming would only repeat.
     */
    public record Outcome(Status status, int step, Path checkpoint, String failure, boolean diverged, List<Trainer.StepRecord> steps,
                          Evaluator.Result before, Evaluator.Result after, List<EvalPoint> evals, List<MemoryTimeline.Point> timeline) {}

    private final LlamaModel model;
    private final Optimizer optimizer;
    private final DataSource data;
    private final RunDirectory dir;
    private final Saver saver;
    private final Schedule schedule;
    private final Evaluation evaluation;  // null: no evaluation
    private final PrintStream log;
    private boolean recordTimeline;

    public TrainingRun(LlamaModel model, Optimizer optimizer, DataSource data, RunDirectory dir, Saver saver, Schedule schedule,
                       Evaluation evaluation, PrintStream log) {
        this.model = model;
        this.optimizer = optimizer;
        this.data = data;
        this.dir = dir;
        this.saver = saver;
        this.schedule = schedule;
        this.evaluation = evaluation;
        this.log = log;
    }

    /** Records the live bytes of the session's first step ({@link MemoryTimeline}) into the outcome. */
    public TrainingRun withMemoryTimeline() {
        recordTimeline = true;
        return this;
    }

    /**
     * Trains to {@code totalSteps} (or until {@code stop}), continuing {@code history} (the steps before this
     * session, already in metrics.csv's new start), with {@code seed}'s batches of {@code batch × seq}.
     */
    public Outcome run(int totalSteps, long seed, int batch, int seq, List<Trainer.StepRecord> history, Trainer.Listener progress,
                       BooleanSupplier stop) {
        List<Trainer.StepRecord> steps = new ArrayList<>(history);
        List<EvalPoint> evals = new ArrayList<>();
        List<MemoryTimeline.Point> timeline = new ArrayList<>();
        boolean[] recording = {false};
        Evaluator.Result before = null, after = null;
        String failure = null;
        boolean diverged = false;
        boolean saveable = true;  // the model holds a finished step's weights
        boolean[] inStep = {false};
        long[] lastSave = {System.nanoTime()};
        try {
            dir.startMetrics(history);
            if (evaluation != null) {
                before = evaluation.evaluator().evaluate(evaluation.data(), batch, seq);
                log.println("before   " + Evaluator.describe(before));
            }
            new Trainer(optimizer, data, seed, batch, seq).run(totalSteps, new Trainer.Listener() {
                @Override
                public void beforeStep(int step) {
                    inStep[0] = true;
                    if (recordTimeline && timeline.isEmpty() && !recording[0]) {
                        model.ledger().startTimeline();
                        recording[0] = true;
                    }
                }

                @Override
                public void onStep(Trainer.StepRecord r, int total) {
                    inStep[0] = false;
                    if (recording[0]) {
                        model.ledger().mark("step done");
                        timeline.addAll(model.ledger().stopTimeline().points());
                        recording[0] = false;
                    }
                    steps.add(r);
                    dir.append(r);
                    progress.onStep(r, total);
                    boolean last = r.step() + 1 >= total;
                    boolean byStep = schedule.everySteps() > 0 && (r.step() + 1) % schedule.everySteps() == 0;
                    boolean byTime = schedule.everyMinutes() > 0 && System.nanoTime() - lastSave[0] > schedule.everyMinutes() * 60e9;
                    if (!last && (byStep || byTime)) {
                        save();
                        lastSave[0] = System.nanoTime();
                    }
                    if (!last && evaluation != null && evaluation.every() > 0 && (r.step() + 1) % evaluation.every() == 0) {
                        optimizer.syncToHost();  // a device backend's weights are newer than the model's array
                        Evaluator.Result e = evaluation.evaluator().evaluate(evaluation.data(), batch, seq);
                        evals.add(new EvalPoint(r.step() + 1, e));
                        progress.pause();
                        log.printf("eval     step %d: %s%n", r.step() + 1, Evaluator.describe(e));
                    }
                }
            }, stop);
        } catch (DivergedException e) {
            // Checked before backward: the weights are the previous step's, untouched.
            diverged = true;
            failure = e.getMessage();
        } catch (UncheckedIOException e) {
            failure = e.getMessage() + " (" + RunDirectory.reason(e.getCause()) + ")";
            saveable = false;  // the disk that just failed would fail again
        } catch (IOException e) {
            failure = "cannot write " + dir.path().resolve(RunDirectory.METRICS) + " (" + RunDirectory.reason(e) + ")";
            saveable = false;
        } catch (NonFiniteWeights e) {
            diverged = true;
            failure = e.getMessage();
            saveable = false;
        } catch (OutOfMemoryError e) {
            failure = "out of memory (" + e.getMessage() + ")";
            saveable = !inStep[0];
        } catch (RuntimeException e) {
            failure = e.getMessage() != null ? e.getMessage() : e.toString();
            saveable = !inStep[0];
        }
        if (failure != null && !saveable && inStep[0]) failure += "; the step in progress had changed part of the weights, which are not saved";

        Status status = failure != null ? Status.FAILED : optimizer.stepCount() < totalSteps ? Status.INTERRUPTED : Status.COMPLETED;
        if (saveable && steps.size() > history.size()) {
            try {
                saveFinal();
            } catch (IOException | RuntimeException e) {
                diverged |= e instanceof NonFiniteWeights;
                String why = e instanceof IOException io ? RunDirectory.reason(io) : e.getMessage();
                failure = (failure == null ? "" : failure + "; ") + "the last checkpoint was not written: " + why;
                status = Status.FAILED;
            }
        }
        if (status == Status.COMPLETED && evaluation != null) {
            try {
                after = evaluation.evaluator().evaluate(evaluation.data(), batch, seq);
                log.println("after    " + Evaluator.describe(after));
            } catch (RuntimeException | OutOfMemoryError e) {
                failure = "evaluation after training failed (" + e.getMessage() + "); the checkpoint is saved";
                status = Status.FAILED;
            }
        }
        List<Path> saved = dir.checkpoints();
        Path newest = saved.isEmpty() ? null : saved.get(saved.size() - 1);
        if (recording[0]) model.ledger().stopTimeline();
        return new Outcome(status, optimizer.stepCount(), newest, failure, diverged, steps, before, after, evals, timeline);
    }

    /** Saves the current step's checkpoint unless it is on disk already, and only from finite weights. */
    private void saveFinal() throws IOException {
        optimizer.syncToHost();
        Path target = dir.checkpoint(optimizer.stepCount());
        List<Path> saved = dir.checkpoints();
        if (!saved.isEmpty() && saved.get(saved.size() - 1).equals(target)) return;
        write(target);
    }

    private void save() {
        optimizer.syncToHost();
        Path target = dir.checkpoint(optimizer.stepCount());
        try {
            write(target);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target, e);
        }
    }

    /** Saves (the checkpoint refuses weights that are not finite, before it writes anything) and prunes. */
    private void write(Path target) throws IOException {
        try {
            saver.save(target);
        } catch (NonFiniteWeightsException e) {
            throw new NonFiniteWeights("the weights after step " + optimizer.stepCount() + " are not finite ('" + e.tensor()
                    + "' holds NaN or infinite values), so they are not saved");
        }
        dir.prune(schedule.keep());
    }

    private static final class NonFiniteWeights extends RuntimeException {
        NonFiniteWeights(String message) {
            super(message);
        }
    }
}
