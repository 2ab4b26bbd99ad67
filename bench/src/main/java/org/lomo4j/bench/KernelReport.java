package org.lomo4j.bench;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.util.Collection;
import java.util.Locale;

/**
 * Runs the peak-FLOP benchmark and the matmul family in one go and prints each kernel's GFLOP/s and its
 * share of this core's measured peak, as a Markdown table.
 * Run: {@code java --add-modules jdk.incubator.vector -cp benchmarks.jar org.lomo4j.bench.KernelReport}
 */
public final class KernelReport {
    private KernelReport() {}

    public static void main(String[] args) throws RunnerException {
        Options opts = new OptionsBuilder()
                .include(PeakFlops.class.getSimpleName())
                .include(MatmulForward.class.getSimpleName())
                .include(MatmulInputGrad.class.getSimpleName())
                .include(LomoWeightUpdate.class.getSimpleName())
                .warmupIterations(2).warmupTime(TimeValue.seconds(1))
                .measurementIterations(3).measurementTime(TimeValue.seconds(1))
                .forks(1)
                .build();
        Collection<RunResult> results = new Runner(opts).run();

        double peak = 0;
        for (RunResult r : results) {
            if (r.getParams().getBenchmark().endsWith("fmaPerLane")) {
                peak = r.getPrimaryResult().getScore() * PeakFlops.flopsPerOperation();
            }
        }
        System.out.printf(Locale.ROOT, "%nOne core, N = %d tokens. FP32 peak (Vector API FMA loop): %.1f GFLOP/s%n%n",
                MatmulShapes.TOKENS, peak / 1e9);
        System.out.println("| kernel | shape (in x out) | impl | GFLOP/s | share of peak |");
        System.out.println("|---|---|---|---:|---:|");
        for (RunResult r : results) {
            String bench = r.getParams().getBenchmark();
            if (bench.endsWith("fmaPerLane")) continue;
            String shape = r.getParams().getParam("shape");
            double flops = r.getPrimaryResult().getScore() * MatmulShapes.flops(shape);
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %.1f | %.0f%% |%n", bench.substring(bench.lastIndexOf('.', bench.lastIndexOf('.') - 1) + 1),
                    shape, r.getParams().getParam("kernel"), flops / 1e9, 100 * flops / peak);
        }
    }
}
