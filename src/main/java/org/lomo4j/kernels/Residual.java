package org.lomo4j.kernels;

/** Residual connection {@code out = a + b}; all (N, C). */
public final class Residual {
    private Residual() {}

    /**
     * The residual added in place, {@code out += x}: the model's two residuals accumulate into the stream.
     * (TornadoVM cannot take one array as two arguments of a task, so {@code out = out + x} with out passed twice would not do.)
     */
    public static void addRow(float[] out, float[] x, int c, int n) {
        int off = n * c;
        for (int i = 0; i < c; i++) {
            out[off + i] += x[off + i];
        }
    }

    /** Both inputs receive the output gradient unchanged: {@code da += dout; db += dout}. */
    public static void backwardRow(float[] da, float[] db, float[] dout, int c, int n) {
        int off = n * c;
        for (int i = 0; i < c; i++) {
            da[off + i] += dout[off + i];
            db[off + i] += dout[off + i];
        }
    }

    /** {@code out = a + b} through {@link #addRow}, the form the model runs. */
    public static void forward(float[] out, float[] a, float[] b, int nTokens, int c) {
        System.arraycopy(a, 0, out, 0, nTokens * c);
        for (int n = 0; n < nTokens; n++) addRow(out, b, c, n);
    }

    public static void backward(float[] da, float[] db, float[] dout, int nTokens, int c) {
        for (int n = 0; n < nTokens; n++) backwardRow(da, db, dout, c, n);
    }
}
