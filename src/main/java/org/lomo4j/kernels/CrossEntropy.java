package org.lomo4j.kernels;

/**
 * Softmax cross-entropy over the vocabulary with an ignore mask: a target below 0 contributes no loss
 * and no gradient (prompt tokens, padding).
 *
 * <p>logits (N, V) become probabilities in place, losses (N), targets (N).
 */
public final class CrossEntropy {
    private CrossEntropy() {}

    /** Softmax of row n in place; {@code losses[n] = −log p[target]} (0 where ignored). */
    public static void forwardRow(float[] losses, float[] probs, int[] targets, int vocab, int n) {
        int off = n * vocab;
        float max = Float.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
            max = Math.max(max, probs[off + v]);
        }
        float sum = 0f;
        for (int v = 0; v < vocab; v++) {
            float e = (float) Math.exp(probs[off + v] - max);
            probs[off + v] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int v = 0; v < vocab; v++) {
            probs[off + v] *= inv;
        }
        int target = targets[n];
        losses[n] = target < 0 ? 0f : (float) -Math.log(Math.max(probs[off + target], 1e-30f));
    }

    /**
     * {@code dlogits[n] += scale · (p − onehot(target))}, where scale is d(loss)/d(losses[n]), i.e.
     * 1 / (number of counted targets) for a mean loss.
     */
    public static void backwardRow(float[] dlogits, float[] probs, int[] targets, float scale, int vocab, int n) {
        int target = targets[n];
        if (target < 0) {
            return;
        }
        int off = n * vocab;
        for (int v = 0; v < vocab; v++) {
            dlogits[off + v] += scale * probs[off + v];
        }
        dlogits[off + target] -= scale;
    }

    public static void forward(float[] losses, float[] probs, int[] targets, int nTokens, int vocab) {
        for (int n = 0; n < nTokens; n++) forwardRow(losses, probs, targets, vocab, n);
    }

    public static void backward(float[] dlogits, float[] probs, int[] targets, float scale, int nTokens, int vocab) {
        for (int n = 0; n < nTokens; n++) backwardRow(dlogits, probs, targets, scale, vocab, n);
    }
}
