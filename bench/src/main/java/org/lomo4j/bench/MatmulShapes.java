package org.lomo4j.bench;

import java.util.SplittableRandom;

/**
 * Shared state of the matmul benchmarks: bench-24m's shapes (C = 512, F = 1408) at N = 512 tokens
 * (batch 8 × 64), x (N, IN), W (OUT, IN), y and dy (N, OUT).
 */
final class MatmulShapes {
    static final int TOKENS = 512;

    final int in;
    final int out;
    final float[] x, w, y, dy, dx, scratch;

    /** {@code shape} is "IN x OUT", e.g. "512x1408" for gate/up, "1408x512" for down. */
    MatmulShapes(String shape) {
        String[] p = shape.split("x");
        in = Integer.parseInt(p[0]);
        out = Integer.parseInt(p[1]);
        SplittableRandom rng = new SplittableRandom(42);
        x = random(rng, TOKENS * in);
        w = random(rng, out * in);
        dy = random(rng, TOKENS * out);
        y = new float[TOKENS * out];
        dx = new float[TOKENS * in];
        scratch = new float[org.lomo4j.model.GradientSink.TILE_ROWS * in];
    }

    /** Multiply-adds of one matmul over the batch, × 2 for FLOP. */
    static double flops(String shape) {
        String[] p = shape.split("x");
        return 2.0 * TOKENS * Integer.parseInt(p[0]) * Integer.parseInt(p[1]);
    }

    private static float[] random(SplittableRandom rng, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rng.nextDouble() * 2 - 1) * 0.05f;
        return a;
    }
}
