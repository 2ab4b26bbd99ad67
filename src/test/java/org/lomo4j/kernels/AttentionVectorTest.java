package org.lomo4j.kernels;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.lomo4j.kernels.simd.AttentionVector;
import org.lomo4j.kernels.simd.Simd;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The Vector API attention against the plain one (itself checked against finite differences): head sizes
 * with and without tails, sequences shorter and longer than a vector of keys.
 */
class AttentionVectorTest {

    @ParameterizedTest(name = "B={0} T={1} NH={2} NKV={3} HD={4}")
    @CsvSource({"1,1,1,1,2", "2,5,2,1,8", "2,7,4,2,16", "1,9,4,4,64", "2,6,2,1,20", "2,37,2,1,64"})
    void matchesThePlainKernels(int b, int t, int nh, int nkv, int hd) {
        Assumptions.assumeTrue(Simd.enabled(), "Vector API module not present: " + Simd.describe());
        SplittableRandom rng = new SplittableRandom(b * 131L + t * 17L + hd);
        int n = b * t, scores = b * nh * t * t;
        float[] q = random(rng, n * nh * hd), k = random(rng, n * nkv * hd), v = random(rng, n * nkv * hd);
        float[] dout = random(rng, n * nh * hd);

        float[] kT = new float[n * nkv * hd], vT = new float[n * nkv * hd];
        for (int i = 0; i < b * nkv; i++) {
            AttentionVector.transposeItem(kT, k, t, nkv, hd, i);
            AttentionVector.transposeItem(vT, v, t, nkv, hd, i);
        }
        float[] outWant = new float[n * nh * hd], outGot = new float[n * nh * hd];
        float[] pWant = new float[scores], pGot = new float[scores];
        java.util.Arrays.fill(pGot, Float.NaN);  // every score, also the zeros after t, is written
        for (int i = 0; i < b * nh * t; i++) {
            Attention.forwardItem(outWant, pWant, q, k, v, t, nh, nkv, hd, i);
            AttentionVector.forwardItem(outGot, pGot, q, kT, v, t, nh, nkv, hd, i);
        }
        assertClose(outWant, outGot);
        assertClose(pWant, pGot);

        float[] dqWant = random(new SplittableRandom(1), n * nh * hd), dqGot = dqWant.clone();
        float[] dkWant = new float[n * nkv * hd], dkGot = new float[n * nkv * hd];
        float[] dvWant = new float[n * nkv * hd], dvGot = new float[n * nkv * hd];
        float[] dsWant = new float[scores], dsGot = new float[scores];
        for (int i = 0; i < b * nh * t; i++) {
            Attention.backwardQueryItem(dqWant, dsWant, dout, pWant, k, v, t, nh, nkv, hd, i);
            AttentionVector.backwardQueryItem(dqGot, dsGot, dout, pWant, k, vT, t, nh, nkv, hd, i);
        }
        for (int i = 0; i < b * nkv * t; i++) {
            Attention.backwardKeyValueItem(dkWant, dvWant, dsWant, pWant, q, dout, t, nh, nkv, hd, i);
            AttentionVector.backwardKeyValueItem(dkGot, dvGot, dsWant, pWant, q, dout, t, nh, nkv, hd, i);
        }
        assertClose(dsWant, dsGot);
        assertClose(dqWant, dqGot);
        assertClose(dkWant, dkGot);
        assertClose(dvWant, dvGot);
    }

    private static void assertClose(float[] want, float[] got) {
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5 * (1 + Math.abs(want[i])), "element " + i);
        }
    }

    private static float[] random(SplittableRandom rng, int len) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) a[i] = (float) (rng.nextDouble() * 2 - 1);
        return a;
    }
}
