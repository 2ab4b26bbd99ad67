package org.lomo4j.tornado;

import org.lomo4j.kernels.Attention;
import org.lomo4j.kernels.Bias;
import org.lomo4j.kernels.CrossEntropy;
import org.lomo4j.kernels.Embedding;
import org.lomo4j.kernels.Matmul;
import org.lomo4j.kernels.Residual;
import org.lomo4j.kernels.RmsNorm;
import org.lomo4j.kernels.Rope;
import org.lomo4j.kernels.SwiGlu;
import org.lomo4j.kernels.Update;
import uk.ac.manchester.tornado.api.annotations.Parallel;

/**
 * The device tasks: each is a {@code @Parallel} loop over one of the core kernels' per-item bodies, which
 * TornadoVM inlines into the kernel it compiles, so the device runs the very code the JVM backend runs and
 * the gradient checks test. Nothing here re-implements a kernel.
 *
 * <p>Values that change every step (the learning rate, the clipping factor, the loss scale, which pass is
 * running) arrive in small arrays ({@code hp}, {@code control}): TornadoVM compiles scalar arguments into
 * the kernel as constants, so a changing scalar would recompile the kernel every step.
 */
final class Tasks {
    private Tasks() {}

    /** {@code control[MODE]}: which backward pass runs. */
    static final int MODE = 0;
    /** {@code control[LOSS_SCALE]}: 1 / the number of counted targets, d(mean loss)/d(loss of one position). */
    static final int LOSS_SCALE = 1;
    static final int CONTROL_SIZE = 2;
    /** The first backward of global-norm clipping: only Σg² per row; no weight changes. */
    static final float NORM_PASS = 0f;
    /** The updating backward: each gradient element is applied to its weight the moment it is computed. */
    static final float UPDATE_PASS = 1f;

    // ---- forward ----

