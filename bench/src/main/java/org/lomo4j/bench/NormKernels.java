package org.lomo4j.bench;

import org.lomo4j.kernels.RmsNorm;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Warmup;

/**
 * RMSNorm over C = 512: forward, the input gradient, and the weight gradient, on one core.
 * Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks.jar NormKernels}
 */
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class NormKernels {
    @Benchmark
    public float[] forward(LayerShapes s) {
        RmsNorm.forward(s.y, s.rstd, s.x, s.w, 0, s.n, LayerShapes.C, 1e-5f);
        return s.y;
    }

    @Benchmark
    public float[] inputGrad(LayerShapes s) {
        for (int i = 0; i < s.n; i++) RmsNorm.inputGradRow(s.dx, s.dy, s.x, s.rstd, s.w, 0, LayerShapes.C, i);
        return s.dx;
    }

    @Benchmark
    public float[] weightGrad(LayerShapes s) {
        RmsNorm.weightGrad(s.y, 0, s.dy, s.x, s.rstd, s.n, LayerShapes.C);
        return s.y;
    }
}
