package org.lomo4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lomo4j.checkpoint.AtomicFiles;
import org.lomo4j.checkpoint.TrainState;
import org.lomo4j.generate.Evaluator;
import org.lomo4j.kernels.simd.Simd;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** What a training run writes about itself: report JSON, metrics.csv, and SVG plots of loss and memory. */
public final class RunReport {
    private RunReport() {}

    public static ObjectNode json(LlamaConfig cfg, long parameters, TrainState state, int threads, List<Trainer.StepRecord> steps,
                                  MemoryLedger ledger, Evaluator.Result before, Evaluator.Result after) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        o.set("model", cfg.toJson());
        o.put("parameters", parameters);
        o.set("run", state.toJson());
        o.put("threads", threads);
        o.put("simd", Simd.enabled());
        o.put("steps_this_run", steps.size());
        double tokens = 0, seconds = 0;
        for (Trainer.StepRecord r : steps) {
            tokens += r.tokens();
            seconds += r.millis() / 1000;
        }
        o.put("tokens_per_second", seconds == 0 ? 0 : tokens / seconds);
        o.put("ms_per_step", steps.isEmpty() ? 0 : 1000 * seconds / steps.size());
        ArrayNode perStep = o.putArray("steps");
        for (Trainer.StepRecord r : steps) {
            ObjectNode e = perStep.addObject();
            e.put("step", r.step());
            e.put("loss", r.loss());
            e.put("lr", r.lr());
            if (!Double.isNaN(r.gradNorm())) e.put("grad_norm", r.gradNorm());
            e.put("ms", r.millis());
            e.put("tokens_per_second", r.tokensPerSecond());
        }
        ObjectNode mem = o.putObject("memory_peak_bytes");
        for (Category c : Category.values()) mem.put(c.name().toLowerCase(Locale.ROOT), ledger.peak(c));
        mem.put("total", ledger.peakTotal());
        if (before != null) o.set("eval_before", eval(m, before));
        if (after != null) o.set("eval_after", eval(m, after));
        return o;
    }

    private static ObjectNode eval(ObjectMapper m, Evaluator.Result r) {
        ObjectNode e = m.createObjectNode();
        e.put("loss", r.loss());
        e.put("perplexity", r.perplexity());
        if (!Double.isNaN(r.accuracy())) {
            e.put("exact_match", r.accuracy());
            e.put("examples", r.examples());
        }
        return e;
    }

    public static void writeJson(Path file, ObjectNode report) throws IOException {
        AtomicFiles.writeString(file, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
    }

    public static void writeMetrics(Path dir, List<Trainer.StepRecord> steps, MemoryLedger ledger, String title) throws IOException {
        StringBuilder csv = new StringBuilder("step,loss,grad_norm,lr,ms,tokens_per_s\n");
        for (Trainer.StepRecord r : steps) {
            csv.append(String.format(Locale.ROOT, "%d,%.6f,%s,%.6g,%.2f,%.1f%n", r.step(), r.loss(),
                    Double.isNaN(r.gradNorm()) ? "" : String.format(Locale.ROOT, "%.6g", r.gradNorm()), r.lr(), r.millis(),
                    r.tokensPerSecond()));
        }
        AtomicFiles.writeString(dir.resolve("metrics.csv"), csv.toString());
        AtomicFiles.writeString(dir.resolve("loss.svg"), Plots.lossCurve(steps, "Training loss: " + title));
        AtomicFiles.writeString(dir.resolve("memory.svg"), Plots.memoryBars(ledger, "Peak memory accounted: " + title));
    }
}
