package org.lomo4j.bench;

import org.lomo4j.kernels.Matmul;
import org.lomo4j.kernels.Update;
import org.lomo4j.kernels.simd.MatmulVector;
import org.lomo4j.model.GradientSink;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Arrays;

/**
 * LOMO's fused step for one weight on one core: for every tile of rows, its gradient dyᵀ · x into a
 * one-tile scratch, then {@code W -= lr · g} in place, as {@code LomoPass} does; the SIMD kernel first packs x
 * into column panels, once per weight, as the model does. FLOP counted are the
 * gradient's. The plain kernel computes one row at a time.
 * Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks.jar LomoWeightUpdate}
 */
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class LomoWeightUpdate {
    @Benchmark
    public float[] gradientAndUpdate(MatmulShapes m) {
        int tile = GradientSink.TILE_ROWS;
        if (m.simd()) MatmulVector.packColumns(m.xPacked, m.x, 0, MatmulShapes.TOKENS, m.in, 0, MatmulVector.panels(m.in));  // once per weight
        for (int o0 = 0; o0 < m.out; o0 += tile) {
            int rows = Math.min(tile, m.out - o0);
            Arrays.fill(m.scratch, 0, rows * m.in, 0f);
            if (m.simd()) {
                MatmulVector.weightGradRows(m.scratch, 0, m.dy, m.xPacked, MatmulShapes.TOKENS, m.in, m.out, o0, rows, m.ws, 0);
            } else {
                for (int r = 0; r < rows; r++) Matmul.weightGradRow(m.scratch, r * m.in, m.dy, m.x, MatmulShapes.TOKENS, m.in, m.out, o0 + r);
            }
            for (int r = 0; r < rows; r++) Update.sgdRow(m.w, (o0 + r) * m.in, m.scratch, r * m.in, m.in, m.hp);
        }
        return m.w;
    }
}
