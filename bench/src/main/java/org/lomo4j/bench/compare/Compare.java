package org.lomo4j.bench.compare;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.ParameterLayout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * lomo4j against LibTorch on the same model, weights and batches, in one run. How to run (from the project root):
 * <pre>
 *   bench/compare [--model models/bench-24m/config.json] [--batch 8] [--seq 128] [--steps 12] [--threads 2]
 * </pre>
 * First the oracle check (one step, LOMO vs LibTorch fp64 SGD, every parameter), then each side in a process
 * of its own: lomo4j lomo / sgd / clipped lomo / adamw, LibTorch sgd / adamw, LibTorch in two thread set-ups (its intra-op
 * pool on all threads with OpenBLAS passive; one intra-op thread with OpenBLAS on all) so that it is measured
 * at its best. Writes bench/results/compare.md, compare.csv (per-step losses and times) and compare-loss.svg.
 */
public final class Compare {
    private record Run(String label, Map<String, String> env, JsonNode result) {
        /** The step times after {@code warmup} steps: median and a 95% confidence interval of the mean. */
        org.lomo4j.bench.Stats ms(int warmup) {
            double[] ms = new double[result.get("ms").size() - warmup];
            for (int i = 0; i < ms.length; i++) ms[i] = result.get("ms").get(i + warmup).asDouble();
            return org.lomo4j.bench.Stats.of(ms);
        }

        double medianMs(int warmup) {
            return ms(warmup).median();
        }
    }

