package org.lomo4j.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks the next token from a row of logits: greedy at temperature 0, else temperature and top-p (nucleus). */
public record Sampler(double temperature, double topP) {

    public Sampler {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("--temperature must be a non-negative number, got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
    }

    public static Sampler greedy() {
        return new Sampler(0, 1);
    }

    public int pick(float[] logits, int off, int vocab, SplittableRandom rng) {
        if (temperature == 0) {
            int best = 0;
            for (int v = 1; v < vocab; v++) if (logits[off + v] > logits[off + best]) best = v;
            return best;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) max = Math.max(max, logits[off + v]);
        double[] p = new double[vocab];
        double sum = 0;
        for (int v = 0; v < vocab; v++) {
            p[v] = Math.exp((logits[off + v] - max) / temperature);
            sum += p[v];
        }
        Integer[] order = new Integer[vocab];
        for (int v = 0; v < vocab; v++) order[v] = v;
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        // Keep the smallest set of most likely tokens whose mass reaches top-p, then sample within it.
        double kept = 0;
        int n = 0;
        while (n < vocab && (n == 0 || kept < topP * sum)) kept += p[order[n++]];
        double u = rng.nextDouble() * kept;
        for (int i = 0; i < n; i++) {
            u -= p[order[i]];
            if (u <= 0) return order[i];
        }
        return order[n - 1];
    }
}
