package org.lomo4j.bench;

import org.lomo4j.kernels.Attention;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Causal GQA attention of one layer (the plain FlashAttention-2 kernels), forward and backward (both passes), on
 * one core; score = calls per second.
 * Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks.jar AttentionKernels}
 */
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class AttentionKernels {
    @Benchmark
    public float[] forward(LayerShapes s) {
        Attention.forward(s.att, s.lse, s.q, s.k, s.v, s.b, s.t, LayerShapes.NH, LayerShapes.NKV, LayerShapes.HD);
        return s.att;
    }

    @Benchmark
    public float[] backward(LayerShapes s) {
        Attention.backward(s.dq, s.dk, s.dv, s.delta, s.datt, s.att, s.lse, s.q, s.k, s.v, s.b, s.t, LayerShapes.NH,
                LayerShapes.NKV, LayerShapes.HD);
        return s.dk;
    }
}
