package org.lomo4j.model;

import org.lomo4j.kernels.Half;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;

/**
 * Every weight's values: one array per segment of the {@link ParameterLayout}, {@code float[]} for F32
 * or {@code short[]} (bf16 or f16 bits) for a 16-bit {@link ParamDtype}. Kernels take a tensor's segment
 * array and its offset; {@link #readRows} and {@link #writeRows} convert a tensor's rows to and from fp32.
 */
public final class Parameters {
    private final ParameterLayout layout;
    private final ParamDtype dtype;
    private final float[][] floats;  // per segment, F32
    private final short[][] halves;  // per segment, BF16 or F16

    private Parameters(ParameterLayout layout, ParamDtype dtype, float[][] floats, short[][] halves) {
        this.layout = layout;
        this.dtype = dtype;
        this.floats = floats;
        this.halves = halves;
    }

    /** Zeroed storage for {@code layout}, counted as {@link Category#PARAMETERS} in its real bytes. */
    public static Parameters allocate(ParameterLayout layout, ParamDtype dtype, MemoryLedger ledger) {
        int n = layout.segments();
        if (dtype == ParamDtype.F32) {
            float[][] f = new float[n][];
            for (int s = 0; s < n; s++) f[s] = ledger.floats(Category.PARAMETERS, layout.segmentSize(s));
            return new Parameters(layout, dtype, f, null);
        }
        short[][] h = new short[n][];
        for (int s = 0; s < n; s++) h[s] = ledger.shorts(Category.PARAMETERS, layout.segmentSize(s));
        return new Parameters(layout, dtype, null, h);
    }

    /** F32 parameters over an existing flat array (a one-segment layout). */
    public static Parameters of(ParameterLayout layout, float[] flat) {
        if (layout.segments() != 1 || flat.length != layout.totalSize()) {
            throw new IllegalArgumentException("parameter array has " + flat.length + " floats, the config needs "
                    + layout.totalSize() + " in one segment");
        }
        return new Parameters(layout, ParamDtype.F32, new float[][] {flat}, null);
    }

    public ParameterLayout layout() {
        return layout;
    }

    public ParamDtype dtype() {
        return dtype;
    }

    /** The F32 array holding {@code t}, at {@code t.offset()}. */
    public float[] floats(Tensor t) {
        return floats[t.segment()];
    }

    /** The 16-bit array holding {@code t}, at {@code t.offset()}. */
    public short[] halves(Tensor t) {
        return halves[t.segment()];
    }

    /**
     * The weights as one flat F32 array at the layout's offsets: what the TornadoVM backend and the LibTorch
     * bench copy. Only F32 parameters of one segment have one.
     */
    public float[] flat() {
        if (dtype != ParamDtype.F32 || floats.length != 1) {
            throw new IllegalStateException("the weights are " + dtype.id() + " in " + layout.segments()
                    + " segment(s), not one flat f32 array (use --param-dtype f32 on a model below 2^31 parameters)");
        }
        return floats[0];
    }

    /** Segment s's fp32 array: what the TornadoVM backend holds for fp32 weights in segments. */
    public float[] floats(int segment) {
        return floats[segment];
    }

    /** Segment s's 16-bit array: what the TornadoVM backend holds with bf16 weights. */
    public short[] halves(int segment) {
        return halves[segment];
    }

    /** Element i of {@code t}, widened. */
    public float get(Tensor t, int i) {
        return dtype == ParamDtype.F32 ? floats[t.segment()][t.offset() + i]
                : Half.toFloat(halves[t.segment()][t.offset() + i], dtype.halfFormat);
    }

    /** Element i of {@code t} := v, rounded to nearest when 16-bit. */
    public void set(Tensor t, int i, float v) {
        if (dtype == ParamDtype.F32) floats[t.segment()][t.offset() + i] = v;
        else halves[t.segment()][t.offset() + i] = Half.nearest(v, dtype.halfFormat);
    }

    /** Rows [r0, r0 + rows) of {@code t}, widened to fp32 into {@code dst[dOff ..]}. */
    public void readRows(Tensor t, int r0, int rows, float[] dst, int dOff) {
        int from = t.offset() + r0 * t.cols(), len = rows * t.cols();
        if (dtype == ParamDtype.F32) System.arraycopy(floats[t.segment()], from, dst, dOff, len);
        else Half.decode(dst, dOff, halves[t.segment()], from, len, dtype.halfFormat);
    }

    /** Rows [r0, r0 + rows) of {@code t} := {@code src[sOff ..]}, rounded to nearest when 16-bit. */
    public void writeRows(Tensor t, int r0, int rows, float[] src, int sOff) {
        int to = t.offset() + r0 * t.cols(), len = rows * t.cols();
        if (dtype == ParamDtype.F32) System.arraycopy(src, sOff, floats[t.segment()], to, len);
        else Half.encode(halves[t.segment()], to, src, sOff, len, dtype.halfFormat);
    }

    /** Whether every weight is finite. */
    public boolean allFinite() {
        return firstNonFinite() == null;
    }

    /** The first tensor holding a NaN or an infinity, or null: what a checkpoint must never be written from. */
    public Tensor firstNonFinite() {
        for (Tensor t : layout.tensors()) {
            int from = t.offset(), to = t.offset() + t.size();
            if (dtype == ParamDtype.F32) {
                float[] a = floats[t.segment()];
                for (int i = from; i < to; i++) if (!Float.isFinite(a[i])) return t;
            } else {
                // All exponent bits set: an infinity or a NaN, in bf16 and f16 alike.
                short[] a = halves[t.segment()];
                int exponent = dtype == ParamDtype.BF16 ? 0x7F80 : 0x7C00;
                for (int i = from; i < to; i++) if ((a[i] & exponent) == exponent) return t;
            }
        }
        return null;
    }
}
