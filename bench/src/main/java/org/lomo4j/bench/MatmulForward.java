package org.lomo4j.bench;

import org.lomo4j.kernels.Matmul;
import org.lomo4j.kernels.simd.MatmulVector;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Warmup;

/**
 * y = x · Wᵀ over a whole batch on one core; score = matmuls per second (× {@link MatmulShapes#flops} = FLOP/s).
 * The SIMD kernel first packs W into panels, once per product, as the model does.
 * Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks.jar MatmulForward}
 */
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class MatmulForward {
    @Benchmark
    public float[] forward(MatmulShapes m) {
        if (m.simd()) {
            MatmulVector.packTransposed(m.wPacked, m.w, 0, m.out, m.in, 0, MatmulVector.panels(m.out));
            MatmulVector.forwardRows(m.y, m.x, m.wPacked, m.in, m.out, 0, MatmulShapes.TOKENS, m.ws, 0);
        } else {
            for (int n = 0; n < MatmulShapes.TOKENS; n++) Matmul.forwardRow(m.y, m.x, m.w, 0, m.in, m.out, n);
        }
        return m.y;
    }
}
