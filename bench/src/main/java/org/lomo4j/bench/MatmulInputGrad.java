package org.lomo4j.bench;

import org.lomo4j.kernels.Matmul;
import org.lomo4j.kernels.simd.MatmulVector;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Warmup;

/**
 * dx += dy · W over a whole batch on one core (the gradient LOMO computes before it touches W). The SIMD
 * kernel first packs W into panels, once per product, as the model does.
 * Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks.jar MatmulInputGrad}
 */
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class MatmulInputGrad {
    @Benchmark
    public float[] inputGrad(MatmulShapes m) {
        // dx keeps accumulating across invocations; values stay finite for the benchmark's length.
        if (m.simd()) {
            MatmulVector.packColumns(m.wPacked, m.w, 0, m.out, m.in, 0, MatmulVector.panels(m.in));
            MatmulVector.inputGradRows(m.dx, m.dy, m.wPacked, m.in, m.out, 0, MatmulShapes.TOKENS, m.ws, 0);
        } else {
            for (int n = 0; n < MatmulShapes.TOKENS; n++) Matmul.inputGradRow(m.dx, m.dy, m.w, 0, m.in, m.out, n);
        }
        return m.dx;
    }
}