    public static void main(String[] args) throws Exception {
        String[] defaults = {"--model", "models/bench-24m/config.json", "--batch", "8", "--seq", "128", "--steps", "12",
                "--threads", String.valueOf(Runtime.getRuntime().availableProcessors()), "--seed", "1234", "--lr", "0.05",
                "--adamw-lr", "0.001", "--out", "bench/results"};
        Map<String, String> opt = new LinkedHashMap<>();
        for (int i = 0; i < defaults.length; i += 2) opt.put(defaults[i], defaults[i + 1]);
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!opt.containsKey(args[i])) throw new IllegalArgumentException("unknown option " + args[i] + "; options: " + opt.keySet());
            opt.put(args[i], args[i + 1]);
        }
        Path model = Path.of(opt.get("--model"));
        LlamaConfig cfg = LlamaConfig.load(model);
        int batch = Integer.parseInt(opt.get("--batch")), seq = Integer.parseInt(opt.get("--seq")),
                steps = Integer.parseInt(opt.get("--steps")), threads = Integer.parseInt(opt.get("--threads"));
        int warmup = Math.min(2, steps - 1);
        long params = new ParameterLayout(cfg).totalSize();
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "# lomo4j vs LibTorch%n%nModel %s: %,d parameters (hidden %d, %d layers, %d/%d heads, "
                        + "vocab %d); batch %d x %d tokens; %d steps (median of steps %d..%d); %d threads each; fp32; "
                        + "synthetic:reverse batches; lr %s constant (AdamW %s), no clipping except where a row says so.%n%n", model, params, cfg.hiddenSize(),
                cfg.numHiddenLayers(), cfg.numAttentionHeads(), cfg.numKeyValueHeads(), cfg.vocabSize(), batch, seq, steps,
                warmup, steps - 1, threads, opt.get("--lr"), opt.get("--adamw-lr")));

        System.out.println("oracle check: one step, lomo4j LOMO (fp32) vs LibTorch SGD (fp64) ...");
        OracleCheck.Result oracle = OracleCheck.run(cfg, Math.min(batch, 4), Math.min(seq, 64), 7, 0.1, threads);
        String oracleText = OracleCheck.report(oracle);
        System.out.print(oracleText);
        md.append("## Correctness: LibTorch as the oracle\n\n").append(oracleText.replace("\n", "\n\n")).append('\n');

        String t = String.valueOf(threads);
        Map<String, String> passive = Map.of("OMP_NUM_THREADS", t, "OPENBLAS_NUM_THREADS", t, "OMP_WAIT_POLICY", "PASSIVE");
        Map<String, String> blasOnly = Map.of("OMP_NUM_THREADS", "1", "OPENBLAS_NUM_THREADS", t);
        List<Run> runs = new ArrayList<>();
        runs.add(side("lomo4j lomo", "lomo4j", "lomo", Map.of(), threads, opt));
        runs.add(side("lomo4j sgd", "lomo4j", "sgd", Map.of(), threads, opt));
        runs.add(side("lomo4j lomo, clip-norm 1.0", "lomo4j", "lomo-clip", Map.of(), threads, opt));
        runs.add(side("LibTorch sgd, intra-op " + t + " + BLAS " + t + " passive", "libtorch", "sgd", passive, threads, opt));
        runs.add(side("LibTorch sgd, intra-op 1 + BLAS " + t, "libtorch", "sgd", blasOnly, 1, opt));
        Run bestTorch = runs.get(3).medianMs(warmup) <= runs.get(4).medianMs(warmup) ? runs.get(3) : runs.get(4);
        runs.add(side("lomo4j adamw", "lomo4j", "adamw", Map.of(), threads, opt));
        runs.add(side(bestTorch.label().replace("sgd", "adamw"), "libtorch", "adamw", bestTorch.env(),
                bestTorch.result().get("threads").asInt(), opt));

        double torchSgd = bestTorch.medianMs(warmup);
        md.append("## Speed and memory\n\n| run | ms/step (median) | 95% CI of the mean | tokens/s | vs best LibTorch sgd | accounted peak | process peak RSS | loss first → last |\n"
                + "|---|---:|---:|---:|---:|---:|---:|---|\n");
        for (Run r : runs) {
            org.lomo4j.bench.Stats st = r.ms(warmup);
            double ms = st.median();
            JsonNode loss = r.result().get("loss");
            md.append(String.format(Locale.ROOT, "| %s | %.0f | %.0f–%.0f | %,.0f | %.2fx | %s | %s | %.4f → %.4f |%n", r.label(), ms, st.low(), st.high(),
                    batch * seq / (ms / 1000), torchSgd / ms, mib(r.result().get("accounted_bytes").asLong()),
                    mib(r.result().get("peak_rss_bytes").asLong()), loss.get(0).asDouble(), loss.get(loss.size() - 1).asDouble()));
        }
        double lomo = runs.get(0).medianMs(warmup), sgd = runs.get(1).medianMs(warmup), clipped = runs.get(2).medianMs(warmup);
        md.append(String.format(Locale.ROOT, "%nLOMO's step against a plain backward + SGD: %.2fx; LOMO clipped (a norm-only backward keeping "
                + "each weight's output gradient, then the weight gradients replayed with the update) against unclipped: %.2fx.%n", lomo / sgd, clipped / lomo));
        md.append("\n\"Accounted\": lomo4j's memory ledger (parameters, gradients, optimizer state, activations, scratch);"
                + " for LibTorch, its parameters, gradients and optimizer state (its activations are not counted)."
                + " tokens/s = batch x seq / median step time. Losses per step are in compare.csv.\n");

        Path out = Path.of(opt.get("--out"));
        Files.createDirectories(out);
        Files.writeString(out.resolve("compare.md"), md.toString());
        StringBuilder csv = new StringBuilder("run,step,loss,ms\n");
        for (Run r : runs) {
            for (int s = 0; s < r.result().get("loss").size(); s++) {
                csv.append(String.format(Locale.ROOT, "%s,%d,%.6f,%.1f%n", r.label(), s, r.result().get("loss").get(s).asDouble(),
                        r.result().get("ms").get(s).asDouble()));
            }
        }
        Files.writeString(out.resolve("compare.csv"), csv.toString());
        Files.writeString(out.resolve("compare-loss.svg"), LossPlot.svg(runs.stream().map(Run::label).toList(),
                runs.stream().map(r -> r.result().get("loss")).toList()));
        System.out.println();
        System.out.print(md);
        System.out.println("wrote " + out.resolve("compare.md") + ", compare.csv, compare-loss.svg");
        if (!oracle.passed()) System.exit(1);
    }

    private static Run side(String label, String side, String optimizer, Map<String, String> env, int threads,
                            Map<String, String> opt) throws IOException, InterruptedException {
        System.out.println("running " + label + " ...");
        String java = ProcessHandle.current().info().command().orElse("java");
        // Both sides in the same JVM set-up: a small initial heap and the serial collector, so that peak RSS shows
        // what a side needs rather than how far the default collector lets the heap grow.
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "-Xms16m", "-XX:+UseSerialGC", "-cp",
                System.getProperty("java.class.path"), Side.class.getName(), side, optimizer, opt.get("--model"), opt.get("--batch"),
                opt.get("--seq"), opt.get("--steps"), String.valueOf(threads), opt.get("--seed"),
                optimizer.equals("adamw") ? opt.get("--adamw-lr") : opt.get("--lr")));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().putAll(env);
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) throw new IllegalStateException(label + " failed: " + output);
        String last = output.strip().lines().reduce((a, b) -> b).orElseThrow();
        return new Run(label, env, new ObjectMapper().readTree(last));
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024));
    }
}
