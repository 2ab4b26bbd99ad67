package org.lomo4j.model;

import java.util.Arrays;

/**
 * One named weight: {@code rows × cols} values from {@code offset} in parameter segment {@code segment}
 * (one array of the {@link Parameters}), row-major; {@code start} is its first value's index among all
 * parameters in layout order, whatever the segments. A vector (an RMSNorm weight or a bias) has one row;
 * its {@link #shape} is {@code [cols]}.
 */
public record Tensor(String name, int segment, int offset, long start, int rows, int cols, boolean vector) {

    /** A projection's additive bias (HF names end in {@code .bias}); it starts at zero, not one. */
    public boolean bias() {
        return name.endsWith(".bias");
    }

    public int size() {
        return rows * cols;
    }

    /** Rows [r0, r0 + rows) of this tensor, as a tensor of their own (one vocabulary tile of the head). */
    public Tensor rows(int r0, int count) {
        return new Tensor(name, segment, offset + r0 * cols, start + (long) r0 * cols, count, cols, false);
    }

    /**
     * Element i's index among all parameters: what stochastic rounding draws its random bits for, so that
     * the bits do not depend on how the parameters are split into segments.
     */
    public long position(int i) {
        return start + i;
    }

    public int[] shape() {
        return vector ? new int[] {cols} : new int[] {rows, cols};
    }

    @Override
    public String toString() {
        return name + " " + Arrays.toString(shape()) + " @" + segment + ":" + offset;
    }
}
