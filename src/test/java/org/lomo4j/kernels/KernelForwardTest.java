package org.lomo4j.kernels;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.lomo4j.GradCheck.random;

/** Forward kernels against naive double-precision references written from the definitions. */
class KernelForwardTest {
    private final SplittableRandom rng = new SplittableRandom(7);

    @Test
    void ropeRotatesHalvesLikeHuggingFace() {
        // HF: q_embed = q·cos + rotate_half(q)·sin, rotate_half(x) = cat(−x[hd/2:], x[:hd/2]),
        // cos/sin = cat(freqs, freqs), freqs[t, i] = t · θ^(−2i/hd).
        int t = 6, heads = 2, hd = 8, half = hd / 2;
        double theta = 500000.0;
        float[] cos = new float[t * half], sin = new float[t * half];
        Rope.tables(cos, sin, t, hd, theta);
        float[] x = random(rng, t * heads * hd, 1);
        float[] y = x.clone();
        Rope.forward(y, cos, sin, t, t, heads, hd);
        for (int pos = 0; pos < t; pos++) {
            for (int h = 0; h < heads; h++) {
                int off = (pos * heads + h) * hd;
                for (int d = 0; d < hd; d++) {
                    double freq = pos * Math.pow(theta, -2.0 * (d % half) / hd);
                    double rotated = d < half ? -x[off + d + half] : x[off + d - half];
                    double expected = x[off + d] * Math.cos(freq) + rotated * Math.sin(freq);
                    assertEquals(expected, y[off + d], 1e-5, "pos " + pos + " head " + h + " dim " + d);
                }
            }
        }
    }

    @Test
    void causalGroupedAttentionMatchesNaiveSoftmax() {
        int b = 2, t = 5, nh = 4, nkv = 1, hd = 6, n = b * t;
        float[] q = random(rng, n * nh * hd, 1), k = random(rng, n * nkv * hd, 1), v = random(rng, n * nkv * hd, 1);
        float[] out = new float[n * nh * hd], lse = new float[b * nh * t];
        Attention.forward(out, lse, q, k, v, b, t, nh, nkv, hd);
        for (int bi = 0; bi < b; bi++) {
            for (int h = 0; h < nh; h++) {
                for (int ti = 0; ti < t; ti++) {
                    // Keys after ti must not count: the reference sums over 0..ti only.
                    double[] s = new double[ti + 1];
                    double sum = 0;
                    for (int t2 = 0; t2 <= ti; t2++) {
                        double dot = 0;
                        for (int d = 0; d < hd; d++) dot += q[((bi * t + ti) * nh + h) * hd + d] * k[(bi * t + t2) * hd + d];
                        s[t2] = Math.exp(dot / Math.sqrt(hd));
                        sum += s[t2];
                    }
                    for (int d = 0; d < hd; d++) {
                        double o = 0;
                        for (int t2 = 0; t2 <= ti; t2++) o += s[t2] / sum * v[(bi * t + t2) * hd + d];
                        assertEquals(o, out[((bi * t + ti) * nh + h) * hd + d], 1e-5);
                    }
                    assertEquals(Math.log(sum), lse[(bi * nh + h) * t + ti], 1e-5, "log-sum-exp of the row's scores");
                }
            }
        }
    }

    @Test
    void rmsnormMatchesDefinition() {
        int n = 3, c = 7;
        float eps = 1e-6f;
        float[] x = random(rng, n * c, 3), w = random(rng, c, 1), y = new float[n * c], rstd = new float[n];
        RmsNorm.forward(y, rstd, x, w, 0, n, c, eps);
        for (int i = 0; i < n; i++) {
            double ms = 0;
            for (int j = 0; j < c; j++) ms += x[i * c + j] * x[i * c + j];
            double r = 1 / Math.sqrt(ms / c + eps);
            for (int j = 0; j < c; j++) assertEquals(x[i * c + j] * r * w[j], y[i * c + j], 1e-5);
        }
    }

    @Test
    void crossEntropyIsNegativeLogSoftmax() {
        int vocab = 5;
        float[] logits = {1f, -2f, 0.5f, 3f, 0f};
        float[] losses = new float[1];
        CrossEntropy.forward(losses, logits.clone(), new int[] {2}, 1, vocab);
        double z = 0;
        for (float l : logits) z += Math.exp(l);
        assertEquals(-(0.5 - Math.log(z)), losses[0], 1e-6);
    }

    @Test
    void updateClampsByValueThenScales() {
        float[] hp = new float[Update.SIZE];
        hp[Update.LR] = 0.5f;
        hp[Update.WEIGHT_DECAY] = 0.1f;
        hp[Update.CLIP_VALUE] = 1f;
        hp[Update.GRAD_SCALE] = 0.5f;
        float[] w = {2f, -1f};
        float[] g = {4f, -0.2f};
        Update.sgdRow(w, 0, g, 0, 2, hp);
        // ĝ = clamp(4) · 0.5 = 0.5; w = 2 − 0.5 · (0.5 + 0.1 · 2) = 1.65
        assertEquals(1.65f, w[0], 1e-6f);
        // ĝ = −0.2 · 0.5 = −0.1; w = −1 − 0.5 · (−0.1 − 0.1) = −0.9
        assertEquals(-0.9f, w[1], 1e-6f);
    }
}
