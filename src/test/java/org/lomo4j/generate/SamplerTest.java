package org.lomo4j.generate;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {
    // Row 1 of two rows of logits: token 2 is the most likely, then 0, then 1, then 3.
    private static final float[] LOGITS = {9, 9, 9, 9, 1.0f, 0.5f, 2.0f, -1.0f};

    @Test
    void greedyPicksTheArgmax() {
        assertEquals(2, Sampler.greedy().pick(LOGITS, 4, 4, new SplittableRandom(1)));
    }

    /** Counts of 200,000 draws against softmax(logits / temperature): Pearson's chi-square p-value. */
    private static double fit(Sampler s, double temperature, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int draws = 200_000;
        long[] counts = new long[4];
        for (int i = 0; i < draws; i++) counts[s.pick(LOGITS, 4, 4, rng)]++;
        double[] expected = new double[4];
        double z = 0;
        for (int v = 0; v < 4; v++) z += Math.exp(LOGITS[4 + v] / temperature);
        for (int v = 0; v < 4; v++) expected[v] = draws * Math.exp(LOGITS[4 + v] / temperature) / z;
        return new org.apache.commons.math3.stat.inference.ChiSquareTest().chiSquareTest(expected, counts);
    }

    @Test
    void temperatureSamplesTheSoftmax() {
        assertTrue(fit(new Sampler(1.0, 1.0), 1.0, 7) > 1e-3, "T = 1 draws fit softmax(logits)");
        assertTrue(fit(new Sampler(0.5, 1.0), 0.5, 8) > 1e-3, "T = 0.5 draws fit softmax(2 · logits)");
        // The test has the power to tell: T = 0.8 draws do not fit the T = 1 distribution.
        assertTrue(fit(new Sampler(0.8, 1.0), 1.0, 9) < 1e-9, "a wrong temperature is detected");
    }

    @Test
    void topPKeepsOnlyTheNucleus() {
        // p ≈ (0.23, 0.14, 0.62, 0.03): top-p 0.8 keeps tokens 2 and 0 only, in proportion 0.62 : 0.23.
        Sampler s = new Sampler(1.0, 0.8);
        SplittableRandom rng = new SplittableRandom(3);
        int draws = 100_000;
        int[] counts = new int[4];
        for (int i = 0; i < draws; i++) counts[s.pick(LOGITS, 4, 4, rng)]++;
        assertEquals(0, counts[1]);
        assertEquals(0, counts[3]);
        double want = Math.exp(2.0) / (Math.exp(2.0) + Math.exp(1.0));
        assertEquals(want, (double) counts[2] / draws, 0.01);
        // A tiny nucleus is greedy.
        assertEquals(2, new Sampler(1.0, 1e-6).pick(LOGITS, 4, 4, rng));
    }

    @Test
    void badSettingsNameTheFlag() {
        assertEquals("--temperature must be a non-negative number, got -1.0",
                assertThrows(IllegalArgumentException.class, () -> new Sampler(-1, 1)).getMessage());
        assertEquals("--temperature must be a non-negative number, got NaN",
                assertThrows(IllegalArgumentException.class, () -> new Sampler(Double.NaN, 1)).getMessage());
        assertEquals("--top-p must be in (0, 1], got NaN",
                assertThrows(IllegalArgumentException.class, () -> new Sampler(1, Double.NaN)).getMessage());
        assertEquals("--top-p must be in (0, 1], got 1.5",
                assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 1.5)).getMessage());
    }
}
