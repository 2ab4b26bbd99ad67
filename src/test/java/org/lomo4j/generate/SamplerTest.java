package org.lomo4j.generate;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SamplerTest {
    // Row 1 of two rows of logits: token 2 is the most likely, then 0, then 1, then 3.
    private static final float[] LOGITS = {9, 9, 9, 9, 1.0f, 0.5f, 2.0f, -1.0f};

    @Test
    void greedyPicksTheArgmax() {
        assertEquals(2, Sampler.greedy().pick(LOGITS, 4, 4, new SplittableRandom(1)));
    }

    @Test
    void temperatureSamplesTheSoftmax() {
        Sampler s = new Sampler(1.0, 1.0);
        SplittableRandom rng = new SplittableRandom(7);
        int draws = 200_000;
        int[] counts = new int[4];
        for (int i = 0; i < draws; i++) counts[s.pick(LOGITS, 4, 4, rng)]++;
        double z = 0;
        for (int v = 0; v < 4; v++) z += Math.exp(LOGITS[4 + v]);
        for (int v = 0; v < 4; v++) {
            double p = Math.exp(LOGITS[4 + v]) / z;
            double sd = Math.sqrt(p * (1 - p) / draws);
            assertEquals(p, (double) counts[v] / draws, 5 * sd, "token " + v);
        }
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
