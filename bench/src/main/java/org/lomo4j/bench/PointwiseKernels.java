package org.lomo4j.bench;

import org.lomo4j.kernels.CrossEntropy;
import org.lomo4j.kernels.Embedding;
import org.lomo4j.kernels.Rope;
import org.lomo4j.kernels.SwiGlu;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The kernels that touch each element a few times: SwiGLU (F = 1408), RoPE on the queries, the softmax
 * cross-entropy over V = 259, and the embedding, forward and backward, on one core.
 * Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks.jar PointwiseKernels}
 */
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class PointwiseKernels {
    @Benchmark
    public float[] swigluForward(LayerShapes s) {
        SwiGlu.forward(s.h, s.gate, s.up, s.n, LayerShapes.F);
        return s.h;
    }

    @Benchmark
    public float[] swigluBackward(LayerShapes s) {
        SwiGlu.backward(s.dgate, s.dup, s.dh, s.gate, s.up, s.n, LayerShapes.F);
        return s.dgate;
    }

    @Benchmark
    public float[] ropeForwardAndBack(LayerShapes s) {
        Rope.forward(s.q, s.cos, s.sin, s.n, s.t, LayerShapes.NH, LayerShapes.HD);
        Rope.backward(s.q, s.cos, s.sin, s.n, s.t, LayerShapes.NH, LayerShapes.HD);  // rotates back: q stays bounded
        return s.q;
    }

    @Benchmark
    public float[] crossEntropyForward(LayerShapes s) {
        CrossEntropy.forward(s.losses, s.logits, s.targets, s.n, LayerShapes.V);
        return s.losses;
    }

    @Benchmark
    public float[] crossEntropyBackward(LayerShapes s) {
        CrossEntropy.backward(s.dlogits, s.logits, s.targets, 1f / s.n, s.n, LayerShapes.V);
        return s.dlogits;
    }

    @Benchmark
    public float[] embeddingForward(LayerShapes s) {
        Embedding.forward(s.y, s.tokens, s.table, 0, s.n, LayerShapes.C);
        return s.y;
    }

    @Benchmark
    public float[] embeddingBackward(LayerShapes s) {
        Embedding.backward(s.table, 0, s.dy, s.tokens, s.n, LayerShapes.C, LayerShapes.V);
        return s.table;
    }
}
