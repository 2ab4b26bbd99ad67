package org.lomo4j.bench;

import org.lomo4j.kernels.Update;
import org.lomo4j.kernels.simd.MatmulVector;
import org.lomo4j.model.GradientSink;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.util.SplittableRandom;

/**
 * The state every matmul benchmark takes: bench-24m's shapes (C = 512, F = 1408) at N = 512 tokens
 * (batch 8 × 64), x (N, IN), W (OUT, IN), y and dy (N, OUT), and which kernel runs.
 */
@State(Scope.Thread)
public class MatmulShapes {
    static final int TOKENS = 512;

    /** "IN x OUT": 512x1408 for gate/up, 1408x512 for down. */
    @Param({"512x512", "512x1408", "1408x512"})
    public String shape;

    /** The Vector API kernel or the plain one. */
    @Param({"simd", "plain"})
    public String kernel;

    int in;
    int out;
    float[] x, w, y, dy, dx, scratch;
    /** The SIMD kernels' packing workspace, as one worker of the model has it, and W and x in panels. */
    float[] ws, wPacked, xPacked;
    /** LOMO's hyper-parameters: a tiny lr, so the weights stay put over millions of invocations; no clipping. */
    final float[] hp = new float[Update.SIZE];

    boolean simd() {
        return kernel.equals("simd");
    }

    @Setup(Level.Trial)
    public void setup() {
        String[] p = shape.split("x");
        in = Integer.parseInt(p[0]);
        out = Integer.parseInt(p[1]);
        SplittableRandom rng = new SplittableRandom(42);
        x = random(rng, TOKENS * in);
        w = random(rng, out * in);
        dy = random(rng, TOKENS * out);
        y = new float[TOKENS * out];
        dx = new float[TOKENS * in];
        scratch = new float[GradientSink.TILE_ROWS * in];
        ws = new float[MatmulVector.workspaceFloats(Math.max(TOKENS, GradientSink.TILE_ROWS), Math.max(TOKENS, Math.max(in, out)))];
        wPacked = new float[Math.max(MatmulVector.packedFloats(in, out), MatmulVector.packedFloats(out, in))];
        xPacked = new float[MatmulVector.packedFloats(TOKENS, in)];
        hp[Update.LR] = 1e-9f;
        hp[Update.GRAD_SCALE] = 1f;
        hp[Update.CLIP_VALUE] = Float.POSITIVE_INFINITY;
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
