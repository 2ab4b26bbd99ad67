package org.lomo4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.lomo4j.checkpoint.AtomicFiles;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.train.Charts;
import org.lomo4j.train.RunReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "report", mixinStandardHelpOptions = true,
        description = {"Several runs' memory side by side, from their report.json: peaks by category (the LOMO paper's",
                "Table 1 as a picture), or with --timeline the bytes alive through one step (train --memory-timeline)."})
final class ReportCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "<run dir>", description = "Run directories (each with a report.json)")
    List<Path> runs;

    @Option(names = "--out", defaultValue = "memory-comparison.svg", description = "The chart: .svg or .png. Default: ${DEFAULT-VALUE}")
    Path out;

    @Option(names = "--timeline", description = "Draw the runs' memory timelines (train --memory-timeline) side by side instead of their peaks")
    boolean timeline;

    @Override
    public Integer call() throws Exception {
        String name = out.getFileName().toString().toLowerCase(Locale.ROOT);
        if (!name.endsWith(".svg") && !name.endsWith(".png")) throw new IllegalArgumentException("--out must end in .svg or .png, got " + out);
        Map<String, Map<Category, Long>> peaks = new LinkedHashMap<>();
        Map<String, List<org.lomo4j.memory.MemoryTimeline.Point>> timelines = new LinkedHashMap<>();
        String model = null;
        for (Path run : runs) {
            JsonNode r = RunReport.read(run);
            if (r == null) throw new IllegalArgumentException(run + ": no readable report.json (is it a run directory of train?)");
            if (timeline) {
                if (!r.has("memory_timeline")) throw new IllegalArgumentException(run + ": no memory timeline (train it with --memory-timeline)");
                timelines.put(r.at("/run/optimizer/kind").asText("?") + " (" + run.getFileName() + ")", RunReport.timeline(r));
            }
            Map<Category, Long> bytes = new EnumMap<>(Category.class);
            for (Category c : Category.values()) bytes.put(c, r.at("/memory_peak_bytes/" + c.name().toLowerCase(Locale.ROOT)).asLong());
            String label = r.at("/run/optimizer/kind").asText("?") + " (" + run.getFileName() + ")";
            peaks.put(label, bytes);
            model = String.format(Locale.ROOT, "%,d parameters, batch %d x %d, %s weights", r.get("parameters").asLong(),
                    r.at("/run/batch").asInt(), r.at("/run/seq").asInt(), r.at("/run/param_dtype").asText("f32"));
        }
        System.out.printf("%-28s", "run");
        for (Category c : Category.values()) System.out.printf("%18s", c.label());
        System.out.printf("%14s%n", "Total");
        for (var e : peaks.entrySet()) {
            System.out.printf("%-28s", e.getKey());
            long total = 0;
            for (Category c : Category.values()) {
                System.out.printf("%18s", MemoryLedger.human(e.getValue().get(c)));
                total += e.getValue().get(c);
            }
            System.out.printf("%14s%n", MemoryLedger.human(total));
        }
        var chart = timeline ? Charts.timeline(timelines, "Bytes alive during one training step") : Charts.memory(peaks, "Peak memory accounted");
        Charts.subtitle(chart, model);
        int height = timeline ? 520 : Charts.HEIGHT;
        if (name.endsWith(".png")) {
            byte[] png = Charts.png(chart, Charts.WIDTH, height);
            AtomicFiles.write(out, o -> o.write(png));
        } else {
            AtomicFiles.writeString(out, Charts.svg(chart, Charts.WIDTH, height));
        }
        System.out.println("wrote " + out);
        return 0;
    }
}
