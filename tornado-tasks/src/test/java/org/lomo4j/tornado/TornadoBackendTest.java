package org.lomo4j.tornado;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lomo4j.TinyModels;
import org.lomo4j.backend.Backend;
import org.lomo4j.backend.DeviceProfile;
import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.data.SyntheticSource;
import org.lomo4j.data.SyntheticTask;
import org.lomo4j.kernels.Half;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Parameters;
import org.lomo4j.model.Tensor;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.optim.StepResult;
import org.lomo4j.parallel.Parallel;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.runtime.TornadoRuntimeProvider;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.lomo4j.GradCheck.random;

/**
 * The TornadoVM backend against the JVM backend: same weights, same batches. Runs only where TornadoVM's
 * runtime is present (mvn -Ptornado test, with TORNADOVM_HOME); elsewhere each test reports itself skipped.
 */
class TornadoBackendTest {
    private static final Parallel PAR = new Parallel(2);
    private static final Backend TORNADO = new TornadoVmBackend();

    @BeforeAll
    static void requireTornadoVm() {
        boolean present;
        try {
            TornadoRuntimeProvider.getTornadoRuntime();
            present = true;
        } catch (Throwable e) {
            present = false;
        }
        assumeTrue(present, "TornadoVM is not present (run mvn -Ptornado test with TORNADOVM_HOME set): TornadoVM backend tests skipped");
        System.out.println("TornadoVM devices: " + TORNADO.devices());
    }

    @AfterAll
    static void close() {
        PAR.close();
    }

    /** Forward on the device, fp32 and bf16 weights: the logits of every position agree with the JVM's within 1e-4 relative. */
    @Test
    void forwardLogitsMatchTheJvm() {
        for (LlamaConfig cfg : new LlamaConfig[] {TinyModels.config(false), TinyModels.qwen2Config(true)}) {
            for (ParamDtype dtype : new ParamDtype[] {ParamDtype.F32, ParamDtype.BF16}) {
                LlamaModel model = dtype == ParamDtype.F32 ? TinyModels.model(cfg, 3, PAR, new MemoryLedger())
                        : LlamaModel.initialize(cfg, dtype, 3, PAR, new MemoryLedger());
                Batch batch = TinyModels.batch(cfg, 2, 6, 4);
                float[] jvm = model.logits(batch.tokens(), 2, 6).clone();
                try (Backend.Forward device = TORNADO.forward(model, 0, 8)) {
                    float[] dev = device.logits(batch.tokens(), 2, 6);
                    assertClose("logits (" + cfg.modelType() + ", " + dtype.id() + ")", jvm, dev, 1e-4);
                }
            }
        }
    }

    /**
     * Generation with the device's key/value cache: the prefill's logits at each row's last prompt token, then
     * four decoded tokens per row (rows at different positions), agree with the JVM's cached decode within 1e-4.
     */
    @Test
    void cachedDecodeMatchesTheJvm() {
        for (LlamaConfig cfg : new LlamaConfig[] {TinyModels.config(false), TinyModels.qwen2Config(true)}) {
            LlamaModel model = TinyModels.model(cfg, 5, PAR, new MemoryLedger());
            Batch prompts = TinyModels.batch(cfg, 2, 5, 9);
            int[] last = {4, 2};  // row 1's prompt is 3 tokens, padded to 5
            try (Backend.Forward device = TORNADO.forward(model, 0, 10)) {
                assertClose("prefill logits (" + cfg.modelType() + ")", model.prefill(prompts.tokens(), 2, 5, last, 10).clone(),
                        device.prefill(prompts.tokens(), 2, 5, last, 10), 1e-4);
                for (int step = 0; step < 4; step++) {
                    int[] next = {(3 * step + 1) % cfg.vocabSize(), (5 * step + 2) % cfg.vocabSize()};
                    int[] positions = {5 + step, 3 + step};
                    assertClose("decode " + step + " logits (" + cfg.modelType() + ")", model.decode(next, positions).clone(),
                            device.decode(next, positions), 1e-4);
                }
                device.endGeneration();
                model.endGeneration();
                // The same plan serves every position's logits again after generating.
                assertClose("logits after generation", model.logits(prompts.tokens(), 2, 5).clone(), device.logits(prompts.tokens(), 2, 5),
                        1e-4);
            }
        }
    }

