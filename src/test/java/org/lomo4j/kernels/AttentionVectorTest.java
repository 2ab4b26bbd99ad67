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
 * with and without tails, sequences shorter and longer than a vector of keys and than a block of 64.
 */
class AttentionVectorTest {

    @ParameterizedTest(name = "B={0} T={1} NH={2} NKV={3} HD={4}")
    @CsvSource({"1,1,1,1,2", "2,5,2,1,8", "2,7,4,2,16", "1,9,4,4,64", "2,6,2,1,20", "2,37,2,1,64", "1,150,2,1,16"})
    void matchesThePlainKernels(int b, int t, int nh, int nkv, int hd) {
        Assumptions.assumeTrue(Simd.enabled(), "Vector API module not present: " + Simd.describe());
        SplittableRandom rng = new SplittableRandom(b * 131L + t * 17L + hd);
        int n = b * t, rows = b * nh * t;
        // Scores of a few units: rows whose maximum moves between 64-key blocks, so the rescaling runs.
        float[] q = random(rng, n * nh * hd, 3), k = random(rng, n * nkv * hd, 3), v = random(rng, n * nkv * hd, 1);
        float[] dout = random(rng, n * nh * hd, 1);
        float[] work = new float[AttentionVector.WORK_FLOATS];

        int padded = b * AttentionVector.paddedSeq(t);
        float[] kT = new float[padded * nkv * hd], vT = new float[padded * nkv * hd];
        float[] qT = new float[padded * nh * hd], doutT = new float[padded * nh * hd];
        for (int i = 0; i < b * nkv; i++) {
            AttentionVector.transposeItem(kT, k, t, nkv, hd, i);
            AttentionVector.transposeItem(vT, v, t, nkv, hd, i);
        }
        for (int i = 0; i < b * nh; i++) {
            AttentionVector.transposeItem(qT, q, t, nh, hd, i);
            AttentionVector.transposeItem(doutT, dout, t, nh, hd, i);
        }
        float[] outWant = new float[n * nh * hd], outGot = new float[n * nh * hd];
        float[] lseWant = new float[rows], lseGot = new float[rows];
        java.util.Arrays.fill(outGot, Float.NaN);  // every output element is written
        for (int i = 0; i < rows; i++) {
            Attention.forwardItem(outWant, lseWant, q, k, v, t, nh, nkv, hd, i);
            AttentionVector.forwardItem(outGot, lseGot, q, kT, v, work, 0, t, nh, nkv, hd, i);
        }
        assertClose(outWant, outGot);
        assertClose(lseWant, lseGot);

        float[] dqWant = random(new SplittableRandom(1), n * nh * hd, 1), dqGot = dqWant.clone();
        float[] dkWant = new float[n * nkv * hd], dkGot = new float[n * nkv * hd];
        float[] dvWant = new float[n * nkv * hd], dvGot = new float[n * nkv * hd];
        float[] deltaWant = new float[rows], deltaGot = new float[rows];
        for (int i = 0; i < rows; i++) {
            Attention.backwardQueryItem(dqWant, deltaWant, dout, outWant, lseWant, q, k, v, t, nh, nkv, hd, i);
            AttentionVector.backwardQueryItem(dqGot, deltaGot, dout, outWant, lseWant, q, k, kT, vT, work, 0, t, nh, nkv, hd, i);
        }
        for (int i = 0; i < b * nkv * t; i++) {
            Attention.backwardKeyValueItem(dkWant, dvWant, deltaWant, lseWant, q, k, v, dout, t, nh, nkv, hd, i);
            AttentionVector.backwardKeyValueItem(dkGot, dvGot, deltaWant, lseWant, q, k, v, dout, qT, doutT, work, 0, t, nh, nkv, hd, i);
        }
        assertClose(deltaWant, deltaGot);
        assertClose(dqWant, dqGot);
        assertClose(dkWant, dkGot);
        assertClose(dvWant, dvGot);
    }

    private static void assertClose(float[] want, float[] got) {
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5 * (1 + Math.abs(want[i])), "element " + i);
        }
    }

    private static float[] random(SplittableRandom rng, int len, float scale) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) a[i] = (float) (rng.nextDouble() * 2 - 1) * scale;
        return a;
    }
}
