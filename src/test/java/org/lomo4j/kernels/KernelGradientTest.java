package org.lomo4j.kernels;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.lomo4j.GradCheck.assertClose;
import static org.lomo4j.GradCheck.numeric;
import static org.lomo4j.GradCheck.random;
import static org.lomo4j.GradCheck.weightedSum;

/** Every backward kernel against central finite differences of its forward, objective Σ r·y. */
class KernelGradientTest {
    private static final float H = 1e-2f;
    private static final double TOL = 2e-3;
    private final SplittableRandom rng = new SplittableRandom(42);

    @Test
    void matmul() {
        int n = 3, in = 5, out = 4, wOff = 7;
        float[] x = random(rng, n * in, 1), w = random(rng, wOff + out * in, 1), r = random(rng, n * out, 1);
        float[] y = new float[n * out];
        java.util.function.DoubleSupplier f = () -> {
            Matmul.forward(y, x, w, wOff, n, in, out);
            return weightedSum(y, r);
        };
        float[] dx = new float[n * in], dw = new float[3 + out * in];
        Matmul.backward(dx, dw, 3, r, x, w, wOff, n, in, out);
        assertClose("matmul dx", numeric(x, H, f), dx, TOL);
        assertClose("matmul dW", numeric(w, wOff, out * in, H, f), dw, 3, TOL);
        // The per-element form a device thread computes (TornadoVM's fused LOMO update) is the same gradient.
        float[] dwElement = new float[out * in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) dwElement[o * in + i] = Matmul.weightGradElement(r, x, n, in, out, o, i);
        }
        assertClose("matmul dW by element", numeric(w, wOff, out * in, H, f), dwElement, TOL);
        float[] dxElement = new float[n * in];
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < in; i++) dxElement[t * in + i] = Matmul.inputGradElement(r, w, wOff, in, out, t, i);
        }
        assertClose("matmul dx by element", numeric(x, H, f), dxElement, TOL);
    }

    @Test
    void bias() {
        int n = 3, out = 5, bOff = 2;
        float[] b = random(rng, bOff + out, 1), r = random(rng, n * out, 1), x = random(rng, n * out, 1);
        float[] y = new float[n * out];
        java.util.function.DoubleSupplier f = () -> {
            System.arraycopy(x, 0, y, 0, y.length);
            Bias.forward(y, b, bOff, n, out);
            return weightedSum(y, r);
        };
        float[] db = new float[1 + out];
        Bias.weightGrad(db, 1, r, n, out);
        assertClose("bias db", numeric(b, bOff, out, H, f), db, 1, TOL);
        float[] dbElement = new float[out];
        for (int j = 0; j < out; j++) dbElement[j] = Bias.weightGradElement(r, n, out, j);
        assertClose("bias db by element", numeric(b, bOff, out, H, f), dbElement, TOL);
    }

    @Test
    void rmsnorm() {
        int n = 3, c = 6;
        float[] x = random(rng, n * c, 2), w = random(rng, c, 1.5f), r = random(rng, n * c, 1);
        float[] y = new float[n * c], rstd = new float[n];
        java.util.function.DoubleSupplier f = () -> {
            RmsNorm.forward(y, rstd, x, w, 0, n, c, 1e-5f);
            return weightedSum(y, r);
        };
        f.getAsDouble();
        float[] dx = new float[n * c], dw = new float[c];
        RmsNorm.backward(dx, dw, 0, r, x, rstd, w, 0, n, c);
        assertClose("rmsnorm dx", numeric(x, H, f), dx, TOL);
        assertClose("rmsnorm dw", numeric(w, H, f), dw, TOL);
        float[] dwElement = new float[c];
        for (int i = 0; i < c; i++) dwElement[i] = RmsNorm.weightGradElement(r, x, rstd, n, c, i);
        assertClose("rmsnorm dw by element", numeric(w, H, f), dwElement, TOL);
    }

    @Test
    void embedding() {
        int n = 5, c = 3, vocab = 4;
        int[] tokens = {2, 0, 2, 3, 2};
        float[] w = random(rng, vocab * c, 1), r = random(rng, n * c, 1), y = new float[n * c];
        java.util.function.DoubleSupplier f = () -> {
            Embedding.forward(y, tokens, w, 0, n, c);
            return weightedSum(y, r);
        };
        float[] dw = new float[vocab * c];
        Embedding.backward(dw, 0, r, tokens, n, c, vocab);
        assertClose("embedding dW", numeric(w, H, f), dw, TOL);
        float[] dwElement = new float[vocab * c];
        for (int v = 0; v < vocab; v++) {
            for (int i = 0; i < c; i++) dwElement[v * c + i] = Embedding.weightGradElement(r, tokens, n, c, v, i);
        }
        assertClose("embedding dW by element", numeric(w, H, f), dwElement, TOL);
    }

    @Test
    void residual() {
        int n = 2, c = 3;
        float[] a = random(rng, n * c, 1), b = random(rng, n * c, 1), r = random(rng, n * c, 1), y = new float[n * c];
        java.util.function.DoubleSupplier f = () -> {
            Residual.forward(y, a, b, n, c);
            return weightedSum(y, r);
        };
        float[] da = new float[n * c], db = new float[n * c];
        Residual.backward(da, db, r, n, c);
        assertClose("residual da", numeric(a, H, f), da, TOL);
        assertClose("residual db", numeric(b, H, f), db, TOL);
    }

    @Test
    void swiglu() {
        int n = 3, ff = 5;
        float[] gate = random(rng, n * ff, 3), up = random(rng, n * ff, 2), r = random(rng, n * ff, 1), h = new float[n * ff];
        java.util.function.DoubleSupplier f = () -> {
            SwiGlu.forward(h, gate, up, n, ff);
            return weightedSum(h, r);
        };
        float[] dgate = new float[n * ff], dup = new float[n * ff];
        SwiGlu.backward(dgate, dup, r, gate, up, n, ff);
        assertClose("swiglu dgate", numeric(gate, H, f), dgate, TOL);
        assertClose("swiglu dup", numeric(up, H, f), dup, TOL);
    }

    @Test
    void rope() {
        int b = 2, t = 5, heads = 3, hd = 8, n = b * t;
        float[] cos = new float[t * hd / 2], sin = new float[t * hd / 2];
        Rope.tables(cos, sin, t, hd, 10000.0);
        float[] x = random(rng, n * heads * hd, 1), r = random(rng, x.length, 1);
        java.util.function.DoubleSupplier f = () -> {
            float[] y = x.clone();
            Rope.forward(y, cos, sin, n, t, heads, hd);
            return weightedSum(y, r);
        };
        float[] dx = r.clone();
        Rope.backward(dx, cos, sin, n, t, heads, hd);
        assertClose("rope dx", numeric(x, H, f), dx, TOL);
    }

    @Test
    void attentionWithGroupedQueries() {
        // Scores up to ~±6 so that the online softmax rescales its running sum along the rows.
        int b = 2, t = 5, nh = 4, nkv = 2, hd = 4, n = b * t;
        float[] q = random(rng, n * nh * hd, 2), k = random(rng, n * nkv * hd, 2), v = random(rng, n * nkv * hd, 1);
        float[] r = random(rng, n * nh * hd, 1);
        float[] out = new float[n * nh * hd], lse = new float[b * nh * t];
        java.util.function.DoubleSupplier f = () -> {
            Attention.forward(out, lse, q, k, v, b, t, nh, nkv, hd);
            return weightedSum(out, r);
        };
        f.getAsDouble();
        float[] dq = new float[q.length], dk = new float[k.length], dv = new float[v.length], delta = new float[lse.length];
        Attention.backward(dq, dk, dv, delta, r, out, lse, q, k, v, b, t, nh, nkv, hd);
        assertClose("attention dq", numeric(q, H, f), dq, TOL);
        assertClose("attention dk", numeric(k, H, f), dk, TOL);
        assertClose("attention dv", numeric(v, H, f), dv, TOL);
    }

    @Test
    void crossEntropyWithIgnoredTargets() {
        int n = 4, vocab = 6;
        int[] targets = {3, -1, 0, 5};
        float[] logits = random(rng, n * vocab, 3);
        float[] losses = new float[n];
        java.util.function.DoubleSupplier f = () -> {
            float[] p = logits.clone();
            CrossEntropy.forward(losses, p, targets, n, vocab);
            double s = 0;
            for (float l : losses) s += l;
            return s / 3;  // mean over the three counted targets
        };
        float[] probs = logits.clone();
        CrossEntropy.forward(losses, probs, targets, n, vocab);
        float[] dlogits = new float[n * vocab];
        CrossEntropy.backward(dlogits, probs, targets, 1f / 3, n, vocab);
        assertClose("cross-entropy dlogits", numeric(logits, H, f), dlogits, TOL);
        for (int j = 0; j < vocab; j++) {
            org.junit.jupiter.api.Assertions.assertEquals(0f, dlogits[vocab + j], "ignored row must get no gradient");
        }
    }

    /** The vocabulary-tile form over tiles of 4 + 4 + 3 columns: its loss and gradient against finite differences. */
    @Test
    void crossEntropyOverVocabularyTiles() {
        int n = 4, vocab = 11, tileCols = 4;
        int[] targets = {3, -1, 10, 5};
        float[] logits = random(rng, n * vocab, 3);
        float[] losses = new float[n], lse = new float[n], sums = new float[n];
        java.util.function.DoubleSupplier f = () -> {
            java.util.Arrays.fill(lse, Float.NEGATIVE_INFINITY);
            java.util.Arrays.fill(sums, 0f);
            java.util.Arrays.fill(losses, 0f);
            for (int v0 = 0; v0 < vocab; v0 += tileCols) {
                float[] tile = columns(logits, n, vocab, v0, Math.min(tileCols, vocab - v0));
                for (int i = 0; i < n; i++) CrossEntropy.tileForwardRow(lse, sums, losses, tile, targets, v0, Math.min(tileCols, vocab - v0), i);
            }
            for (int i = 0; i < n; i++) CrossEntropy.tileFinishRow(losses, lse, sums, targets, i);
            double s = 0;
            for (float l : losses) s += l;
            return s / 3;
        };
        f.getAsDouble();
        float[] rowLosses = new float[n];
        CrossEntropy.forward(rowLosses, logits.clone(), targets, n, vocab);
        org.junit.jupiter.api.Assertions.assertArrayEquals(rowLosses, losses, 1e-5f, "tiles give the row form's losses");

        float[] dlogits = new float[n * vocab];
        for (int v0 = 0; v0 < vocab; v0 += tileCols) {
            int cols = Math.min(tileCols, vocab - v0);
            float[] tile = columns(logits, n, vocab, v0, cols);
            for (int i = 0; i < n; i++) CrossEntropy.tileBackwardRow(tile, lse, targets, 1f / 3, v0, cols, i);
            for (int i = 0; i < n; i++) System.arraycopy(tile, i * cols, dlogits, i * vocab + v0, cols);
        }
        assertClose("tiled cross-entropy dlogits", numeric(logits, H, f), dlogits, TOL);
        for (int j = 0; j < vocab; j++) {
            org.junit.jupiter.api.Assertions.assertEquals(0f, dlogits[vocab + j], "ignored row must get no gradient");
        }
    }

    private static float[] columns(float[] a, int rows, int width, int c0, int cols) {
        float[] out = new float[rows * cols];
        for (int i = 0; i < rows; i++) System.arraycopy(a, i * width + c0, out, i * cols, cols);
        return out;
    }
}
