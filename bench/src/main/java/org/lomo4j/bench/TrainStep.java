package org.lomo4j.bench;

import org.lomo4j.backend.Backend;
import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.data.SyntheticSource;
import org.lomo4j.data.SyntheticTask;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.optim.StepResult;
import org.lomo4j.parallel.Parallel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * One whole training step (forward, backward, update) on a backend: the JVM's workers on all cores, or a
 * TornadoVM device. The rows to set side by side: {@code lomo} against {@code sgd} (what fusing the update
 * into backward costs), {@code lomo-clip} against {@code lomo} (what global-norm clipping's norm pass costs),
 * {@code checkpointing=true} against {@code false} (what recomputing each block in backward costs), and
 * {@code tornado} against {@code jvm}. The model starts from {@code LlamaModel.initialize(config, 1)} and
 * trains on {@code synthetic:reverse} batches, as {@code bench/compare} does (16 made up front, in turn).
 * Run, from the repository root (the config is a path):
 * <pre>
 *   java --add-modules jdk.incubator.vector -jar bench/target/benchmarks.jar TrainStep
 * </pre>
 * With TornadoVM ({@code source setvars.sh}; lomo4j installed with {@code mvn -Ptornado install -DskipTests}
 * before bench/ is packaged), its launcher flags go to the forked JVM; the device runs LOMO only:
 * <pre>
 *   java -jar bench/target/benchmarks.jar TrainStep -p backend=jvm,tornado -p optimizer=lomo,lomo-clip \
 *       -jvmArgsPrepend @$TORNADOVM_HOME/tornado-argfile
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class TrainStep {
    /** {@code jvm}, or {@code tornado} (device 0) where TornadoVM is present. */
    @Param({"jvm"})
    public String backend;

    /** {@code lomo}, {@code lomo-clip} (global-norm clipping at 1.0), {@code adalomo}, {@code sgd} or {@code adamw} (JVM only). */
    @Param({"lomo", "lomo-clip", "adalomo", "sgd"})
    public String optimizer;

    @Param({"models/bench-24m/config.json"})
    public String config;

    /** Batch × sequence length. */
    @Param({"8x128"})
    public String batch;

    /** How the weights are stored: {@code f32}, {@code bf16} (both backends) or {@code f16} (JVM only). */
    @Param({"f32"})
    public String dtype;

    /** Activation checkpointing (JVM only): {@code -p checkpointing=false,true} measures what recomputing blocks costs. */
    @Param({"false"})
    public boolean checkpointing;

    private Parallel par;
    private Optimizer opt;
    private final Batch[] batches = new Batch[16];
    private int step;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        String[] p = batch.split("x");
        int b = Integer.parseInt(p[0]), t = Integer.parseInt(p[1]);
        LlamaConfig cfg = LlamaConfig.load(Path.of(config));
        par = new Parallel(Runtime.getRuntime().availableProcessors());
        LlamaModel model = LlamaModel.initialize(cfg, ParamDtype.parse(dtype, "dtype"), 1, par, new MemoryLedger());
        boolean clip = optimizer.equals("lomo-clip");
        OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.parse(clip ? "lomo" : optimizer), LrSchedule.constant(0.01));
        if (clip) oc = oc.withClipNorm(1.0);
        if (backend.equals("jvm")) {
            model.setCheckpointing(checkpointing);
            opt = Optimizer.create(model, oc);
            model.reserve(b, t);
        } else {
            opt = Backend.named(backend).lomo(model, oc, 0, b, t);
        }
        SyntheticSource data = new SyntheticSource(SyntheticTask.REVERSE, new ByteTokenizer());
        for (int i = 0; i < batches.length; i++) batches[i] = data.trainBatch(1, i, b, t);
    }

    @Benchmark
    public StepResult step() {
        return opt.step(batches[step++ % batches.length]);
    }

    @TearDown(Level.Trial)
    public void close() {
        opt.close();
        par.close();
    }
}
