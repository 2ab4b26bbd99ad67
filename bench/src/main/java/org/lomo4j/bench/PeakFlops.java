package org.lomo4j.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * This machine's FP32 peak for one core: independent Vector API FMA chains, no memory traffic. The
 * score (ops/s) is FLOP/s; the matmul benchmarks report theirs the same way, so their share of peak is
 * their score over this one. Run: {@code java --add-modules jdk.incubator.vector -jar benchmarks.jar PeakFlops}
 * (add {@code -t 2} for all cores of a 2-core machine).
 */
@State(Scope.Thread)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class PeakFlops {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int ITERATIONS = 1 << 16;
    private static final int CHAINS = 8;  // enough independent FMAs to cover the FMA latency on both pipes

    private float seed = 1e-7f;

    @Benchmark
    @OperationsPerInvocation(ITERATIONS)
    public float fmaPerLane() {
        // Scored per FMA instruction; multiply by 2 × lanes for FLOP (see flopsPerOperation).
        FloatVector m = FloatVector.broadcast(S, 0.999999f);
        FloatVector a = FloatVector.broadcast(S, seed);
        FloatVector c0 = a, c1 = a.add(1f), c2 = a.add(2f), c3 = a.add(3f), c4 = a.add(4f), c5 = a.add(5f), c6 = a.add(6f), c7 = a.add(7f);
        for (int i = 0; i < ITERATIONS / CHAINS; i++) {
            c0 = c0.fma(m, a);
            c1 = c1.fma(m, a);
            c2 = c2.fma(m, a);
            c3 = c3.fma(m, a);
            c4 = c4.fma(m, a);
            c5 = c5.fma(m, a);
            c6 = c6.fma(m, a);
            c7 = c7.fma(m, a);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    /** FLOP per scored operation: one FMA over every lane. */
    public static int flopsPerOperation() {
        return 2 * S.length();
    }
}
