package org.lomo4j.model;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.lomo4j.TinyModels;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.parallel.Parallel;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Generation with a key/value cache gives the logits of a full forward over the whole prefix. */
class KvCacheTest {
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    /** Three prompts of different lengths, right-padded, then 6 tokens each: cached logits against uncached ones at every step. */
    @ParameterizedTest
    @ValueSource(strings = {"untied", "tied", "qwen2", "qwen3", "vocab-tiles"})
    void cachedLogitsEqualAFullForwardAtEveryStep(String name) {
        LlamaConfig cfg = TinyModels.named(name);
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel cached = TinyModels.model(cfg, 3, PAR, ledger);
        LlamaModel full = TinyModels.model(cfg, 3, PAR, new MemoryLedger());
        int v = cfg.vocabSize(), b = 3, steps = 6;
        int[] len = {3, 5, 2};
        int t = 5, maxLen = t + steps;
        SplittableRandom rng = new SplittableRandom(9);
        int[][] seq = new int[b][maxLen];
        for (int[] row : seq) for (int i = 0; i < row.length; i++) row[i] = rng.nextInt(v);  // the "sampled" continuation too

        int[] prompt = new int[b * t];
        int[] last = new int[b];
        for (int i = 0; i < b; i++) {
            System.arraycopy(seq[i], 0, prompt, i * t, len[i]);
            last[i] = len[i] - 1;
        }
        cached.reserve(b, t);
        long before = ledger.current(Category.ACTIVATIONS);
        float[] logits = cached.prefill(prompt, b, t, last, maxLen).clone();
        long cacheBytes = 2L * 4 * cfg.numHiddenLayers() * b * maxLen * cfg.numKeyValueHeads() * cfg.headDim();
        assertEquals(before + cacheBytes, ledger.current(Category.ACTIVATIONS), "the cache is counted as activations");
        for (int step = 0; step <= steps; step++) {
            // The full forward over every row's prefix so far, right-padded to the longest.
            int width = 0;
            for (int i = 0; i < b; i++) width = Math.max(width, len[i] + step);
            int[] tokens = new int[b * width];
            int[] lastFull = new int[b];
            for (int i = 0; i < b; i++) {
                System.arraycopy(seq[i], 0, tokens, i * width, len[i] + step);
                lastFull[i] = len[i] + step - 1;
            }
            float[] expected = full.nextTokenLogits(tokens, b, width, lastFull);
            for (int i = 0; i < b * v; i++) {
                assertEquals(expected[i], logits[i], 2e-5f * Math.max(1f, Math.abs(expected[i])), name + ", step " + step + ", logit " + i);
            }
            if (step == steps) break;
            int[] next = new int[b], positions = new int[b];
            for (int i = 0; i < b; i++) {
                positions[i] = len[i] + step;
                next[i] = seq[i][positions[i]];
            }
            logits = cached.decode(next, positions).clone();
        }
        cached.endGeneration();
        assertEquals(before, ledger.current(Category.ACTIVATIONS), "endGeneration gives the cache back");
    }
}
