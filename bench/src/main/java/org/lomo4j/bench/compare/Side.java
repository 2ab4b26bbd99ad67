package org.lomo4j.bench.compare;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.data.SyntheticSource;
import org.lomo4j.data.SyntheticTask;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One side of the comparison, run by {@link Compare} in a process of its own so that its peak RSS is its
 * own: {@code Side lomo4j|libtorch lomo|lomo-clip|sgd|adamw MODEL BATCH SEQ STEPS THREADS SEED LR}; {@code lomo-clip}
 * is LOMO with global-norm clipping at 1.0 (a norm-only backward, then the weight gradients replayed).
 * Both sides start from the weights {@code LlamaModel.initialize(config, SEED)} gives and train on the
 * same batches; it prints one JSON line: per-step milliseconds and losses, accounted bytes and peak RSS.
 */
public final class Side {
    public static void main(String[] args) throws Exception {
        String side = args[0], optimizer = args[1];
        LlamaConfig cfg = LlamaConfig.load(Path.of(args[2]));
        int batch = Integer.parseInt(args[3]), seq = Integer.parseInt(args[4]), steps = Integer.parseInt(args[5]),
                threads = Integer.parseInt(args[6]);
        long seed = Long.parseLong(args[7]);
        double lr = Double.parseDouble(args[8]);
        SyntheticSource data = new SyntheticSource(SyntheticTask.REVERSE, new ByteTokenizer());

        ObjectMapper json = new ObjectMapper();
        ObjectNode out = json.createObjectNode();
        ArrayNode ms = out.putArray("ms"), losses = out.putArray("loss");
        try (Parallel par = new Parallel(threads)) {
            MemoryLedger ledger = new MemoryLedger();
            LlamaModel model = LlamaModel.initialize(cfg, seed, par, ledger);
            if (side.equals("lomo4j")) {
                boolean clip = optimizer.equals("lomo-clip");
                OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.parse(clip ? "lomo" : optimizer), LrSchedule.constant(lr));
                if (clip) oc = oc.withClipNorm(1.0);
                Optimizer opt = Optimizer.create(model, oc);
                model.reserve(batch, seq);
                for (int step = 0; step < steps; step++) {
                    Batch b = data.trainBatch(seed, step, batch, seq);
                    long t0 = System.nanoTime();
                    float loss = opt.step(b).loss();
                    ms.add((System.nanoTime() - t0) / 1e6);
                    losses.add(loss);
                }
                out.put("accounted_bytes", ledger.peakTotal());
            } else {
                torch.set_num_threads(threads);
                TorchLlama tm = new TorchLlama(cfg, model.params(), seq, torch.ScalarType.Float);
                if (optimizer.equals("adamw")) tm.initAdamW();
                ledger = null;
                model = null;  // only the torch copy of the weights remains
                for (int step = 0; step < steps; step++) {
                    Batch b = data.trainBatch(seed, step, batch, seq);
                    long t0 = System.nanoTime();
                    float loss;
                    try (PointerScope scope = new PointerScope()) {  // frees the step's temporaries
                        Tensor l = tm.loss(b);
                        l.backward();
                        loss = l.item_float();
                        if (optimizer.equals("adamw")) tm.adamw(lr, 0.9, 0.999, 1e-8, 0.0, step + 1);
                        else tm.sgd(lr);
                    }
                    ms.add((System.nanoTime() - t0) / 1e6);
                    losses.add(loss);
                }
                out.put("accounted_bytes", tm.accountedBytes());
                out.put("torch_threads", torch.get_num_threads());
            }
        }
        out.put("side", side);
        out.put("optimizer", optimizer);
        out.put("threads", threads);
        out.put("peak_rss_bytes", peakRss());
        System.out.println(json.writeValueAsString(out));
    }

    /** The process's peak resident set (VmHWM), in bytes. */
    static long peakRss() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D+", "")) * 1024;
        }
        return -1;
    }
}
