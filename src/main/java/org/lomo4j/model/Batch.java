package org.lomo4j.model;

/**
 * B sequences of T tokens, row-major (N = B·T). {@code targets[n]} is the token expected after
 * {@code tokens[n]}, or -1 where no loss is taken (prompt tokens, padding).
 */
public record Batch(int[] tokens, int[] targets, int batchSize, int seqLen) {

    public Batch {
        if (tokens.length != batchSize * seqLen || targets.length != tokens.length) {
            throw new IllegalArgumentException("batch of " + batchSize + "×" + seqLen + " needs " + batchSize * seqLen
                    + " tokens and targets, got " + tokens.length + " and " + targets.length);
        }
    }

    public int size() {
        return tokens.length;
    }

    /** Number of positions that count in the loss. */
    public int countedTargets() {
        int count = 0;
        for (int t : targets) if (t >= 0) count++;
        return count;
    }
}
