package org.lomo4j.bench;

import org.lomo4j.kernels.Matmul;
import org.lomo4j.kernels.simd.MatmulVector;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * dx += dy · W over a whole batch on one core (the gradient LOMO computes before it touches W).
 * Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks.jar MatmulInputGrad}
 */
@State(Scope.Thread)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class MatmulInputGrad {
    @Param({"512x512", "512x1408", "1408x512"})
    public String shape;

    @Param({"simd", "plain"})
    public String kernel;

    private MatmulShapes m;

    @Setup(Level.Trial)
    public void setup() {
        m = new MatmulShapes(shape);
    }

    @Benchmark
    public float[] inputGrad() {
        // dx keeps accumulating across invocations; values stay finite for the benchmark's length.
        if (kernel.equals("simd")) {
            MatmulVector.inputGradRows(m.dx, m.dy, m.w, 0, m.in, m.out, 0, MatmulShapes.TOKENS);
        } else {
            for (int n = 0; n < MatmulShapes.TOKENS; n++) Matmul.inputGradRow(m.dx, m.dy, m.w, 0, m.in, m.out, n);
        }
        return m.dx;
    }
}
