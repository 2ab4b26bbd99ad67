package org.lomo4j.data;

import org.lomo4j.model.Batch;
import org.lomo4j.tokenizer.Tokenizer;

import java.util.List;

/** Packs examples into fixed-length batches: next-token targets on the response and EOS only. */
public final class Batches {
    private Batches() {}

    /** The smallest {@code --seq} that holds {@code ex}: BOS (where there is one), prompt and response as inputs. */
    public static int minSeq(Example ex, Tokenizer tok) {
        return ex.length() - 2 + (tok.bos() >= 0 ? 1 : 0);
    }

    /**
     * Each example becomes {@code BOS prompt response EOS PAD…} (T + 1 tokens; no BOS where the tokenizer
     * has none); position i reads token i and predicts token i + 1, counted only where that token belongs
     * to the response or is the EOS.
     */
    public static Batch pack(List<Example> examples, int seqLen, Tokenizer tok) {
        int start = tok.bos() >= 0 ? 1 : 0;
        int b = examples.size();
        int[] tokens = new int[b * seqLen];
        int[] targets = new int[b * seqLen];
        int[] row = new int[seqLen + 1];
        for (int e = 0; e < b; e++) {
            Example ex = examples.get(e);
            int length = ex.length() - 1 + start;
            if (length > seqLen + 1) {
                throw new IllegalArgumentException("example of " + length + " tokens does not fit --seq " + seqLen
                        + " (needs at least " + (length - 1) + ")");
            }
            java.util.Arrays.fill(row, tok.pad());
            if (start == 1) row[0] = tok.bos();
            System.arraycopy(ex.prompt(), 0, row, start, ex.prompt().length);
            int respStart = start + ex.prompt().length;
            System.arraycopy(ex.response(), 0, row, respStart, ex.response().length);
            int eos = respStart + ex.response().length;
            row[eos] = tok.eos();
            for (int i = 0; i < seqLen; i++) {
                tokens[e * seqLen + i] = row[i];
                boolean counted = i + 1 >= respStart && i + 1 <= eos;
                targets[e * seqLen + i] = counted ? row[i + 1] : -1;
            }
        }
        return new Batch(tokens, targets, b, seqLen);
    }
}
