package org.lomo4j.generate;

import org.lomo4j.backend.Backend;
import org.lomo4j.model.KvDecoder;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Autoregressive decoding of several prompts at once. Rows are right-padded; causal attention never lets a
 * position see the padding after it, so each row's next token is read at its own last position. A key/value
 * cache, the JVM's or a device backend's, makes each new token one position's forward.
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
        return complete(prompts, maxNew, Integer.MAX_VALUE, sampler, rng);
    }

    /** As {@link #complete(List, int, Sampler, SplittableRandom)}, no row growing past {@code maxLength} tokens in all. */
    public List<int[]> complete(List<int[]> prompts, int maxNew, int maxLength, Sampler sampler, SplittableRandom rng) {
        int b = prompts.size();
        int maxLen = Math.min(maxLength, model.config().maxPositionEmbeddings());
        int[][] rows = new int[b][];
        int[] len = new int[b];
        boolean[] done = new boolean[b];
        for (int i = 0; i < b; i++) {
            rows[i] = Arrays.copyOf(prompts.get(i), Math.min(maxLen, prompts.get(i).length + maxNew));
            len[i] = prompts.get(i).length;
            if (len[i] == 0) throw new IllegalArgumentException("an empty prompt");
            if (len[i] >= maxLen) {
                throw new IllegalArgumentException("a prompt of " + len[i] + " tokens leaves no room to generate in the model's context "
                        + "(max_position_embeddings " + model.config().maxPositionEmbeddings() + ")");
            }
        }
        decodeWithCache(device != null ? device : model, rows, len, done, maxNew, sampler, rng);
        List<int[]> out = new ArrayList<>(b);
        for (int i = 0; i < b; i++) out.add(Arrays.copyOfRange(rows[i], prompts.get(i).length, len[i]));
        return out;
    }

    /**
     * The key/value cache's size, rows × positions, that completing {@code prompts} would allocate: what a memory
     * plan counts for generation ({@code LlamaModel.planGenerationCache}).
     */
    public static long cacheRowPositions(List<int[]> prompts, int maxNew, int maxLength, int maxPositions) {
        int longest = 0;
        for (int[] p : prompts) longest = Math.max(longest, Math.min(Math.min(maxLength, maxPositions), p.length + maxNew));
        return (long) prompts.size() * longest;
    }

    /**
     * One forward over the prompts fills the key/value cache, then each new token costs a forward of one position
     * per row. Finished rows keep decoding their last token, unread.
     */
    private void decodeWithCache(KvDecoder decoder, int[][] rows, int[] len, boolean[] done, int maxNew, Sampler sampler, SplittableRandom rng) {
        int b = rows.length, t = 0, maxLen = 0;
        for (int i = 0; i < b; i++) {
            t = Math.max(t, len[i]);
            maxLen = Math.max(maxLen, rows[i].length);
        }
        int[] tokens = new int[b * t];
        Arrays.fill(tokens, tok.pad());
        int[] last = new int[b];
        for (int i = 0; i < b; i++) {
            System.arraycopy(rows[i], 0, tokens, i * t, len[i]);
            last[i] = len[i] - 1;
        }
        try {
            float[] logits = decoder.prefill(tokens, b, t, last, maxLen);
            int[] next = new int[b];
            for (int step = 0; step < maxNew; step++) {
                boolean any = false;
                for (int i = 0; i < b; i++) {
                    if (!done[i]) {
                        pick(rows, len, done, i, logits, i, step, sampler, rng);
                        any |= !done[i];
                    }
                    next[i] = rows[i][len[i] - 1];
                    last[i] = Math.min(len[i] - 1, maxLen - 1);
                }
                if (!any || step + 1 == maxNew) break;
                logits = decoder.decode(next, last);
            }
        } finally {
            decoder.endGeneration();
        }
    }

    /** Samples row i's next token from {@code logits} row {@code row}, refusing logits that are not numbers. */
    private void pick(int[][] rows, int[] len, boolean[] done, int i, float[] logits, int row, int step, Sampler sampler, SplittableRandom rng) {
        int vocab = model.config().vocabSize();
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
