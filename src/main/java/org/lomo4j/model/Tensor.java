package org.lomo4j.model;

import java.util.Arrays;

/**
 * One named weight inside the flat parameter array: {@code rows × cols} floats from {@code offset},
 * row-major. A vector (an RMSNorm weight or a bias) has one row; its {@link #shape} is {@code [cols]}.
 */
public record Tensor(String name, int offset, int rows, int cols, boolean vector) {

    /** A projection's additive bias (HF names end in {@code .bias}); it starts at zero, not one. */
    public boolean bias() {
        return name.endsWith(".bias");
    }

    public int size() {
        return rows * cols;
    }

    public int[] shape() {
        return vector ? new int[] {cols} : new int[] {rows, cols};
    }

    @Override
    public String toString() {
        return name + " " + Arrays.toString(shape()) + " @" + offset;
    }
}
