package org.lomo4j.bench;

import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.data.SyntheticSource;
import org.lomo4j.data.SyntheticTask;
import org.lomo4j.generate.Evaluator;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;
import org.lomo4j.train.Trainer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * LOMO, AdaLomo and AdamW side by side, each with its default learning rate and clipping (as {@code ./lomo4j
 * train --optimizer X} gets them): memory peaks accounted on bench-24m, and convergence on the synthetic tasks
 * with tiny-1m (held-out exact match every 50 steps; the first step that reaches the target; the final eval
 * loss). Step times are JMH's ({@code TrainStep -p optimizer=lomo,adalomo}). Run from the project root:
 * <pre>
 *   bench/optimizers            # writes bench/results/optimizers.md
 * </pre>
 */
public final class Optimizers {
    private static final List<OptimizerConfig.Kind> KINDS = List.of(OptimizerConfig.Kind.LOMO, OptimizerConfig.Kind.ADALOMO,
            OptimizerConfig.Kind.ADAMW);

    private static OptimizerConfig recipe(OptimizerConfig.Kind kind, int steps) {
        LrSchedule cosine = new LrSchedule(LrSchedule.Kind.COSINE, kind.defaultLr(), 20, steps);
        return OptimizerConfig.of(kind, cosine).withClipNorm(kind.defaultClipNorm());
    }

    public static void main(String[] args) throws Exception {
        int threads = Runtime.getRuntime().availableProcessors();
        StringBuilder md = new StringBuilder("# LOMO, AdaLomo and AdamW\n\n");
        try (Parallel par = new Parallel(threads)) {
            LlamaConfig big = LlamaConfig.load(Path.of("models/bench-24m/config.json"));
            md.append("## Peak memory accounted, bench-24m, batch 8 x 128, fp32, one step\n\n")
                    .append("| optimizer | parameters | gradients | optimizer states | activations | scratch | total |\n|---|---|---|---|---|---|---|\n");
            SyntheticSource reverse = new SyntheticSource(SyntheticTask.REVERSE, new ByteTokenizer());
            for (OptimizerConfig.Kind kind : KINDS) {
                MemoryLedger ledger = new MemoryLedger();
                LlamaModel model = LlamaModel.initialize(big, 1, par, ledger);
                Optimizer opt = Optimizer.create(model, recipe(kind, 100));
                opt.step(reverse.trainBatch(1, 0, 8, 128));
                md.append("| ").append(kind.id());
                for (Category c : Category.values()) md.append(" | ").append(MemoryLedger.human(ledger.peak(c)));
                md.append(" | ").append(MemoryLedger.human(ledger.peakTotal())).append(" |\n");
                System.out.print(md.substring(md.lastIndexOf("| " + kind.id())));
            }

            LlamaConfig tiny = LlamaConfig.load(Path.of("models/tiny-1m/config.json"));
            md.append("\n## Convergence, tiny-1m, batch 32 x 16, cosine schedule with 20 warmup steps, default lr and clipping\n\n")
                    .append("Held-out exact match (256 examples) every 50 steps.\n\n")
                    .append("| task | optimizer | lr | clip-norm | first step at the target | exact match at the end | final eval loss | ms/step |\n")
                    .append("|---|---|---|---|---|---|---|---|\n");
            Object[][] tasks = {{SyntheticTask.REVERSE, 600, 0.9}, {SyntheticTask.ADDITION, 1000, 0.5}};
            for (Object[] task : tasks) {
                SyntheticTask t = (SyntheticTask) task[0];
                int steps = (Integer) task[1];
                double target = (Double) task[2];
                SyntheticSource data = new SyntheticSource(t, new ByteTokenizer());
                for (OptimizerConfig.Kind kind : KINDS) {
                    LlamaModel model = LlamaModel.initialize(tiny, 1234, par, new MemoryLedger());
                    OptimizerConfig oc = recipe(kind, steps);
                    Optimizer opt = Optimizer.create(model, oc);
                    Evaluator eval = new Evaluator(model, new ByteTokenizer());
                    int reached = -1;
                    double accuracy = 0, millis = 0;
                    Trainer trainer = new Trainer(opt, data, 1234, 32, 16);
                    for (int at = 50; at <= steps; at += 50) {
                        for (Trainer.StepRecord r : trainer.run(at, (r, n) -> {}, () -> false)) millis += r.millis();
                        accuracy = eval.exactMatch(data.evalExamples(), 32);
                        if (reached < 0 && accuracy >= target) reached = at;
                    }
                    double loss = eval.evaluate(data, 32, 16).loss();
                    String row = String.format(Locale.ROOT, "| %s (%d steps) | %s | %.3g | %s | %s | %.1f%% | %.4f | %.1f |%n", t.id(), steps,
                            kind.id(), oc.schedule().peak(), oc.clipNorm() > 0 ? oc.clipNorm() : "off",
                            reached < 0 ? "not reached (" + Math.round(100 * target) + "%)" : reached + " (" + Math.round(100 * target) + "%)",
                            100 * accuracy, loss, millis / steps);
                    md.append(row);
                    System.out.print(row);
                }
            }
        }
        Path out = Path.of("bench/results/optimizers.md");
        Files.writeString(out, md.toString());
        System.out.println("wrote " + out);
    }
}
