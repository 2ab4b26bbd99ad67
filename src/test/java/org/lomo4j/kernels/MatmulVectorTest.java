package org.lomo4j.kernels;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.lomo4j.kernels.simd.MatmulVector;
import org.lomo4j.kernels.simd.Simd;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The Vector API matmul against the plain-Java one (itself checked against finite differences), on shapes with every kind of tail. */
class MatmulVectorTest {

    @ParameterizedTest(name = "N={0} IN={1} OUT={2}")
    @CsvSource({"1,1,1", "3,5,7", "7,16,4", "8,33,9", "5,64,6", "9,100,13", "16,128,512", "4,257,3",
            // Past one packed block: depth > KC (256) in every product, rows > MC (256) for x and dx.
            "300,270,40", "20,300,290", "270,24,35"})
    void matchesThePlainKernels(int n, int in, int out) {
        Assumptions.assumeTrue(Simd.enabled(), "Vector API module not present: " + Simd.describe());
        SplittableRandom rng = new SplittableRandom(n * 31L + in * 7L + out);
        int wOff = 5;
        float[] x = random(rng, n * in), w = random(rng, wOff + out * in), dy = random(rng, n * out);

        int wsLen = MatmulVector.workspaceFloats(Math.max(n, out), Math.max(n, Math.max(in, out)));
        float[] ws = new float[3 + wsLen];  // at an offset, as a worker's slot is
        float[] want = new float[n * out], got = new float[n * out];
        java.util.Arrays.fill(got, Float.NaN);  // the forward overwrites
        Matmul.forward(want, x, w, wOff, n, in, out);
        // W packed in two parallel-style halves, as B of the forward (Wᵀ) and of the input gradient (W).
        float[] wT = new float[MatmulVector.packedFloats(in, out)], wp = new float[MatmulVector.packedFloats(out, in)];
        MatmulVector.packTransposed(wT, w, wOff, out, in, 0, MatmulVector.panels(out) / 2);
        MatmulVector.packTransposed(wT, w, wOff, out, in, MatmulVector.panels(out) / 2, MatmulVector.panels(out));
        MatmulVector.packColumns(wp, w, wOff, out, in, 0, MatmulVector.panels(in) / 2);
        MatmulVector.packColumns(wp, w, wOff, out, in, MatmulVector.panels(in) / 2, MatmulVector.panels(in));
        MatmulVector.forwardRows(got, x, wT, in, out, 0, n, ws, 3);
        assertClose(want, got, in);

        // Accumulation: both add onto the same non-zero starting values.
        float[] dxWant = random(new SplittableRandom(1), n * in), dxGot = dxWant.clone();
        float[] dwWant = random(new SplittableRandom(2), out * in + 3), dwGot = dwWant.clone();
        Matmul.backward(dxWant, dwWant, 3, dy, x, w, wOff, n, in, out);
        MatmulVector.inputGradRows(dxGot, dy, wp, in, out, 0, n, ws, 3);
        // x packed in two halves too; then tiles of 1..17 rows, as the sinks ask for them, the last
        // tile of each split partial.
        float[] xp = new float[MatmulVector.packedFloats(n, in)];
        int half = MatmulVector.panels(in) / 2;
        MatmulVector.packColumns(xp, x, 0, n, in, 0, half);
        MatmulVector.packColumns(xp, x, 0, n, in, half, MatmulVector.panels(in));
        int tile = 1 + out % 17;
        for (int o0 = 0; o0 < out; o0 += tile) {
            MatmulVector.weightGradRows(dwGot, 3 + o0 * in, dy, xp, n, in, out, o0, Math.min(tile, out - o0), ws, 3);
        }
        assertClose(dxWant, dxGot, out);
        assertClose(dwWant, dwGot, n);

        // A sub-range writes only its own rows.
        if (n > 2) {
            float[] part = new float[n * out];
            MatmulVector.forwardRows(part, x, wT, in, out, 1, n - 1, ws, 3);
            for (int o = 0; o < out; o++) {
                assertEquals(0f, part[o]);
                assertEquals(0f, part[(n - 1) * out + o]);
                assertEquals(want[out + o], part[out + o], 1e-5f * in);
            }
        }
    }

    private static void assertClose(float[] want, float[] got, int terms) {
        for (int i = 0; i < want.length; i++) {
            // Sums of `terms` products of values in [-1, 1]: rounding order differs, error grows like sqrt(terms)·eps.
            assertEquals(want[i], got[i], 1e-6f * (1 + terms), "element " + i);
        }
    }

    private static float[] random(SplittableRandom rng, int len) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) a[i] = (float) (rng.nextDouble() * 2 - 1);
        return a;
    }
}
