package org.lomo4j;

import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.Tensor;
import org.lomo4j.parallel.Parallel;

import java.util.SplittableRandom;

/** Tiny configurations and batches for tests. */
public final class TinyModels {
    private TinyModels() {}

    /** C=8, F=12, 2 layers, 2 query heads sharing 1 key/value head (GQA), V=11. */
    public static LlamaConfig config(boolean tied) {
        return new LlamaConfig(8, 12, 2, 2, 1, 11, 16, 1e-5f, 10000.0, tied);
    }

    /** The same shape as Qwen2: biases on the q, k and v projections. */
    public static LlamaConfig qwen2Config(boolean tied) {
        return new LlamaConfig(8, 12, 2, 2, 1, 11, 16, 1e-5f, 10000.0, tied, true);
    }

    /**
     * By name, for parameterized tests: "untied", "tied", "qwen2" (biased q/k/v, tied), "qwen3" (q/k norms, tied), or "vocab-tiles" and
     * "vocab-tiles, tied": V = 150, so the LM head runs as three vocabulary tiles (64 + 64 + 22 rows).
     */
    public static LlamaConfig named(String name) {
        return switch (name) {
            case "untied" -> config(false);
            case "tied" -> config(true);
            case "qwen2" -> qwen2Config(true);
            case "vocab-tiles" -> new LlamaConfig(8, 12, 2, 2, 1, 150, 16, 1e-5f, 10000.0, false);
            case "vocab-tiles, tied" -> new LlamaConfig(8, 12, 2, 2, 1, 150, 16, 1e-5f, 10000.0, true);
            // Qwen3: per-head q/k norms, and a head dimension (6) that is not hidden / heads (4), as in Qwen3-0.6B.
            case "qwen3" -> new LlamaConfig(8, 12, 2, 2, 1, 11, 16, 1e-5f, 10000.0, true, false, null, 6, true);
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** A model with weights large enough that every path carries a gradient well above float noise. */
    public static LlamaModel model(LlamaConfig cfg, long seed, Parallel par, MemoryLedger ledger) {
        LlamaModel m = LlamaModel.initialize(cfg, seed, par, ledger);
        SplittableRandom rng = new SplittableRandom(seed);
        float[] p = m.params();
        for (Tensor t : m.layout().tensors()) {
            for (int i = t.offset(); i < t.offset() + t.size(); i++) {
                p[i] = t.vector() ? (float) (1 + 0.3 * (rng.nextDouble() * 2 - 1)) : (float) (0.5 * (rng.nextDouble() * 2 - 1));
            }
        }
        return m;
    }

    /** B×T random tokens; the targets are the next tokens, with one position masked out. */
    public static Batch batch(LlamaConfig cfg, int b, int t, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] tokens = new int[b * t];
        int[] targets = new int[b * t];
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(cfg.vocabSize());
        for (int i = 0; i < targets.length; i++) targets[i] = rng.nextInt(cfg.vocabSize());
        targets[1] = -1;
        return new Batch(tokens, targets, b, t);
    }
}
