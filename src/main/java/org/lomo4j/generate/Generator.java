package org.lomo4j.generate;

import org.lomo4j.backend.Backend;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Autoregressive decoding of several prompts at once. Rows are right-padded; causal attention never lets a
 * position see the padding after it, so each row's next token is read at its own last position. Every new
 * token reruns the forward over the whole prefix (no KV cache yet), which is fine for short completions.
 */
public final class Generator {
    private final LlamaModel model;
    private final Tokenizer tok;
    private final Backend.Forward device;  // null: the model's own forward on the JVM

    public Generator(LlamaModel model, Tokenizer tok) {
        this(model, tok, null);
    }

    /** Generation whose forward passes run on {@code device} (a backend's), or on the JVM when null. */
    public Generator(LlamaModel model, Tokenizer tok, Backend.Forward device) {
        this.model = model;
        this.tok = tok;
        this.device = device;
    }

    /** Completes each prompt (which should start with BOS) with up to {@code maxNew} tokens, stopping at EOS. */
    public List<int[]> complete(List<int[]> prompts, int maxNew, Sampler sampler, SplittableRandom rng) {
        int b = prompts.size();
        int vocab = model.config().vocabSize();
        int maxLen = model.config().maxPositionEmbeddings();
        int[][] rows = new int[b][];
        int[] len = new int[b];
        boolean[] done = new boolean[b];
        int longest = 0;
        for (int i = 0; i < b; i++) {
            rows[i] = Arrays.copyOf(prompts.get(i), Math.min(maxLen, prompts.get(i).length + maxNew));
            len[i] = prompts.get(i).length;
            if (len[i] == 0) throw new IllegalArgumentException("an empty prompt");
            if (len[i] >= maxLen) {
                throw new IllegalArgumentException("a prompt of " + len[i] + " tokens leaves no room to generate in the model's context "
                        + "(max_position_embeddings " + maxLen + ")");
            }
            longest = Math.max(longest, rows[i].length);
        }
        if (device == null) model.reserve(b, longest);
        for (int step = 0; step < maxNew; step++) {
            int t = 0;
            for (int i = 0; i < b; i++) if (!done[i]) t = Math.max(t, len[i]);
            if (t == 0) break;
            int[] tokens = new int[b * t];
            Arrays.fill(tokens, tok.pad());
            for (int i = 0; i < b; i++) System.arraycopy(rows[i], 0, tokens, i * t, Math.min(len[i], t));
            // The JVM computes each row's last logits only; a device returns every position's.
            int[] last = new int[b];
            for (int i = 0; i < b; i++) last[i] = Math.max(0, Math.min(len[i], t) - 1);
            float[] logits = device == null ? model.nextTokenLogits(tokens, b, t, last) : device.logits(tokens, b, t);
            for (int i = 0; i < b; i++) {
                if (done[i]) continue;
                int row = device == null ? i : i * t + len[i] - 1;
                for (int v = row * vocab; v < (row + 1) * vocab; v++) {
                    if (!Float.isFinite(logits[v])) {
                        throw new NonFiniteResultException("the model's logits are NaN or infinite (prompt " + i + ", token " + (step + 1)
                                + "): its weights or activations overflowed");
                    }
                }
                int next = sampler.pick(logits, row * vocab, vocab, rng);
                rows[i][len[i]++] = next;
                if (next == tok.eos() || len[i] == rows[i].length) done[i] = true;
            }
        }
        List<int[]> out = new ArrayList<>(b);
        for (int i = 0; i < b; i++) out.add(Arrays.copyOfRange(rows[i], prompts.get(i).length, len[i]));
        return out;
    }
}
