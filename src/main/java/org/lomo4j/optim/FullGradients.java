package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.GradientSink;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Tensor;
import org.lomo4j.parallel.Parallel;

import java.util.Arrays;

/** The standard way: every weight's gradient accumulates into one buffer laid out like the parameters. */
public final class FullGradients implements GradientSink {
    private final Parallel par;
    private final ParameterLayout layout;
    private final float[] grads;  // (P) same layout as the parameters

    public FullGradients(ParameterLayout layout, Parallel par, MemoryLedger ledger) {
        this.par = par;
        this.layout = layout;
        this.grads = ledger.floats(Category.GRADIENTS, layout.totalSize());
    }

    public float[] grads() {
        return grads;
    }

    public void zero() {
        par.forEach(grads.length, (lo, hi, w) -> Arrays.fill(grads, lo, hi, 0f));
    }

    @Override
    public void accept(Tensor t, int rowStart, int rowEnd, RowGradient gradient, boolean lastUse) {
        par.forEach(GradientSink.tiles(rowEnd - rowStart), (lo, hi, w) -> {
            for (int tile = lo; tile < hi; tile++) {
                int row0 = rowStart + tile * TILE_ROWS;
                gradient.accumulate(grads, t.offset() + row0 * t.cols(), row0, Math.min(TILE_ROWS, rowEnd - row0), w);
            }
        });
    }

    /** ‖g‖ over all parameters; rows summed in order, as LOMO's norm pass does. */
    public double norm() {
        double sum = 0;
        for (Tensor t : layout.tensors()) {
            for (int row = 0; row < t.rows(); row++) {
                sum += Update.sumSquaresRow(grads, t.offset() + row * t.cols(), t.cols());
            }
        }
        return Math.sqrt(sum);
    }
}
