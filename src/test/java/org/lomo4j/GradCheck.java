package org.lomo4j;

import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Central finite differences and a tolerance-aware comparison that reports the worst element, as llm.c's checker does. */
public final class GradCheck {
    private GradCheck() {}

    /** d f / d x[off + i] for i in [0, len), by (f(x + h) − f(x − h)) / 2h; x is restored. */
    public static double[] numeric(float[] x, int off, int len, float h, DoubleSupplier f) {
        double[] g = new double[len];
        for (int i = 0; i < len; i++) {
            float saved = x[off + i];
            x[off + i] = saved + h;
            double plus = f.getAsDouble();
            x[off + i] = saved - h;
            double minus = f.getAsDouble();
            x[off + i] = saved;
            // The step actually taken in float, not the nominal h.
            double step = (double) (saved + h) - (double) (saved - h);
            g[i] = (plus - minus) / step;
        }
        return g;
    }

    public static double[] numeric(float[] x, float h, DoubleSupplier f) {
        return numeric(x, 0, x.length, h, f);
    }

    /** Σ r · y in double: a scalar objective whose gradient with respect to y is r. */
    public static double weightedSum(float[] y, float[] r) {
        double s = 0;
        for (int i = 0; i < y.length; i++) s += (double) r[i] * y[i];
        return s;
    }

    /**
     * Every element within {@code rtol · max|expected|} of the expected value (a scale-aware bound: finite
     * differences in float are accurate relative to the tensor's magnitude, not to each tiny element).
     */
    public static void assertClose(String what, double[] expected, float[] actual, int actualOff, double rtol) {
        double scale = 0;
        for (double e : expected) scale = Math.max(scale, Math.abs(e));
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs(expected[i] - actual[actualOff + i]);
            if (d > worst) {
                worst = d;
                worstAt = i;
            }
        }
        double rel = scale == 0 ? worst : worst / scale;
        String msg = String.format(Locale.ROOT, "%s: max |diff| %.3e at %d (expected %.6e, got %.6e), relative to max %.3e: %.3e",
                what, worst, worstAt, worstAt < 0 ? 0 : expected[worstAt], worstAt < 0 ? 0 : actual[actualOff + worstAt], scale, rel);
        assertTrue(scale > 0, what + ": expected gradient is all zeros, the check would be vacuous");
        assertTrue(rel <= rtol, msg);
    }

    public static void assertClose(String what, double[] expected, float[] actual, double rtol) {
        assertClose(what, expected, actual, 0, rtol);
    }

    public static float[] random(SplittableRandom rng, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((rng.nextDouble() * 2 - 1) * scale);
        return a;
    }
}
