package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.GradientSink;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Parameters;
import org.lomo4j.model.Tensor;
import org.lomo4j.parallel.Parallel;

/**
 * One LOMO backward pass. For each weight, each tile of {@link #TILE_ROWS} rows of its gradient is computed
 * into the worker's scratch and consumed at once: applied to the weight ({@link Mode#UPDATE}), or only
 * squared and summed ({@link Mode#NORM}, the first pass of global-norm clipping). Scratch is one tile per
 * worker. A 16-bit weight's row is widened, updated in fp32 and narrowed with the configured rounding.
 *
 * <p>A weight used twice (the head tied to the embedding) cannot be consumed at its first use, since its
 * gradient is not complete; its rows accumulate in a buffer of that one tensor until the last use.
 */
final class LomoPass implements GradientSink {
    enum Mode { NORM, UPDATE }

    private final Parallel par;
    private final MemoryLedger ledger;
    private final Parameters parameters;
    private final int rounding;         // Half.NEAREST or Half.STOCHASTIC, for 16-bit weights
    private final int tileLength;
    private final float[] scratch;      // (threads, min(TILE_ROWS, maxRows), maxCols) one gradient tile per worker
    private final double[] rowSquares;  // (maxRows) Σg² per row, summed in row order so runs are deterministic
    private final float[] pending;      // (V, C) the tied weight's gradient between its two uses, or null
    private Tensor pendingTensor;
    private Mode mode = Mode.UPDATE;
    private float[] hp;
    private long roundingKey;
    private double sumSquares;

    LomoPass(Parameters parameters, int rounding, Parallel par, MemoryLedger ledger) {
        ParameterLayout layout = parameters.layout();
        this.ledger = ledger;
        this.par = par;
        this.parameters = parameters;
        this.rounding = rounding;
        this.tileLength = Math.min(TILE_ROWS, layout.maxRows()) * layout.maxCols();
        this.scratch = ledger.floats(Category.SCRATCH, (long) par.threads() * tileLength);
        this.rowSquares = ledger.doubles(Category.SCRATCH, layout.maxRows());
        this.pending = layout.tied() ? ledger.floats(Category.SCRATCH, layout.embedding().size()) : null;
    }

    /** Starts a pass; {@code roundingKey} keys the stochastic rounding of its updates. */
    void begin(Mode mode, float[] hp, long roundingKey) {
        this.mode = mode;
        this.hp = hp;
        this.roundingKey = roundingKey;
        this.sumSquares = 0;
        this.pendingTensor = null;
    }

    /** The tied weight's gradient buffer (null when untied), free between passes. */
    float[] pendingBuffer() {
        return pending;
    }

    /** Σg² over every gradient seen in this pass (NORM mode). */
    double sumSquares() {
        return sumSquares;
    }

    @Override
    public void accept(Tensor t, int rowStart, int rowEnd, RowGradient gradient, boolean lastUse) {
        long inFlight = GradientTiles.inFlightBytes(par, rowStart, rowEnd, t.cols());
        ledger.live(Category.GRADIENTS, inFlight);
        try {
            acceptTiles(t, rowStart, rowEnd, gradient, lastUse);
        } finally {
            ledger.live(Category.GRADIENTS, -inFlight);
        }
    }

    private void acceptTiles(Tensor t, int rowStart, int rowEnd, RowGradient gradient, boolean lastUse) {
        int cols = t.cols();
        if (!lastUse || t.equals(pendingTensor)) {
            if (pendingTensor == null) {
                java.util.Arrays.fill(pending, 0, t.size(), 0f);
                pendingTensor = t;
                ledger.live(Category.GRADIENTS, 4L * t.size());  // the tied weight's gradient, whole until its last use
            }
            GradientTiles.accumulate(par, pending, rowStart, rowEnd, cols, gradient);
            if (!lastUse) return;
            par.forEach(rowEnd - rowStart, (lo, hi, w) -> {
                for (int row = rowStart + lo; row < rowStart + hi; row++) consume(t, row, pending, row * cols);
            });
            pendingTensor = null;
            ledger.live(Category.GRADIENTS, -4L * t.size());
        } else {
            GradientTiles.forEach(par, scratch, tileLength, rowStart, rowEnd, cols, gradient, (slot, row0, rows) -> {
                for (int r = 0; r < rows; r++) consume(t, row0 + r, scratch, slot + r * cols);
            });
        }
        if (mode == Mode.NORM) {
            for (int row = rowStart; row < rowEnd; row++) sumSquares += rowSquares[row];
        }
    }

    private void consume(Tensor t, int row, float[] g, int gOff) {
        if (mode == Mode.NORM) {
            rowSquares[row] = Update.sumSquaresRow(g, gOff, t.cols());
        } else if (parameters.dtype().half()) {
            Update.sgdRowHalf(parameters.halves(t), t.offset() + row * t.cols(), g, gOff, t.cols(), hp,
                    parameters.dtype().halfFormat, rounding, roundingKey, t.position(row * t.cols()));
        } else {
            Update.sgdRow(parameters.floats(t), t.offset() + row * t.cols(), g, gOff, t.cols(), hp);
        }
    }
}
