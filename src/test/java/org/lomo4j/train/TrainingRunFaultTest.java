package org.lomo4j.train;

import com.google.common.jimfs.Configuration;
import com.google.common.jimfs.Jimfs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lomo4j.checkpoint.Checkpoint;
import org.lomo4j.checkpoint.CheckpointException;
import org.lomo4j.checkpoint.Safetensors;
import org.lomo4j.checkpoint.TrainState;
import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.data.SyntheticSource;
import org.lomo4j.data.SyntheticTask;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.Tensor;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.optim.StepResult;
import org.lomo4j.parallel.Parallel;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.FileSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Faults injected into a training run after step 1: the disk fills, memory runs out inside a step, the loss
 * diverges. Each must end with the newest whole, finite checkpoint on disk and an outcome saying what happened.
 */
class TrainingRunFaultTest {
    private static final LlamaConfig CFG = new LlamaConfig(16, 24, 2, 2, 1, ByteTokenizer.VOCAB_SIZE, 32, 1e-5f, 10000.0, false);
    private static final int BATCH = 4, SEQ = 16, STEPS = 8;
    private static final OptimizerConfig LOMO = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.05));
    private static final SyntheticSource DATA = new SyntheticSource(SyntheticTask.ADDITION, new ByteTokenizer());

    private static TrainingRun.Outcome train(Path out, LlamaModel model, Optimizer opt, int saveEvery) {
        return train(out, model, opt, DATA, new TrainingRun.Schedule(saveEvery, 0, 100));
    }

    /** STEPS steps of {@code data} into {@code out}, checkpoints as {@code schedule} says, no evaluation. */
    private static TrainingRun.Outcome train(Path out, LlamaModel model, Optimizer opt, org.lomo4j.data.DataSource data,
                                             TrainingRun.Schedule schedule) {
        try (RunDirectory dir = RunDirectory.lock(out)) {
            TrainingRun.Saver saver = target -> Checkpoint.save(target, model, opt,
                    new TrainState(opt.stepCount(), 3, "synthetic:addition", BATCH, SEQ, opt.config()));
            TrainingRun run = new TrainingRun(model, opt, data, dir, saver, schedule, null, new PrintStream(OutputStream.nullOutputStream()));
            return run.run(STEPS, 3, BATCH, SEQ, List.of(), (r, n) -> {}, () -> false);
        }
    }

    /** The weights of an uninterrupted run after {@code steps} steps. */
    private static float[] straight(Parallel par, OptimizerConfig oc, int steps) {
        LlamaModel m = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
        new Trainer(Optimizer.create(m, oc), DATA, 3, BATCH, SEQ).run(steps, (r, n) -> {}, () -> false);
        return m.params();
    }

    private static long used(FileSystem fs) throws IOException {
        var store = fs.getFileStores().iterator().next();
        return store.getTotalSpace() - store.getUnallocatedSpace();
    }

    /** A disk with room for two checkpoints: the third save fails, the second stays whole and loads to the right weights. */
    @Test
    void aFullDiskMidRunLeavesTheLastCheckpointWhole(@TempDir Path tmp) throws IOException {
        long oneCheckpoint;
        try (Parallel par = new Parallel(2); FileSystem probe = Jimfs.newFileSystem(Configuration.unix())) {
            LlamaModel m = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
            long before = used(probe);
            Checkpoint.save(probe.getPath("/probe/step-000000"), m, Optimizer.create(m, LOMO),
                    new TrainState(0, 3, "synthetic:addition", BATCH, SEQ, LOMO));
            oneCheckpoint = used(probe) - before;
        }
        Configuration small = Configuration.unix().toBuilder().setMaxSize(oneCheckpoint * 5 / 2).build();
        try (Parallel par = new Parallel(2); FileSystem disk = Jimfs.newFileSystem(small)) {
            Path out = disk.getPath("/run");
            LlamaModel model = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
            TrainingRun.Outcome outcome = train(out, model, Optimizer.create(model, LOMO), 2);

            assertEquals(TrainingRun.Status.FAILED, outcome.status());
            assertTrue(outcome.failure().startsWith("cannot write /run/step-000006 (IOException: out of disk space)"), outcome.failure());
            assertEquals(out.resolve("step-000004"), outcome.checkpoint());
            assertFalse(outcome.diverged());
            try (var files = Files.list(out)) {
                assertEquals(List.of("metrics.csv", "step-000002", "step-000004"),
                        files.map(p -> p.getFileName().toString()).sorted().toList(), "no half-written step-000006.tmp is left");
            }
            assertEquals(1 + 6, Files.readAllLines(out.resolve(RunDirectory.METRICS)).size(), "a metrics line for each step run");

            // The survivor is whole: copied to a real disk, it loads and holds step 4's weights exactly.
            Path copy = tmp.resolve("step-000004");
            Files.createDirectories(copy);
            try (var files = Files.list(out.resolve("step-000004"))) {
                for (Path f : files.toList()) Files.write(copy.resolve(f.getFileName().toString()), Files.readAllBytes(f));
            }
            assertEquals(4, Checkpoint.loadTrainState(copy).step());
            assertArrayEquals(straight(par, LOMO, 4), Checkpoint.loadModel(copy, 0, par, new MemoryLedger()).params());
        }
    }

    /** Memory runs out inside step 6, after the step changed some weights: they are not saved; step 4's checkpoint stands. */
    @Test
    void outOfMemoryInsideAStepKeepsTheLastCheckpointAndSavesNothingHalfUpdated(@TempDir Path out) {
        try (Parallel par = new Parallel(2)) {
            LlamaModel model = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
            TrainingRun.Outcome outcome = train(out, model, new FailingOptimizer(model, LOMO, 5), 2);
            assertEquals(TrainingRun.Status.FAILED, outcome.status());
            assertEquals("out of memory (Java heap space, injected); the step in progress had changed part of the weights, which are not saved",
                    outcome.failure());
            assertEquals(5, outcome.step());
            assertEquals(out.resolve("step-000004"), outcome.checkpoint());
            assertEquals(List.of(out.resolve("step-000002"), out.resolve("step-000004")), Checkpoint.steps(out));
        }
    }

    /** A step that fails outside the optimizer (here: the data) leaves whole weights, which are saved. */
    @Test
    void aFailureBetweenStepsSavesTheFinishedSteps(@TempDir Path out) {
        try (Parallel par = new Parallel(2)) {
            LlamaModel model = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
            Optimizer opt = Optimizer.create(model, LOMO);
            var failingData = new org.lomo4j.data.DataSource() {
                public Batch trainBatch(long seed, int step, int b, int t) {
                    if (step == 3) throw new IllegalStateException("the data file went away");
                    return DATA.trainBatch(seed, step, b, t);
                }
                public List<org.lomo4j.data.Example> evalExamples() { return List.of(); }
                public List<Batch> evalBatches(int b, int t) { return List.of(); }
                public String describe() { return "failing"; }
            };
            TrainingRun.Outcome outcome = train(out, model, opt, failingData, new TrainingRun.Schedule(0, 0, 2));
            assertEquals(TrainingRun.Status.FAILED, outcome.status());
            assertEquals("the data file went away", outcome.failure());
            assertEquals(out.resolve("step-000003"), outcome.checkpoint(), "the three finished steps are saved");
            assertArrayEquals(straight(par, LOMO, 3), Checkpoint.loadModel(outcome.checkpoint(), 0, par, new MemoryLedger()).params());
        }
    }

    /** A diverging run never leaves non-finite weights on disk, and a checkpoint that holds some cannot be loaded. */
    @Test
    void divergenceNeverWritesNonFiniteWeights(@TempDir Path dir) throws IOException {
        OptimizerConfig reckless = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(1e12)).withClipNorm(0);
        try (Parallel par = new Parallel(2)) {
            LlamaModel model = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
            Path out = dir.resolve("run");
            TrainingRun.Outcome outcome = train(out, model, Optimizer.create(model, reckless), 1);
            assertEquals(TrainingRun.Status.FAILED, outcome.status());
            assertTrue(outcome.diverged());
            assertTrue(outcome.failure().contains("are not finite"), outcome.failure());
            assertTrue(outcome.step() < STEPS);
            assertTrue(outcome.checkpoint() != null && Checkpoint.stepOf(outcome.checkpoint()) < outcome.step());
            for (Path ckpt : Checkpoint.steps(out)) {
                assertTrue(Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger()).parameters().allFinite(), ckpt.toString());
            }

            assertNull(LlamaModel.initialize(CFG, 11, par, new MemoryLedger()).parameters().firstNonFinite());
            var e = assertThrows(CheckpointException.class, () -> Checkpoint.save(dir.resolve("nan"), model, Optimizer.create(model, LOMO),
                    new TrainState(0, 3, "synthetic:addition", BATCH, SEQ, LOMO)));
            assertTrue(e.getMessage().matches(".*nan: not written: '.*' holds NaN or infinite values"), e.getMessage());
            assertFalse(Files.exists(dir.resolve("nan")) || Files.exists(dir.resolve("nan.tmp")));

            // Weights written by something else, with a NaN in them, are refused on load, naming the file and tensor.
            Path ckpt = Checkpoint.steps(out).get(0);
            LlamaModel good = Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger());
            Tensor last = good.layout().tensors().get(good.layout().tensors().size() - 1);
            good.parameters().set(last, 3, Float.NaN);
            Map<String, Safetensors.Slice> slices = new LinkedHashMap<>();
            for (Tensor t : good.layout().tensors()) slices.put(t.name(), new Safetensors.Slice(good.parameters().floats(t), t.offset(), t.shape()));
            Safetensors.write(ckpt.resolve("model.safetensors"), slices, Map.of());
            e = assertThrows(CheckpointException.class, () -> Checkpoint.loadModel(ckpt, 0, par, new MemoryLedger()));
            assertEquals(ckpt.resolve("model.safetensors") + ": tensor '" + last.name()
                    + "' holds NaN or infinite values: the run that wrote it diverged; use an earlier checkpoint", e.getMessage());
        }
    }

    /** Saves by time as well as by step: a schedule of (almost) no minutes saves after every step, and retention keeps three. */
    @Test
    void timedCheckpointsFollowTheClockAndRetentionKeepsTheNewest(@TempDir Path out) {
        try (Parallel par = new Parallel(2)) {
            LlamaModel model = LlamaModel.initialize(CFG, 11, par, new MemoryLedger());
            Optimizer opt = Optimizer.create(model, LOMO);
            TrainingRun.Outcome outcome = train(out, model, opt, DATA, new TrainingRun.Schedule(0, 1e-9, 3));
            assertEquals(TrainingRun.Status.COMPLETED, outcome.status());
            assertEquals(List.of(6L, 7L, 8L), Checkpoint.steps(out).stream().map(Checkpoint::stepOf).toList());
        }
    }

    /** LOMO that runs out of memory in the middle of step {@code failAt}, after updating one weight. */
    private static final class FailingOptimizer extends Optimizer {
        private final Optimizer inner;
        private final int failAt;

        FailingOptimizer(LlamaModel model, OptimizerConfig config, int failAt) {
            super(model, config);
            this.inner = Optimizer.create(model, config);
            this.failAt = failAt;
        }

        @Override
        public StepResult step(Batch batch) {
            if (inner.stepCount() == failAt) {
                Tensor t = model.layout().tensors().get(0);
                model.parameters().set(t, 0, model.parameters().get(t, 0) + 1);
                throw new OutOfMemoryError("Java heap space, injected");
            }
            return inner.step(batch);
        }

        @Override
        public int stepCount() {
            return inner.stepCount();
        }
    }
}
