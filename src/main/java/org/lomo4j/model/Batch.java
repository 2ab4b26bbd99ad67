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

    /**
     * The batch's loss: the mean of per-position {@code losses} (0 where a target is ignored) over the counted
     * positions, summed in position order; 0 for a batch with nothing to count.
     */
    public float meanLoss(float[] losses) {
        double sum = 0;
        for (int i = 0; i < size(); i++) sum += losses[i];
        int counted = countedTargets();
        return counted == 0 ? 0f : (float) (sum / counted);
    }

    /** Number of positions that count in the loss. */
    public int countedTargets() {
        int count = 0;
        for (int t : targets) if (t >= 0) count++;
        return count;
    }
}