    /**
     * TinyModels' two shapes (Llama untied, Qwen2 tied with biases) widened to what the device trains: C = 20 and F = 36, so
     * that every matrix's input holds a full vector block of 16 columns and a last one that overlaps it (Tasks.vectorStart).
     */
    private static LlamaConfig[] trainable() {
        return new LlamaConfig[] {new LlamaConfig(20, 36, 2, 2, 1, 11, 16, 1e-5f, 10000.0, false),
                new LlamaConfig(20, 36, 2, 2, 1, 11, 16, 1e-5f, 10000.0, true, true)};
    }

    /** A model narrower than the vector kernels' 16 columns is refused up front, naming the field, for a run and a dry run. */
    @Test
    void narrowModelsAreRefusedByName() {
        LlamaConfig narrow = TinyModels.config(false);  // hidden_size 8
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TORNADO.planLomo(narrow, ParamDtype.F32, 2, 6));
        assertTrue(e.getMessage().contains("hidden_size 8"), e.getMessage());
        LlamaModel model = TinyModels.model(narrow, 3, PAR, new MemoryLedger());
        OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.05));
        e = assertThrows(IllegalArgumentException.class, () -> TORNADO.lomo(model, oc, 0, 2, 6));
        assertTrue(e.getMessage().contains("hidden_size 8"), e.getMessage());
    }

    /** Work-groups sized by the device: 4 threads on PoCL's CPU device; the property overrides it, and a bad value is named. */
    @Test
    void workGroupsAreSizedByTheDevice() {
        uk.ac.manchester.tornado.api.common.TornadoDevice device = TornadoRuntimeProvider.getTornadoRuntime().getDefaultDevice();
        assumeTrue(device.getDeviceType() == uk.ac.manchester.tornado.api.enums.TornadoDeviceType.CPU, "not a CPU device: " + device);
        String was = System.getProperty("lomo4j.tornado.group");
        try {
            System.clearProperty("lomo4j.tornado.group");
            assertEquals(4, Graphs.groupWidth(device));
            System.setProperty("lomo4j.tornado.group", "32");
            assertEquals(32, Graphs.groupWidth(device));
            System.setProperty("lomo4j.tornado.group", "0");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Graphs.groupWidth(device));
            assertTrue(e.getMessage().startsWith("-Dlomo4j.tornado.group=0"), e.getMessage());
        } finally {
            if (was == null) System.clearProperty("lomo4j.tornado.group");
            else System.setProperty("lomo4j.tornado.group", was);
        }
    }

    /**
     * Three LOMO steps with global-norm clipping (norm pass, then the fused updating pass): every updated weight
     * agrees with the JVM's LOMO within 1e-4 relative. The weights depend on every input gradient of the
     * backward, so this checks those too; the norms must agree as well. Once with the device's weights in one
     * array, which the kernels update in place, and once in segments of at most two layers, copied in and out of
     * the fp32 working copy. Evaluation's losses, from the training graphs, agree too.
     */
    @Test
    void lomoStepsUpdateTheSameWeights() {
        for (LlamaConfig cfg : trainable()) {
            for (boolean segments : new boolean[] {false, true}) {
                OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.05)).withClipNorm(0.05)
                        .withWeightDecay(0.01);
                LlamaModel jvmModel = TinyModels.model(cfg, 11, PAR, new MemoryLedger());
                LlamaModel devModel = TinyModels.model(cfg, 11, PAR, new MemoryLedger());
                if (segments) devModel = inSegments(devModel);
                Optimizer jvm = Optimizer.create(jvmModel, oc);
                try (Optimizer dev = TORNADO.lomo(devModel, oc, 0, 2, 10)) {
                    for (StepResult a : threeStepsAgree(jvm, dev, cfg, 1e-4, true)) {
                        assertTrue(a.gradNorm() > oc.clipNorm(), "the test must exercise clipping");
                    }
                    // Evaluation's losses on the device's weights, a full batch and a short one (padded on the device).
                    for (Batch b : new Batch[] {TinyModels.batch(cfg, 2, 10, 200), TinyModels.batch(cfg, 1, 10, 201)}) {
                        float want = jvm.evalLoss(b);
                        assertEquals(want, dev.evalLoss(b), 1e-4 * want, "evaluation loss, " + b.batchSize() + " rows");
                    }
                    dev.syncToHost();
                }
                assertClose("weights after 3 steps (" + cfg.modelType() + ", " + devModel.layout().segments() + " segment(s))",
                        values(jvmModel, jvmModel.layout()), values(devModel, jvmModel.layout()), 1e-4);
            }
        }
    }

    /**
     * The bf16 working copy's conversions as the device compiles them: widening every bf16 value (by table), and rounding floats
     * of every exponent (fp32 subnormals, ±0, the largest floats) stochastically with the step's random bits, give
     * the JVM's bits ({@code Half.toFloat}, {@code Half.round}).
     */
    @Test
    void bf16ConversionsOnTheDeviceAreTheJvms() {
        int n = 1 << 16;
        short[] every = new short[n];
        float[] values = new float[n];
        java.util.SplittableRandom rng = new java.util.SplittableRandom(5);
        for (int i = 0; i < n; i++) {
            every[i] = (short) i;
            int bits = rng.nextInt();
            values[i] = (bits & 0x7F800000) == 0x7F800000 ? 0f : Float.intBitsToFloat(bits);  // every finite float pattern
        }
        float[] edges = {0f, -0f, Float.MIN_VALUE, -0x1p-127f, Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, 1f, -0.5f};
        System.arraycopy(edges, 0, values, 0, edges.length);
        float[] table = Half.bf16Values();
        float[] widened = new float[n];
        short[] rounded = new short[n];
        int[] at = new int[Tasks.AT_SIZE];
        long[] key = {Half.key(1234, 7)};
        float[] control = {Tasks.UPDATE_PASS, 0f};
        TaskGraph g = new TaskGraph("codec")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, every, table, values, widened, rounded, at, key, control)
                .task("widen", Tasks::widen, widened, every, table, at, Tasks.LAYER_PART, 0, 0, n)
                .task("narrow", Tasks::narrow, rounded, values, key, control, at, Tasks.LAYER_PART, 0, 0L, 0, Half.STOCHASTIC, n)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, widened, rounded);
        runOnce(g);
        for (int i = 0; i < n; i++) {
            float want = Half.toFloat(every[i], Half.BF16);
            if (Float.isNaN(want)) assertTrue(Float.isNaN(widened[i]), "NaN bits " + Integer.toHexString(i));
            else assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(widened[i]), "widened bits " + Integer.toHexString(i));
            assertEquals(Half.round(values[i], Half.BF16, Half.STOCHASTIC, key[0], i), rounded[i], "rounded " + values[i] + " at " + i);
        }
    }

    /**
     * The device's own attention ({@link VectorAttention}) and SwiGLU ({@code Tasks.swiglu}, single-precision σ) against
     * the core's kernels: heads of 32 and 64 columns (one and two chunks a row), grouped-query, 2 sequences of 7
     * (causal rows of every length up to 7), each with its output transposed as the o projection reads it. The device's
     * gradients overwrite what their arrays held. SwiGLU's backward is fused with the down projection's
     * input gradient (rows in two blocks, the second partial; columns in three, the last overlapping).
     */
    @Test
    void deviceAttentionAndSwiGluMatchTheCore() {
        java.util.SplittableRandom rng = new java.util.SplittableRandom(11);
        int batch = 2, seq = 7, nh = 4, nkv = 2, f = 40, rows = batch * seq;
        for (int hd : new int[] {32, 64}) {
            float[] q = random(rng, rows * nh * hd, 2), k = random(rng, rows * nkv * hd, 2), v = random(rng, rows * nkv * hd, 2);
            float[] dout = random(rng, q.length, 2), dq = new float[q.length], dk = new float[k.length], dv = new float[v.length];
            float[] out = new float[q.length], lse = new float[batch * nh * seq], delta = new float[lse.length];
            float[] devOut = new float[q.length], devOutT = new float[q.length], devLse = new float[lse.length],
                    devDelta = new float[lse.length];
            // The core adds into its gradients (here zeros); the device's write theirs: they start from stale values.
            float[] devDq = random(rng, q.length, 2), devDk = random(rng, k.length, 2), devDv = random(rng, v.length, 2);
            org.lomo4j.kernels.Attention.forward(out, lse, q, k, v, batch, seq, nh, nkv, hd);
            org.lomo4j.kernels.Attention.backward(dq, dk, dv, delta, dout, out, lse, q, k, v, batch, seq, nh, nkv, hd);
            int chunks = hd / VectorAttention.CHUNK;
            TaskGraph g = new TaskGraph("attention" + hd)
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, q, k, v, dout, devOut, devOutT, devLse, devDelta, devDq, devDk,
                            devDv)
                    .task("forward", VectorAttention::forward, devOut, devOutT, devLse, q, k, v, seq, nh, nkv, hd, 1, rows,
                            batch * nh * seq * chunks)
                    .task("query", VectorAttention::backwardQuery, devDq, devDelta, dout, devOut, devLse, q, k, v, seq, nh, nkv, hd,
                            batch * nh * seq * chunks)
                    .task("key_value", VectorAttention::backwardKeyValue, devDk, devDv, devDelta, devLse, q, k, v, dout, seq, nh, nkv, hd,
                            batch * nkv * seq * chunks)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, devOut, devOutT, devLse, devDelta, devDq, devDk, devDv);
            runOnce(g);
            String head = " (head_dim " + hd + ")";
            assertClose("attention" + head, out, devOut, 1e-5);
            assertTransposed("attention" + head, devOut, devOutT, rows, nh * hd);
            assertClose("lse" + head, lse, devLse, 1e-5);
            assertClose("delta" + head, delta, devDelta, 1e-5);
            assertClose("dq" + head, dq, devDq, 1e-5);
            assertClose("dk" + head, dk, devDk, 1e-5);
            assertClose("dv" + head, dv, devDv, 1e-5);
        }
        // SwiGLU forward; its backward fused with the down projection's input gradient, dh = dy · W (W: c × f at offset 3).
        int c = 24;
        float[] gate = random(rng, rows * f, 2), up = random(rng, rows * f, 2), dy = random(rng, rows * c, 2);
        float[] params = random(rng, 3 + c * f, 1), dh = new float[rows * f], dgate = new float[rows * f], dup = new float[rows * f];
        float[] h = new float[rows * f], devH = new float[h.length], devHT = new float[h.length], devDgate = new float[h.length],
                devDup = new float[h.length];
        int[] at = {3};
        org.lomo4j.kernels.SwiGlu.forward(h, gate, up, rows, f);
        for (int t = 0; t < rows; t++) org.lomo4j.kernels.Matmul.inputGradRow(dh, dy, params, 3, f, c, t);
        org.lomo4j.kernels.SwiGlu.backward(dgate, dup, dh, gate, up, rows, f);
        TaskGraph swiglu = new TaskGraph("swiglu")
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, gate, up, dy, params, at, devH, devHT, devDgate, devDup)
                .task("forward", Tasks::swiglu, devH, devHT, gate, up, 1, f, rows)
                .task("backward", Tasks::swigluInputGrad, new uk.ac.manchester.tornado.api.KernelContext(), devDgate, devDup, dy, gate, up,
                        params, at, 0, f, c, rows)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, devH, devHT, devDgate, devDup);
        var blocks = new uk.ac.manchester.tornado.api.WorkerGrid2D(Math.ceilDiv(f, Tasks.LANES), Math.ceilDiv(rows, Tasks.ROWS));
        blocks.setLocalWork(1, 1, 1);
        runOnce(swiglu, new uk.ac.manchester.tornado.api.GridScheduler("swiglu.backward", blocks));
        assertClose("swiglu", h, devH, 1e-5);
        assertTransposed("swiglu", devH, devHT, rows, f);
        assertClose("swiglu dgate", dgate, devDgate, 1e-5);
        assertClose("swiglu dup", dup, devDup, 1e-5);
    }

    /** xT (cols, rows) holds x (rows, cols) transposed, element for element. */
    private static void assertTransposed(String what, float[] x, float[] xT, int rows, int cols) {
        for (int t = 0; t < rows; t++) {
            for (int j = 0; j < cols; j++) assertEquals(x[t * cols + j], xT[j * rows + t], what + " transposed at " + t + ", " + j);
        }
    }

    private static void runOnce(TaskGraph g) {
        runOnce(g, null);
    }

    /** Runs g once, with grid (or TornadoVM's own launch shapes where null). */
    private static void runOnce(TaskGraph g, uk.ac.manchester.tornado.api.GridScheduler grid) {
        try (TornadoExecutionPlan plan = new TornadoExecutionPlan(g.snapshot())) {
            plan.withCompilerFlags(uk.ac.manchester.tornado.api.enums.TornadoVMBackendType.OPENCL, Graphs.OPENCL_FLAGS);
            if (grid != null) plan.withGridScheduler(grid);
            plan.execute();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * bf16 weights, three LOMO steps clipped and three unclipped (Llama untied, Qwen2 tied with biases): the device
     * widens each layer into fp32, updates and narrows it with the step's random bits, as the JVM's 16-bit LOMO does
     * row by row. The device's model lies in segments of at most two layers (the JVM's in one), so layers are
     * widened from different arrays. The losses agree within 1e-3, and all but a rare weight (at most 0.5%) end
     * bit-identical to the JVM's, the rest within two bf16 steps: the device's vector kernels round each product before
     * adding it (TornadoVM emits no fused multiply-add for float8), the JVM's fuse the two, so now and then a weight's
     * fp32 value falls on the other side of its rounding boundary.
     */
    @Test
    void bf16LomoStepsMatchTheJvm() {
        for (LlamaConfig cfg : trainable()) {
            for (double clip : new double[] {0.05, 0}) {
                OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.05)).withClipNorm(clip)
                        .withWeightDecay(0.01);
                LlamaModel jvmModel = LlamaModel.initialize(cfg, ParamDtype.BF16, 11, PAR, new MemoryLedger());
                LlamaModel devModel = inSegments(jvmModel);
                int[] before = bits(devModel, jvmModel.layout());
                Optimizer jvm = Optimizer.create(jvmModel, oc);
                try (Optimizer dev = TORNADO.lomo(devModel, oc, 0, 2, 10)) {
                    threeStepsAgree(jvm, dev, cfg, 1e-3, clip > 0);
                    dev.syncToHost();
                    // Planned to the byte, category by category: the segments' 2 bytes a weight, the fp32 working copy of one layer
                    // and the tensors outside the blocks, and the widening table, as allocated.
                    MemoryLedger planned = TORNADO.planLomo(cfg, ParamDtype.BF16, 2, 10);
                    for (org.lomo4j.memory.Category c : org.lomo4j.memory.Category.values()) {
                        assertEquals(planned.peak(c), dev.deviceMemory().peak(c), "planned device " + c);
                    }
                }
                int[] want = bits(jvmModel, jvmModel.layout()), got = bits(devModel, jvmModel.layout());
                int moved = 0, differ = 0, steps = 0;
                for (int i = 0; i < want.length; i++) {
                    if (got[i] != before[i]) moved++;
                    if (got[i] != want[i]) differ++;
                    steps = Math.max(steps, Math.abs(ordered(got[i]) - ordered(want[i])));
                }
                String what = cfg.modelType() + (clip > 0 ? " clipped" : "") + ", " + devModel.layout().segments() + " segments: " + moved
                        + " of " + want.length + " weights moved, " + differ + " differ from the JVM's, by at most " + steps + " bf16 steps";
                System.out.println("bf16 " + what);
                assertTrue(differ <= want.length / 200 && steps <= 2, what);
                assertTrue(moved > want.length / 4, "the steps must move many weights: " + what);
            }
        }
    }

    /**
     * A bf16 run on the device, stopped at a checkpoint and resumed, ends with the straight run's weights byte for
     * byte (the step's rounding key and learning rate come back with the checkpoint), and saving a checkpoint along
     * the way changes nothing either. Through the CLI, as a user runs it, on the built-in tiny-1m.
     */
    @Test
    void aResumedBf16RunEndsWithTheStraightRunsWeights(@TempDir Path dir) throws java.io.IOException {
        String[] run = {"train", "--backend", "tornado", "--param-dtype", "bf16", "--batch", "8", "--seq", "16", "--clip-norm", "1.0",
                "--steps", "4", "--no-eval", "--out"};
        assertEquals(0, org.lomo4j.cli.Main.run(with(run, dir.resolve("straight").toString())));
        assertEquals(0, org.lomo4j.cli.Main.run(with(run, dir.resolve("split").toString(), "--checkpoint-every", "2")));
        assertEquals(0, org.lomo4j.cli.Main.run("train", "--backend", "tornado", "--resume", dir.resolve("split/step-000002").toString(),
                "--steps", "4", "--out", dir.resolve("resumed").toString()));
        byte[] straight = Files.readAllBytes(dir.resolve("straight/step-000004/model.safetensors"));
        assertArrayEquals(straight, Files.readAllBytes(dir.resolve("split/step-000004/model.safetensors")), "checkpointing along the way");
        assertArrayEquals(straight, Files.readAllBytes(dir.resolve("resumed/step-000004/model.safetensors")), "resumed at step 2");
    }

    private static String[] with(String[] args, String... more) {
        String[] out = java.util.Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, out, args.length, more.length);
        return out;
    }

    /**
     * Three steps of both optimizers on the same 2 × 10 batches (20 tokens: a vector block of 16 and one that overlaps
     * it): the losses agree within {@code rtol} relative, and so do the gradient norms when {@code norms} (a clipped run
     * measures them). Returns the JVM's results.
     */
    private static java.util.List<StepResult> threeStepsAgree(Optimizer jvm, Optimizer dev, LlamaConfig cfg, double rtol, boolean norms) {
        java.util.List<StepResult> out = new java.util.ArrayList<>();
        for (int step = 0; step < 3; step++) {
            Batch batch = TinyModels.batch(cfg, 2, 10, 100 + step);
            StepResult a = jvm.step(batch);
            StepResult b = dev.step(batch);
            assertEquals(a.loss(), b.loss(), rtol * Math.abs(a.loss()), "loss at step " + step);
            if (norms) assertEquals(a.gradNorm(), b.gradNorm(), rtol * a.gradNorm(), "gradient norm at step " + step);
            out.add(a);
        }
        return out;
    }

    /** Every weight's value, in the order of {@code layout}'s tensors. */
    private static float[] values(LlamaModel m, ParameterLayout layout) {
        float[] out = new float[(int) layout.totalSize()];
        int k = 0;
        for (Tensor t : layout.tensors()) {
            Tensor u = m.layout().get(t.name());
            for (int i = 0; i < t.size(); i++) out[k++] = m.parameters().get(u, i);
        }
        return out;
    }

    /** The model's weights copied, in their dtype, into a layout whose segments hold at most two layers. */
    private static LlamaModel inSegments(LlamaModel m) {
        ParameterLayout one = m.layout();
        ParameterLayout.Block b = one.blocks().get(0);
        long layer = b.wDown().offset() + b.wDown().size() - b.inputNorm().offset();
        ParameterLayout split = new ParameterLayout(m.config(), Math.max(2 * layer, Math.max(one.embedding().size(), one.head().size())));
        assertTrue(split.blocks().get(0).wq().segment() != split.blocks().get(split.blocks().size() - 1).wq().segment(),
                "the first and last layers must lie in different segments");
        Parameters p = Parameters.allocate(split, m.parameters().dtype(), new MemoryLedger());
        for (Tensor t : one.tensors()) {
            for (int i = 0; i < t.size(); i++) p.set(split.get(t.name()), i, m.parameters().get(t, i));
        }
        return new LlamaModel(m.config(), p, PAR, new MemoryLedger());
    }

    /** Every weight's bf16 bits, in the order of {@code layout}'s tensors. */
    /** A bf16 value's bits (a sign-extended short) as a position on the number line: one apart per bf16 step, ±0 both 0. */
    private static int ordered(int bits) {
        return bits >= 0 ? bits : -(bits & 0x7fff);
    }

    private static int[] bits(LlamaModel m, ParameterLayout layout) {
        int[] out = new int[(int) layout.totalSize()];
        int k = 0;
        for (Tensor t : layout.tensors()) {
            Tensor u = m.layout().get(t.name());
            for (int i = 0; i < t.size(); i++) out[k++] = m.parameters().halves(u)[u.offset() + i];
        }
        return out;
    }

    /** The ~1M model, 20 LOMO steps on the reverse task: the same losses within 1e-3. */
    @Test
    void twentyStepsOfTheTinyModelGiveTheSameLosses() {
        LlamaConfig cfg = LlamaConfig.load(java.nio.file.Path.of("models/tiny-1m/config.json"));
        OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.3)).withClipNorm(1.0);
        LlamaModel devModel = LlamaModel.initialize(cfg, 1234, PAR, new MemoryLedger());
        try (Optimizer dev = TORNADO.lomo(devModel, oc, 0, 8, 16)) {
            dev.profileDevice();
            reverseStepsAgree(cfg, oc, 1234, dev, 20, 1e-3);
            // The device's memory, by category: the weights, no gradient (LOMO), activations with the (N, V) logits and their gradient.
            MemoryLedger device = dev.deviceMemory();
            System.out.print(device.titledTable("Device memory, tiny-1m 8 x 16"));
            assertEquals(4L * devModel.layout().totalSize(), device.peak(org.lomo4j.memory.Category.PARAMETERS));
            assertEquals(0, device.peak(org.lomo4j.memory.Category.GRADIENTS));
            assertTrue(device.peak(org.lomo4j.memory.Category.ACTIVATIONS) > 2L * 4 * 8 * 16 * cfg.vocabSize(), "activations and logits");
            assertTrue(device.peak(org.lomo4j.memory.Category.SCRATCH) > 0);
            // Planned before the run (--dry-run), to the byte, category by category.
            MemoryLedger planned = TORNADO.planLomo(cfg, ParamDtype.F32, 8, 16);
            for (org.lomo4j.memory.Category c : org.lomo4j.memory.Category.values()) {
                assertEquals(device.peak(c), planned.peak(c), "planned device " + c);
            }
            // The host mirrors every device buffer in a Java array, and its ledger says so.
            assertEquals(device.peak(org.lomo4j.memory.Category.ACTIVATIONS), devModel.ledger().peak(org.lomo4j.memory.Category.ACTIVATIONS));
            // The profiler: every kernel of the one compiled block, launched once per layer; clipped, the norm pass computes each
            // input gradient once and the updates replay only the weight-gradient products (block_replay).
            DeviceProfile profile = dev.deviceProfile();
            System.out.print(profile.table(8));
            var kernels = profile.kernels().stream().collect(java.util.stream.Collectors.toMap(DeviceProfile.Kernel::name, k -> k));
            assertEquals(20L * cfg.numHiddenLayers(), kernels.get("block_fwd.qkv_proj").launches());
            assertEquals(20L * cfg.numHiddenLayers(), kernels.get("block_bwd.down_swiglu_dx").launches());
            assertEquals(20L * cfg.numHiddenLayers(), kernels.get("block_bwd.down_lomo").launches());
            assertEquals(20L * cfg.numHiddenLayers(), kernels.get("block_replay.down_lomo").launches());
            assertTrue(profile.kernelNanos() > 0 && kernels.get("block_bwd.down_lomo").nanos() > 0, profile.table(3));
        }
    }

    /**
     * Unclipped, a step is one backward, its updating pass: the graphs hold no task only a norm pass needs (keeping output
     * gradients, adding up squares) and no replay graph is built; the losses stay the JVM's.
     */
    @Test
    void anUnclippedStepRunsOnlyItsUpdatingPass() {
        LlamaConfig cfg = LlamaConfig.load(java.nio.file.Path.of("models/tiny-1m/config.json"));
        OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(0.3));
        try (Optimizer dev = TORNADO.lomo(LlamaModel.initialize(cfg, 99, PAR, new MemoryLedger()), oc, 0, 8, 16)) {
            dev.profileDevice();
            reverseStepsAgree(cfg, oc, 99, dev, 2, 1e-5);
            DeviceProfile profile = dev.deviceProfile();
            for (DeviceProfile.Kernel k : profile.kernels()) {
                assertFalse(k.name().contains("replay") || k.name().contains("keep_") || k.name().contains("sum_squares"), k.name());
                assertEquals(k.name().startsWith("block_") ? 2L * cfg.numHiddenLayers() : 2L, k.launches(), k.name());
            }
            assertTrue(profile.kernels().stream().anyMatch(k -> k.name().equals("block_bwd.down_lomo")), profile.table(3));
        }
    }

    /**
     * {@code steps} batches of 8 × 16 of the reverse task through {@code dev} (a model initialized from {@code seed}) and
     * through the JVM backend's LOMO on its twin: the same losses, within {@code rtol} of each.
     */
    private static void reverseStepsAgree(LlamaConfig cfg, OptimizerConfig oc, long seed, Optimizer dev, int steps, double rtol) {
        SyntheticSource data = new SyntheticSource(SyntheticTask.REVERSE, new ByteTokenizer());
        Optimizer jvm = Optimizer.create(LlamaModel.initialize(cfg, seed, PAR, new MemoryLedger()), oc);
        for (int step = 0; step < steps; step++) {
            Batch batch = data.trainBatch(seed, step, 8, 16);
            float a = jvm.step(batch).loss();
            float b = dev.step(batch).loss();
            System.out.printf("step %2d  loss jvm %.6f  tornado %.6f%n", step, a, b);
            assertEquals(a, b, rtol * Math.abs(a), "loss at step " + step);
        }
    }

    /** Relative to each value, or to the array's mean magnitude for values near zero. */
    private static void assertClose(String what, float[] want, float[] got, double rtol) {
        assertEquals(want.length, got.length, what + ": length");
        double mean = 0;
        for (float w : want) mean += Math.abs(w) / want.length;
        double worst = 0;
        int at = -1;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs(want[i] - got[i]) / Math.max(mean, Math.abs(want[i]));
            if (err > worst) {
                worst = err;
                at = i;
            }
        }
        assertTrue(worst <= rtol, what + ": relative difference " + worst + " at " + at + " (" + want[Math.max(at, 0)] + " vs "
                + got[Math.max(at, 0)] + ")");
    }
}
