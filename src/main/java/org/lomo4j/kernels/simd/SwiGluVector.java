package org.lomo4j.kernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.lomo4j.kernels.SwiGlu;

/**
 * {@link SwiGlu} with the Vector API, for the JVM backend: same rows, same formulas. σ(g) needs e^x, which
 * {@code Math.exp} computes one double at a time; at bench-24m's shapes that made the SwiGLU forward and
 * backward a tenth of a step. {@link #exp} is built from lane-wise adds, FMAs and bit moves only. The Vector
 * API's own {@code EXP} is not used: compiled code runs SVML and the interpreter runs {@code Math.exp} per
 * lane, which differ in the last bit, so results would depend on JIT timing and a resumed run would drift
 * from an uninterrupted one. ({@code reduceLanes(ADD)} differs between the two modes the same way, which is
 * why no SIMD kernel here sums across lanes.)
 */
public final class SwiGluVector {
    private SwiGluVector() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = S.withLanes(int.class);
    private static final int L = S.length();

    private static final float LOG2E = 1.44269504f;
    private static final float LN2_HI = 0.693145752f;    // ln 2 = LN2_HI + LN2_LO, LN2_HI with 16 significant bits:
    private static final float LN2_LO = 1.42860677e-6f;  // k · LN2_HI is exact for |k| ≤ 2⁸
    private static final float ROUND = 12582912f;        // 1.5 · 2²³: x + ROUND − ROUND rounds x to an integer
    private static final float MIN_X = -87.3f;           // e^x stays a normal float: 2^k with k in [-126, 127]
    private static final float MAX_X = 88.3f;

    /**
     * e^x lane by lane, within 2 ulp for x in [-87.3, 88.3] (clamped outside): x = k·ln 2 + r with |r| ≤ ln 2 / 2,
     * e^r by its Taylor polynomial to r⁷ (remainder below 2⁻²⁷), times 2^k written into the exponent bits.
     */
    static FloatVector exp(FloatVector x) {
        x = x.max(MIN_X).min(MAX_X);
        FloatVector shifted = x.fma(LOG2E, ROUND);
        FloatVector k = shifted.sub(ROUND);
        FloatVector r = k.fma(FloatVector.broadcast(S, -LN2_HI), x);
        r = k.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = r.fma(1f / 5040, 1f / 720);
        p = p.fma(r, FloatVector.broadcast(S, 1f / 120));
        p = p.fma(r, FloatVector.broadcast(S, 1f / 24));
        p = p.fma(r, FloatVector.broadcast(S, 1f / 6));
        p = p.fma(r, FloatVector.broadcast(S, 0.5f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        // shifted's bits are ROUND's plus k (its last place is 1); 2^k's bits are (k + 127) << 23.
        IntVector kBits = shifted.reinterpretAsInts().sub(Float.floatToRawIntBits(ROUND) - 127);
        FloatVector twoToK = kBits.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(twoToK);
    }

    /** σ(g) = 1 / (1 + e^-g). */
    static FloatVector sigmoid(FloatVector g) {
        FloatVector one = FloatVector.broadcast(S, 1f);
        return one.div(one.add(exp(g.neg())));
    }

    /** Row n of {@code h = silu(gate) · up}, as {@link SwiGlu#forwardRow}. */
    public static void forwardRow(float[] h, float[] gate, float[] up, int f, int n) {
        int off = n * f;
        for (int j = 0; j < f; j += L) {
            VectorMask<Float> m = S.indexInRange(j, f);
            FloatVector g = FloatVector.fromArray(S, gate, off + j, m);
            FloatVector u = FloatVector.fromArray(S, up, off + j, m);
            g.mul(sigmoid(g)).mul(u).intoArray(h, off + j, m);
        }
    }

    /** Row n of the gradients, as {@link SwiGlu#backwardRow}. */
    public static void backwardRow(float[] dgate, float[] dup, float[] dh, float[] gate, float[] up, int f, int n) {
        int off = n * f;
        FloatVector one = FloatVector.broadcast(S, 1f);
        for (int j = 0; j < f; j += L) {
            int o = off + j;
            VectorMask<Float> m = S.indexInRange(j, f);
            FloatVector g = FloatVector.fromArray(S, gate, o, m);
            FloatVector sig = sigmoid(g);
            FloatVector d = FloatVector.fromArray(S, dh, o, m);
            FloatVector u = FloatVector.fromArray(S, up, o, m);
            d.mul(g).fma(sig, FloatVector.fromArray(S, dup, o, m)).intoArray(dup, o, m);
            FloatVector slope = g.fma(one.sub(sig), one);  // 1 + g · (1 − σ)
            d.mul(u).mul(sig).fma(slope, FloatVector.fromArray(S, dgate, o, m)).intoArray(dgate, o, m);
        }
    }

    static int lanes() {
        return L;
    }
}
