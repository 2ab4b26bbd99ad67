package org.lomo4j.kernels;

/**
 * Softmax cross-entropy over the vocabulary with an ignore mask: a target below 0 contributes no loss
 * and no gradient (prompt tokens, padding).
 *
 * <p>Two forms. The row form holds a token's whole row of logits: (N, V) become probabilities in place
 * (the TornadoVM graphs use it). The tile form never holds (N, V): the vocabulary is walked in tiles of
 * columns [v0, v0 + cols), a (N, cols) tile of logits at a time. Forward keeps a running maximum and sum per
 * token (the online log-sum-exp) and picks the target's logit from whichever tile holds it; afterwards one
 * number per token, {@code lse = log Σ_v e^logit}, is all backward needs to turn a recomputed tile of logits
 * into its gradient {@code e^(logit − lse) − onehot}.
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

    /**
     * Token n over one tile: row n of {@code logits} (N, cols) holds its logits for columns [v0, v0 + cols).
     * {@code max[n]} and {@code sum[n]} carry the log-sum-exp across tiles (start them at −∞ and 0);
     * {@code picked[n]} receives the target's logit when the target lies in the tile.
     */
    public static void tileForwardRow(float[] max, float[] sum, float[] picked, float[] logits, int[] targets,
                                      int v0, int cols, int n) {
        int off = n * cols;
        float m = max[n];
        float tileMax = m;
        for (int j = 0; j < cols; j++) {
            tileMax = Math.max(tileMax, logits[off + j]);
        }
        float s = sum[n];
        if (tileMax > m) {
            s *= (float) Math.exp(m - tileMax);  // 0 for the first tile
            m = tileMax;
        }
        for (int j = 0; j < cols; j++) {
            s += (float) Math.exp(logits[off + j] - m);
        }
        max[n] = m;
        sum[n] = s;
        int target = targets[n];
        if (target >= v0 && target < v0 + cols) {
            picked[n] = logits[off + target - v0];
        }
    }

    /**
     * After the last tile: {@code lse[n] = max + log sum} in place of the running maximum, and
     * {@code losses[n] = lse − target logit} in place of the picked logit (0 where ignored).
     */
    public static void tileFinishRow(float[] losses, float[] lse, float[] sum, int[] targets, int n) {
        lse[n] = lse[n] + (float) Math.log(sum[n]);
        losses[n] = targets[n] < 0 ? 0f : lse[n] - losses[n];
    }

    /**
     * Row n of a tile of logits becomes its gradient in place: {@code scale · (e^(logit − lse) − [v = target])}
     * for columns [v0, v0 + cols); zeros for an ignored target.
     */
    public static void tileBackwardRow(float[] logits, float[] lse, int[] targets, float scale, int v0, int cols, int n) {
        int off = n * cols;
        int target = targets[n];
        if (target < 0) {
            for (int j = 0; j < cols; j++) {
                logits[off + j] = 0f;
            }
            return;
        }
        float l = lse[n];
        for (int j = 0; j < cols; j++) {
            logits[off + j] = scale * (float) Math.exp(logits[off + j] - l);
        }
        if (target >= v0 && target < v0 + cols) {
            logits[off + target - v0] -= scale;
        }
    }

    public static void forward(float[] losses, float[] probs, int[] targets, int nTokens, int vocab) {
        for (int n = 0; n < nTokens; n++) forwardRow(losses, probs, targets, vocab, n);
    }

    public static void backward(float[] dlogits, float[] probs, int[] targets, float scale, int nTokens, int vocab) {
        for (int n = 0; n < nTokens; n++) backwardRow(dlogits, probs, targets, scale, vocab, n);
    }
}
