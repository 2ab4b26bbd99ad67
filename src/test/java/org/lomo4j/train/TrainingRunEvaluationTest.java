package org.lomo4j.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lomo4j.checkpoint.Checkpoint;
import org.lomo4j.checkpoint.TrainState;
import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.data.SyntheticSource;
import org.lomo4j.data.SyntheticTask;
import org.lomo4j.generate.Evaluator;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.optim.StepResult;
import org.lomo4j.parallel.Parallel;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** Evaluation during a run sees the weights of the step it follows, also when a device holds them. */
class TrainingRunEvaluationTest {
    private static final LlamaConfig CFG = new LlamaConfig(16, 24, 2, 2, 1, ByteTokenizer.VOCAB_SIZE, 32, 1e-5f, 10000.0, false);
    private static final int BATCH = 4, SEQ = 16, STEPS = 4;
    private static final OptimizerConfig LOMO = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.05));
    private static final ByteTokenizer TOK = new ByteTokenizer();
    private static final SyntheticSource DATA = new SyntheticSource(SyntheticTask.ADDITION, TOK);

    /**
     * As a device backend's optimizer: it trains its own copy of the weights and writes them into the model's array only
     * on {@link #syncToHost}.
     */
    private static final class OnDevice extends Optimizer {
        private final LlamaModel device;
        private final Optimizer inner;

        OnDevice(LlamaModel host, LlamaModel device) {
            super(host, LOMO);
            this.device = device;
            this.inner = Optimizer.create(device, LOMO);
        }

        @Override
        public StepResult step(Batch batch) {
            step++;
            return inner.step(batch);
        }

        @Override
        public void syncToHost() {
            System.arraycopy(device.params(), 0, model.params(), 0, model.params().length);
        }
    }

    private static List<TrainingRun.EvalPoint> evalsEvery2(Path out, LlamaModel model, Optimizer opt) {
        try (RunDirectory dir = RunDirectory.lock(out)) {
            TrainingRun.Saver saver = target -> Checkpoint.save(target, model, opt,
                    new TrainState(opt.stepCount(), 3, "synthetic:addition", BATCH, SEQ, opt.config()));
            TrainingRun run = new TrainingRun(model, opt, DATA, dir, saver, new TrainingRun.Schedule(0, 0, 2),
                    new TrainingRun.Evaluation(new Evaluator(model, TOK), DATA, 2), new PrintStream(OutputStream.nullOutputStream()));
            return run.run(STEPS, 3, BATCH, SEQ, List.of(), (r, n) -> {}, () -> false).evals();
        }
    }

    @Test
    void aDevicesWeightsAreBroughtBackBeforeEachEvaluation(@TempDir Path tmp) {
        Parallel par = new Parallel(1);
        LlamaModel jvm = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
        List<TrainingRun.EvalPoint> want = evalsEvery2(tmp.resolve("jvm"), jvm, Optimizer.create(jvm, LOMO));

        LlamaModel host = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
        LlamaModel device = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
        List<TrainingRun.EvalPoint> got = evalsEvery2(tmp.resolve("device"), host, new OnDevice(host, device));

        // Evaluated at step 2 (the last step, 4, is the run's "after"): the weights after two steps, not the initial ones.
        assertEquals(1, want.size());
        assertEquals(2, got.get(0).step());
        assertEquals(want.get(0).result().loss(), got.get(0).result().loss(), 0.0, "loss after step 2");
        double initial = new Evaluator(LlamaModel.initialize(CFG, 11, par, new MemoryLedger()), TOK).evaluate(DATA, BATCH, SEQ).loss();
        assertNotEquals(initial, got.get(0).result().loss(), "two steps must change the evaluation loss");
    }
}
