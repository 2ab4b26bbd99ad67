package org.lomo4j.bench;

import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.util.SplittableRandom;

/**
 * The state of the non-matmul kernel benchmarks: one bench-24m layer (C = 512, F = 1408, 8 query heads over
 * 4 key/value heads of 64, V = 259) on a batch of B × T tokens, every buffer filled with small random values.
 */
@State(Scope.Thread)
public class LayerShapes {
    static final int C = 512, F = 1408, NH = 8, NKV = 4, HD = 64, V = 259;

    /** Batch × sequence length; attention's cost grows with T². */
    @Param({"8x64", "8x128"})
    public String batch;

    int b, t, n;
    float[] x, y, dy, dx, w, rstd;          // (N, C), (C), (N)
    float[] gate, up, h, dgate, dup, dh;    // (N, F)
    float[] q, k, v, att, dq, dk, dv, datt; // (N, NH·HD) and (N, NKV·HD)
    float[] lse, delta;                     // (B, NH, T) attention's log-sum-exp and dout·out per query row
    float[] cos, sin;                       // (T, HD/2)
    float[] logits, dlogits, losses, table; // (N, V), (N), (V, C)
    int[] tokens, targets;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = batch.split("x");
        b = Integer.parseInt(p[0]);
        t = Integer.parseInt(p[1]);
        n = b * t;
        SplittableRandom rng = new SplittableRandom(7);
        x = random(rng, n * C);
        y = new float[n * C];
        dy = random(rng, n * C);
        dx = new float[n * C];
        w = random(rng, C);
        rstd = new float[n];
        gate = random(rng, n * F);
        up = random(rng, n * F);
        h = new float[n * F];
        dgate = new float[n * F];
        dup = new float[n * F];
        dh = random(rng, n * F);
        q = random(rng, n * NH * HD);
        k = random(rng, n * NKV * HD);
        v = random(rng, n * NKV * HD);
        att = new float[n * NH * HD];
        datt = random(rng, n * NH * HD);
        dq = new float[n * NH * HD];
        dk = new float[n * NKV * HD];
        dv = new float[n * NKV * HD];
        lse = new float[b * NH * t];
        delta = new float[b * NH * t];
        cos = new float[t * HD / 2];
        sin = new float[t * HD / 2];
        org.lomo4j.kernels.Rope.tables(cos, sin, t, HD, 10000.0);
        logits = random(rng, n * V);
        dlogits = new float[n * V];
        losses = new float[n];
        table = random(rng, V * C);
        tokens = new int[n];
        targets = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = rng.nextInt(V);
            targets[i] = rng.nextInt(V);
        }
        org.lomo4j.kernels.Attention.forward(att, lse, q, k, v, b, t, NH, NKV, HD);  // the output and lse backward reads
        org.lomo4j.kernels.RmsNorm.forward(y, rstd, x, w, 0, n, C, 1e-5f);
    }

    private static float[] random(SplittableRandom rng, int len) {
        float[] a = new float[len];
        for (int i = 0; i < len; i++) a[i] = (float) (rng.nextDouble() * 2 - 1) * 0.5f;
        return a;
    }
}
