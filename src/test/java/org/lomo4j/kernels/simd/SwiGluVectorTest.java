package org.lomo4j.kernels.simd;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.lomo4j.kernels.SwiGlu;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Vector API SwiGLU and its hand-built exp against the plain kernel (checked by finite differences) and Math.exp. */
class SwiGluVectorTest {

    @BeforeEach
    void needsSimd() {
        Assumptions.assumeTrue(Simd.enabled(), "Vector API module not present: " + Simd.describe());
    }

    @Test
    void expIsWithinTwoUlpsOfMathExpAndClampsOutsideTheFloatRange() {
        int lanes = SwiGluVector.lanes();
        float[] x = new float[lanes], y = new float[lanes];
        double worstUlps = 0;
        for (int i = 0; i <= 200_000; i += lanes) {
            for (int l = 0; l < lanes; l++) x[l] = -87f + (i + l) * (175f / 200_000);  // inside the clamps
            SwiGluVector.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, x, 0)).intoArray(y, 0);
            for (int l = 0; l < lanes; l++) {
                float want = (float) Math.exp(x[l]);
                worstUlps = Math.max(worstUlps, Math.abs(y[l] - want) / Math.ulp(want));
            }
        }
        assertTrue(worstUlps <= 2, "worst error " + worstUlps + " ulp");

        float[] extremes = new float[lanes];
        extremes[0] = -1000f;
        extremes[1] = 1000f;
        extremes[2] = 0f;
        SwiGluVector.exp(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, extremes, 0)).intoArray(y, 0);
        assertEquals((float) Math.exp(-87.3f), y[0], Math.ulp((float) Math.exp(-87.3f)) * 2, "clamped below: a normal float");
        assertEquals((float) Math.exp(88.3f), y[1], Math.ulp((float) Math.exp(88.3f)) * 2, "clamped above: finite");
        assertEquals(1f, y[2], 0f);
    }

    @ParameterizedTest(name = "F={0}")
    @ValueSource(ints = {1, 7, 16, 33, 1408})
    void matchesThePlainKernels(int f) {
        SplittableRandom rng = new SplittableRandom(f);
        int n = 3;
        float[] gate = random(rng, n * f, 12), up = random(rng, n * f, 2), dh = random(rng, n * f, 1);
        gate[0] = 95f;   // σ = 1 in float
        gate[n * f - 1] = -95f;  // e^-g past the clamp: σ ≈ 0

        float[] want = new float[n * f], got = new float[n * f];
        float[] dgWant = random(new SplittableRandom(1), n * f, 1), dgGot = dgWant.clone();  // both accumulate
        float[] duWant = random(new SplittableRandom(2), n * f, 1), duGot = duWant.clone();
        for (int row = 0; row < n; row++) {
            SwiGlu.forwardRow(want, gate, up, f, row);
            SwiGluVector.forwardRow(got, gate, up, f, row);
            SwiGlu.backwardRow(dgWant, duWant, dh, gate, up, f, row);
            SwiGluVector.backwardRow(dgGot, duGot, dh, gate, up, f, row);
        }
        assertClose(want, got);
        assertClose(dgWant, dgGot);
        assertClose(duWant, duGot);
    }

    private static void assertClose(float[] want, float[] got) {
        for (int i = 0; i < want.length; i++) {
            // σ's few ulps, times |g| up to 12 where 1 + g · (1 − σ) cancels
            assertEquals(want[i], got[i], 1e-5f * Math.max(1f, Math.abs(want[i])), "element " + i);
        }
    }

    private static float[] random(SplittableRandom rng, int len, float range) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) a[i] = (float) (range * (rng.nextDouble() * 2 - 1));
        return a;
    }
}
