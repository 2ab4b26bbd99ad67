package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.GradientSink;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Tensor;
import org.lomo4j.parallel.Parallel;

import java.util.Arrays;

/**
 * The standard way: every weight's gradient accumulates into fp32 buffers laid out like the parameters (one
 * per segment), whatever the parameters' dtype.
 */
public final class FullGradients implements GradientSink {
    private final Parallel par;
    private final ParameterLayout layout;
    private final float[][] grads;  // per segment, same layout as the parameters
    private final MemoryLedger ledger;
    private final java.util.Set<Tensor> written = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private long writtenBytes;

    public FullGradients(ParameterLayout layout, Parallel par, MemoryLedger ledger) {
        this.par = par;
        this.layout = layout;
        this.ledger = ledger;
        this.grads = new float[layout.segments()][];
        for (int s = 0; s < grads.length; s++) grads[s] = ledger.floats(Category.GRADIENTS, layout.segmentSize(s));
    }

    /** The gradient buffer holding {@code t}'s gradient, at {@code t.offset()}. */
    public float[] grads(Tensor t) {
        return grads[t.segment()];
    }

    /** The one buffer of a one-segment layout (P). */
    public float[] grads() {
        if (grads.length != 1) throw new IllegalStateException("the gradients are in " + grads.length + " segments");
        return grads[0];
    }

    public void zero() {
        for (float[] g : grads) par.forEach(g.length, (lo, hi, w) -> Arrays.fill(g, lo, hi, 0f));
        written.clear();
        writtenBytes = 0;
    }

    /** The gradients have been applied: for a memory timeline, none of them is needed any more. */
    public void applied() {
        ledger.live(Category.GRADIENTS, -writtenBytes);
        writtenBytes = 0;
        ledger.mark("update");
    }

    @Override
    public void accept(Tensor t, int rowStart, int rowEnd, RowGradient gradient, boolean lastUse) {
        if (written.add(t)) {  // a weight's gradient holds values from its first use until the update
            ledger.live(Category.GRADIENTS, 4L * t.size());
            writtenBytes += 4L * t.size();
        }
        par.forEach(GradientSink.tiles(rowEnd - rowStart), (lo, hi, w) -> {
            for (int tile = lo; tile < hi; tile++) {
                int row0 = rowStart + tile * TILE_ROWS;
                gradient.accumulate(grads[t.segment()], t.offset() + row0 * t.cols(), row0, Math.min(TILE_ROWS, rowEnd - row0), w);
            }
        });
    }

    /** ‖g‖ over all parameters; rows summed in order, as LOMO's norm pass does. */
    public double norm() {
        double sum = 0;
        for (Tensor t : layout.tensors()) {
            for (int row = 0; row < t.rows(); row++) {
                sum += Update.sumSquaresRow(grads[t.segment()], t.offset() + row * t.cols(), t.cols());
            }
        }
        return Math.sqrt(sum);
    }
}