    static void embedding(float[] x, int[] tokens, float[] params, int wOff, int c, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            Embedding.forwardRow(x, tokens, params, wOff, c, i);
        }
    }

    static void rmsnorm(float[] y, float[] rstd, float[] x, float[] params, int wOff, int c, float eps, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            RmsNorm.forwardRow(y, rstd, x, params, wOff, c, eps, i);
        }
    }

    /** y = x · Wᵀ, one thread per output element. */
    static void matmul(float[] y, float[] x, float[] params, int wOff, int in, int out, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            for (@Parallel int o = 0; o < out; o++) {
                Matmul.forwardElement(y, x, params, wOff, in, out, i, o);
            }
        }
    }

    static void bias(float[] y, float[] params, int bOff, int out, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            Bias.forwardRow(y, params, bOff, out, i);
        }
    }

    static void rope(float[] x, float[] cos, float[] sin, int seqLen, int heads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            Rope.forwardItem(x, cos, sin, seqLen, heads, hd, i);
        }
    }

    static void attention(float[] out, float[] lse, float[] q, float[] k, float[] v, int seqLen, int nHeads,
                          int nKvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            Attention.forwardItem(out, lse, q, k, v, seqLen, nHeads, nKvHeads, hd, i);
        }
    }

    static void residual(float[] out, float[] x, int c, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            Residual.addRow(out, x, c, i);
        }
    }

    static void swiglu(float[] h, float[] gate, float[] up, int f, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            SwiGlu.forwardRow(h, gate, up, f, i);
        }
    }

    static void crossEntropy(float[] losses, float[] probs, int[] targets, int vocab, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            CrossEntropy.forwardRow(losses, probs, targets, vocab, i);
        }
    }

    // ---- backward: gradients flowing to inputs ----

    static void zero(float[] a, int length) {
        for (@Parallel int i = 0; i < length; i++) {
            a[i] = 0f;
        }
    }

    static void crossEntropyBackward(float[] dlogits, float[] probs, int[] targets, float[] control, int vocab, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            CrossEntropy.backwardRow(dlogits, probs, targets, control[LOSS_SCALE], vocab, i);
        }
    }

    /** dx += dy · W, one thread per input-gradient element. */
    static void matmulInputGrad(float[] dx, float[] dy, float[] params, int wOff, int in, int out, int n) {
        for (@Parallel int t = 0; t < n; t++) {
            for (@Parallel int i = 0; i < in; i++) {
                dx[t * in + i] += Matmul.inputGradElement(dy, params, wOff, in, out, t, i);
            }
        }
    }

    static void rmsnormInputGrad(float[] dx, float[] dy, float[] x, float[] rstd, float[] params, int wOff, int c, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            RmsNorm.inputGradRow(dx, dy, x, rstd, params, wOff, c, i);
        }
    }

    static void swigluBackward(float[] dgate, float[] dup, float[] dh, float[] gate, float[] up, int f, int n) {
        for (@Parallel int i = 0; i < n; i++) {
            SwiGlu.backwardRow(dgate, dup, dh, gate, up, f, i);
        }
    }

    static void attentionBackwardQuery(float[] dq, float[] delta, float[] dout, float[] out, float[] lse, float[] q, float[] k,
                                       float[] v, int seqLen, int nHeads, int nKvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            Attention.backwardQueryItem(dq, delta, dout, out, lse, q, k, v, seqLen, nHeads, nKvHeads, hd, i);
        }
    }

    static void attentionBackwardKeyValue(float[] dk, float[] dv, float[] delta, float[] lse, float[] q, float[] k, float[] v,
                                          float[] dout, int seqLen, int nHeads, int nKvHeads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            Attention.backwardKeyValueItem(dk, dv, delta, lse, q, k, v, dout, seqLen, nHeads, nKvHeads, hd, i);
        }
    }

    static void ropeBackward(float[] dx, float[] cos, float[] sin, int seqLen, int heads, int hd, int items) {
        for (@Parallel int i = 0; i < items; i++) {
            Rope.backwardItem(dx, cos, sin, seqLen, heads, hd, i);
        }
    }

    // ---- backward: LOMO, each weight gradient element computed and applied in the same thread ----

    /** W[o, i] −= update(Σ_n dy[n, o] · x[n, i]): the weight gradient never exists as a buffer. */
    static void matmulLomo(float[] params, float[] dy, float[] x, float[] hp, float[] control, int wOff, int in, int out, int n) {
        for (@Parallel int o = 0; o < out; o++) {
            for (@Parallel int i = 0; i < in; i++) {
                if (control[MODE] == UPDATE_PASS) {
                    Update.sgdElement(params, wOff + o * in + i, Matmul.weightGradElement(dy, x, n, in, out, o, i), hp);
                }
            }
        }
    }

    /** The norm pass of {@link #matmulLomo}: Σ_i g[o, i]² for each row o into {@code squares[sOff + o]}. */
    static void matmulSquares(float[] squares, float[] dy, float[] x, float[] control, int sOff, int in, int out, int n) {
        for (@Parallel int o = 0; o < out; o++) {
            if (control[MODE] == NORM_PASS) {
                float s = 0f;
                for (int i = 0; i < in; i++) {
                    float g = Matmul.weightGradElement(dy, x, n, in, out, o, i);
                    s += g * g;
                }
                squares[sOff + o] = s;
            }
        }
    }

    static void rmsnormLomo(float[] params, float[] dy, float[] x, float[] rstd, float[] hp, float[] control, int wOff, int c, int n) {
        for (@Parallel int i = 0; i < c; i++) {
            if (control[MODE] == UPDATE_PASS) {
                Update.sgdElement(params, wOff + i, RmsNorm.weightGradElement(dy, x, rstd, n, c, i), hp);
            }
        }
    }

    static void rmsnormSquares(float[] squares, float[] dy, float[] x, float[] rstd, float[] control, int sOff, int c, int n) {
        for (@Parallel int r = 0; r < 1; r++) {
            if (control[MODE] == NORM_PASS) {
                float s = 0f;
                for (int i = 0; i < c; i++) {
                    float g = RmsNorm.weightGradElement(dy, x, rstd, n, c, i);
                    s += g * g;
                }
                squares[sOff + r] = s;
            }
        }
    }

    static void biasLomo(float[] params, float[] dy, float[] hp, float[] control, int bOff, int out, int n) {
        for (@Parallel int j = 0; j < out; j++) {
            if (control[MODE] == UPDATE_PASS) {
                Update.sgdElement(params, bOff + j, Bias.weightGradElement(dy, n, out, j), hp);
            }
        }
    }

    static void biasSquares(float[] squares, float[] dy, float[] control, int sOff, int out, int n) {
        for (@Parallel int r = 0; r < 1; r++) {
            if (control[MODE] == NORM_PASS) {
                float s = 0f;
                for (int j = 0; j < out; j++) {
                    float g = Bias.weightGradElement(dy, n, out, j);
                    s += g * g;
                }
                squares[sOff + r] = s;
            }
        }
    }

    /**
     * The embedding table, row v: its gradient from the positions holding token v, plus, when the head is tied
     * to it ({@code tied} = 1), the head's gradient {@code Σ_n dlogits[n, v] · lnf[n, i]}: the one weight used
     * twice, updated once, after both uses.
     */
    static void embeddingLomo(float[] params, float[] dx, int[] tokens, float[] dlogits, float[] lnf, float[] hp,
                              float[] control, int wOff, int c, int vocab, int tied, int n) {
        for (@Parallel int v = 0; v < vocab; v++) {
            for (@Parallel int i = 0; i < c; i++) {
                if (control[MODE] == UPDATE_PASS) {
                    float g = Embedding.weightGradElement(dx, tokens, n, c, v, i);
                    if (tied == 1) g += Matmul.weightGradElement(dlogits, lnf, n, c, vocab, v, i);
                    Update.sgdElement(params, wOff + v * c + i, g, hp);
                }
            }
        }
    }

    static void embeddingSquares(float[] squares, float[] dx, int[] tokens, float[] dlogits, float[] lnf, float[] control,
                                 int sOff, int c, int vocab, int tied, int n) {
        for (@Parallel int v = 0; v < vocab; v++) {
            if (control[MODE] == NORM_PASS) {
                float s = 0f;
                for (int i = 0; i < c; i++) {
                    float g = Embedding.weightGradElement(dx, tokens, n, c, v, i);
                    if (tied == 1) g += Matmul.weightGradElement(dlogits, lnf, n, c, vocab, v, i);
                    s += g * g;
                }
                squares[sOff + v] = s;
            }
        }
    }
}
