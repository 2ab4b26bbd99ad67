package org.lomo4j.train;

import com.fasterxml.jackson.databind.JsonNode;
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
import java.util.Map;

/** What a training run writes about itself besides metrics.csv: report JSON, and SVG plots of loss and memory. */
public final class RunReport {
    private RunReport() {}

    /**
     * The report of a run after a session that started at {@code sessionStart}: the recipe, every step so far
     * (earlier sessions' from metrics.csv), and one entry per session (earlier ones from {@code previous}, the
     * run's report before this session, or null) with its outcome, speed and memory peaks.
     */
    public static ObjectNode json(LlamaConfig cfg, long parameters, TrainState state, int threads, TrainingRun.Outcome outcome,
                                  int sessionStart, MemoryLedger ledger, JsonNode previous) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        o.set("model", cfg.toJson());
        o.put("parameters", parameters);
        o.set("run", state.toJson());
        o.put("threads", threads);
        o.put("simd", Simd.enabled());
        List<Trainer.StepRecord> session = outcome.steps().stream().filter(r -> r.step() >= sessionStart).toList();
        double tokens = 0, seconds = 0;
        for (Trainer.StepRecord r : session) {
            tokens += r.tokens();
            seconds += r.millis() / 1000;
        }
        o.put("steps_this_run", session.size());
        o.put("tokens_per_second", seconds == 0 ? 0 : tokens / seconds);
        o.put("ms_per_step", session.isEmpty() ? 0 : 1000 * seconds / session.size());
        ArrayNode perStep = o.putArray("steps");
        for (Trainer.StepRecord r : outcome.steps()) {
            ObjectNode e = perStep.addObject();
            e.put("step", r.step());
            e.put("loss", r.loss());
            e.put("lr", r.lr());
            if (!Double.isNaN(r.gradNorm())) e.put("grad_norm", r.gradNorm());
            e.put("ms", r.millis());
            e.put("tokens_per_second", r.tokensPerSecond());
        }
        putPeaks(o, "memory_peak_bytes", ledger);

        ArrayNode sessions = o.putArray("sessions");
        if (previous != null && sessionStart > 0) {
            // Earlier sessions up to where this one continued (a resume from an older checkpoint cuts the later history).
            for (JsonNode s : previous.path("sessions")) {
                if (s.path("from_step").asInt() >= sessionStart) continue;
                ObjectNode kept = s.deepCopy();
                if (s.path("to_step").asInt() > sessionStart) kept.put("to_step", sessionStart);
                sessions.add(kept);
            }
        }
        ObjectNode now = sessions.addObject();
        now.put("from_step", sessionStart);
        now.put("to_step", outcome.step());
        now.put("outcome", outcome.status().name().toLowerCase(Locale.ROOT));
        if (outcome.failure() != null) now.put("failure", outcome.failure());
        now.put("ms_per_step", o.get("ms_per_step").asDouble());
        now.put("tokens_per_second", o.get("tokens_per_second").asDouble());
        now.put("memory_peak_total_bytes", ledger.peakTotal());
        now.put("finished_at", java.time.Instant.now().toString());

        ArrayNode evals = o.putArray("evals");
        if (previous != null && sessionStart > 0) {
            for (JsonNode e : previous.path("evals")) if (e.path("step").asInt() <= sessionStart) evals.add(e);
        }
        for (TrainingRun.EvalPoint p : outcome.evals()) {
            ObjectNode e = eval(m, p.result());
            e.put("step", p.step());
            evals.add(e);
        }

        if (!outcome.timeline().isEmpty()) {
            ArrayNode t = o.putArray("memory_timeline");
            for (org.lomo4j.memory.MemoryTimeline.Point p : outcome.timeline()) {
                ObjectNode e = t.addObject();
                e.put("at", p.label());
                ObjectNode bytes = e.putObject("bytes");
                p.bytes().forEach((c, b) -> bytes.put(c.name().toLowerCase(Locale.ROOT), b));
            }
        }

        JsonNode earlierBefore = previous != null && sessionStart > 0 ? previous.get("eval_before") : null;
        if (earlierBefore != null) o.set("eval_before", earlierBefore);
        else if (outcome.before() != null) o.set("eval_before", eval(m, outcome.before()));
        if (outcome.after() != null) o.set("eval_after", eval(m, outcome.after()));
        return o;
    }

    /** {@code ledger}'s peak bytes by category and in total, as {@code field} of {@code report}. */
    public static void putPeaks(ObjectNode report, String field, MemoryLedger ledger) {
        ObjectNode mem = report.putObject(field);
        for (Category c : Category.values()) mem.put(c.name().toLowerCase(Locale.ROOT), ledger.peak(c));
        mem.put("total", ledger.peakTotal());
    }

    /** The memory timeline a report holds (empty without one). */
    public static List<org.lomo4j.memory.MemoryTimeline.Point> timeline(JsonNode report) {
        List<org.lomo4j.memory.MemoryTimeline.Point> points = new java.util.ArrayList<>();
        for (JsonNode e : report.path("memory_timeline")) {
            Map<Category, Long> bytes = new java.util.EnumMap<>(Category.class);
            for (Category c : Category.values()) bytes.put(c, e.at("/bytes/" + c.name().toLowerCase(Locale.ROOT)).asLong());
            points.add(new org.lomo4j.memory.MemoryTimeline.Point(e.get("at").asText(), bytes));
        }
        return points;
    }

    /** A run directory's report.json, or null when it has none or cannot be read. */
    public static JsonNode read(Path dir) {
        Path f = dir.resolve(RunDirectory.REPORT);
        if (!java.nio.file.Files.isRegularFile(f)) return null;
        try {
            return new ObjectMapper().readTree(f.toFile());
        } catch (IOException e) {
            return null;
        }
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

    /** loss.svg (with the report's evaluations as points) and memory.svg beside the report (metrics.csv is written as the steps go). */
    public static void writePlots(Path dir, List<Trainer.StepRecord> steps, JsonNode report, MemoryLedger ledger, String title) throws IOException {
        List<double[]> evals = new java.util.ArrayList<>();
        for (JsonNode e : report.path("evals")) evals.add(new double[] {e.get("step").asDouble(), e.get("loss").asDouble()});
        AtomicFiles.writeString(dir.resolve("loss.svg"), Charts.svg(Charts.loss(steps, evals, "Training loss: " + title)));
        Map<Category, Long> peaks = new java.util.EnumMap<>(Category.class);
        for (Category c : Category.values()) peaks.put(c, ledger.peak(c));
        AtomicFiles.writeString(dir.resolve("memory.svg"), Charts.svg(Charts.memory(Map.of(title, peaks), "Peak memory accounted")));
        if (report.has("memory_timeline")) {
            AtomicFiles.writeString(dir.resolve("memory-timeline.svg"), Charts.svg(Charts.timeline(
                    Map.of(report.at("/run/optimizer/kind").asText(), timeline(report)), "Bytes alive during one training step"), Charts.WIDTH, 520));
        }
    }
}
