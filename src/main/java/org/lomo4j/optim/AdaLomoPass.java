package org.lomo4j.optim;

import org.lomo4j.kernels.AdaLomoUpdate;
import org.lomo4j.kernels.Half;
import org.lomo4j.kernels.Update;
import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.GradientSink;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Parameters;
import org.lomo4j.model.Tensor;
import org.lomo4j.parallel.Parallel;

import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdaLomo's updating backward pass ({@link AdaLomoUpdate} has the rule). A matrix's update needs two
 * statistics of its whole gradient before any row may change: the column moments and the RMS of the update.
 * So each weight's gradient goes by twice, a tile of rows at a time and never whole: the first sweep
 * computes each tile, sets its rows' moments and adds the tile to per-tile column sums; the second computes
 * each tile again and applies it. Only the weight-gradient product runs twice: the gradient flowing to the
 * layer's input was computed once, before the sink was called. The LM head, which the model hands over in
 * vocabulary tiles, comes twice by the model's hand instead ({@link #measure}, then {@code accept}).
 *
 * <p>Sums are kept per tile and per row and added in a fixed order, so the result does not depend on the
 * number of threads, and a resumed run repeats the straight one to the bit.
 */
final class AdaLomoPass implements GradientSink {
    private final Parallel par;
    private final MemoryLedger ledger;
    private final Parameters parameters;
    private final int rounding;
    private final Map<Tensor, Integer> stateOffset = new HashMap<>();  // into rowMoments, or vectorMoments for a vector
    private final Map<Tensor, Integer> colOffset = new HashMap<>();    // into colMoments
    private final float[] rowMoments;     // r: one per row of every matrix
    private final float[] colMoments;     // c: one per column of every matrix
    private final float[] vectorMoments;  // v: one per value of every vector
    private final int tileLength;
    private final float[] scratch;        // (threads, TILE_ROWS, maxCols): one gradient tile per worker
    private final double[] columnSquares; // (tiles, cols) Σ ĝ² per tile and column
    private final double[] columnScaled;  // (tiles, cols) Σ ĝ² / r per tile and column
    private final double[] columnTerms;   // (maxCols) Σ_i ĝ² / r / c per column
    private final float[] colFactor;      // (maxCols) 1 / sqrt(c)
    private final double[] rowSquares;    // (maxRows) Σ W² per row, for RMS(W)
    private final float[] pending;        // the tied weight's gradient between its two uses, or null
    private Tensor pendingTensor;

    private float[] hp;
    private long roundingKey;
    private float beta;
    // The matrix being measured, and what its update needs once every row has been seen.
    private Tensor measured;
    private int measuredRows;
    private boolean finished;
    private double meanRow;
    private float divisor;
    private float lr;

    /** {@code sharedPending}: a tied embedding's gradient buffer to use (another pass's), or null to allocate one. */
    AdaLomoPass(Parameters parameters, int rounding, Parallel par, MemoryLedger ledger, float[] sharedPending) {
        ParameterLayout layout = parameters.layout();
        this.ledger = ledger;
        this.par = par;
        this.parameters = parameters;
        this.rounding = rounding;
        long rows = 0, cols = 0, values = 0, partials = 0;
        for (Tensor t : layout.tensors()) {
            if (t.vector()) {
                stateOffset.put(t, (int) values);
                values += t.cols();
            } else {
                stateOffset.put(t, (int) rows);
                colOffset.put(t, (int) cols);
                rows += t.rows();
                cols += t.cols();
                partials = Math.max(partials, (long) GradientSink.tiles(t.rows()) * t.cols());
            }
        }
        this.rowMoments = ledger.floats(Category.OPTIMIZER_STATE, rows);
        this.colMoments = ledger.floats(Category.OPTIMIZER_STATE, cols);
        this.vectorMoments = ledger.floats(Category.OPTIMIZER_STATE, values);
        this.tileLength = Math.min(TILE_ROWS, layout.maxRows()) * layout.maxCols();
        this.scratch = ledger.floats(Category.SCRATCH, (long) par.threads() * tileLength);
        this.columnSquares = ledger.doubles(Category.SCRATCH, partials);
        this.columnScaled = ledger.doubles(Category.SCRATCH, partials);
        this.columnTerms = ledger.doubles(Category.SCRATCH, layout.maxCols());
        this.colFactor = ledger.floats(Category.SCRATCH, layout.maxCols());
        this.rowSquares = ledger.doubles(Category.SCRATCH, layout.maxRows());
        this.pending = !layout.tied() ? null : sharedPending != null ? sharedPending
                : ledger.floats(Category.SCRATCH, layout.embedding().size());
    }

    /** Starts step {@code t} (1-based), with this step's learning rate and clipping in {@code hp}. */
    void begin(int t, float[] hp, long roundingKey) {
        this.hp = hp;
        this.roundingKey = roundingKey;
        this.beta = AdaLomoUpdate.beta(t);
        this.pendingTensor = null;
        this.measured = null;
    }

    /** The moments, by name, for checkpoints. */
    Map<String, float[]> state() {
        Map<String, float[]> s = new LinkedHashMap<>();
        s.put("adalomo.exp_avg_sq_row", rowMoments);
        s.put("adalomo.exp_avg_sq_col", colMoments);
        s.put("adalomo.exp_avg_sq", vectorMoments);
        return s;
    }

    @Override
    public boolean measuresFirst() {
        return true;
    }

    @Override
    public void measure(Tensor t, int rowStart, int rowEnd, RowGradient gradient) {
        if (!t.equals(measured)) {
            measured = t;
            measuredRows = 0;
            finished = false;
            Arrays.fill(columnSquares, 0, GradientSink.tiles(t.rows()) * t.cols(), 0.0);
            Arrays.fill(columnScaled, 0, GradientSink.tiles(t.rows()) * t.cols(), 0.0);
        }
        int cols = t.cols(), base = stateOffset.get(t);
        float clip = hp[Update.CLIP_VALUE], scale = hp[Update.GRAD_SCALE], b = beta;
        GradientTiles.forEach(par, scratch, tileLength, rowStart, rowEnd, cols, gradient, (slot, row0, rows) -> {
            int partial = row0 / TILE_ROWS * cols;
            for (int r = 0; r < rows; r++) {
                int g = slot + r * cols;
                AdaLomoUpdate.clipRow(scratch, g, cols, clip, scale);
                float moment = AdaLomoUpdate.rowMoment(rowMoments[base + row0 + r], scratch, g, cols, b);
                rowMoments[base + row0 + r] = moment;
                AdaLomoUpdate.columnSums(columnSquares, columnScaled, partial, scratch, g, cols, moment);
            }
        });
        measuredRows += rowEnd - rowStart;
    }

    @Override
    public void accept(Tensor t, int rowStart, int rowEnd, RowGradient gradient, boolean lastUse) {
        if (lastUse && !t.equals(pendingTensor)) {
            update(t, rowStart, rowEnd, gradient);
            return;
        }
        // The tied weight: its gradient is whole only at its last use, so it waits in a buffer of that tensor.
        int cols = t.cols();
        if (pendingTensor == null) {
            Arrays.fill(pending, 0, t.size(), 0f);
            pendingTensor = t;
            ledger.live(Category.GRADIENTS, 4L * t.size());  // for a memory timeline: whole until its last use
        }
        GradientTiles.accumulate(par, pending, rowStart, rowEnd, cols, gradient);
        if (!lastUse) return;
        pendingTensor = null;
        float[] p = pending;
        update(t, 0, t.rows(), (g, gOff, row0, rows, w) -> {
            for (int i = 0; i < rows * cols; i++) g[gOff + i] += p[row0 * cols + i];
        });
        ledger.live(Category.GRADIENTS, -4L * t.size());
    }

    private void update(Tensor t, int rowStart, int rowEnd, RowGradient gradient) {
        // For a memory timeline: a tile per worker holds gradient values while this weight is measured and updated.
        long inFlight = GradientTiles.inFlightBytes(par, rowStart, rowEnd, t.cols());
        ledger.live(Category.GRADIENTS, inFlight);
        try {
            updateRows(t, rowStart, rowEnd, gradient);
        } finally {
            ledger.live(Category.GRADIENTS, -inFlight);
        }
    }

    private void updateRows(Tensor t, int rowStart, int rowEnd, RowGradient gradient) {
        if (t.vector()) {
            updateVector(t, gradient);
            return;
        }
        if (!t.equals(measured)) {
            if (rowStart != 0 || rowEnd != t.rows()) {
                throw new IllegalStateException(t.name() + ": rows " + rowStart + ".." + rowEnd + " arrived unmeasured; AdaLomo needs the whole gradient");
            }
            measure(t, 0, t.rows(), gradient);
        }
        if (!finished) finish(t);
        apply(t, rowStart, rowEnd, gradient);
    }

    /** Once every row is measured: the column moments, RMS(u) and the weight's learning rate. */
    private void finish(Tensor t) {
        if (measuredRows != t.rows()) {
            throw new IllegalStateException(t.name() + ": " + measuredRows + " of " + t.rows() + " rows measured before its update");
        }
        int rows = t.rows(), cols = t.cols(), tiles = GradientSink.tiles(rows);
        int rBase = stateOffset.get(t), cBase = colOffset.get(t);
        float b = beta;
        par.forEach(cols, (lo, hi, w) -> {
            for (int j = lo; j < hi; j++) {
                double sq = 0, scaled = 0;
                for (int tile = 0; tile < tiles; tile++) {
                    sq += columnSquares[tile * cols + j];
                    scaled += columnScaled[tile * cols + j];
                }
                float c = AdaLomoUpdate.columnMoment(colMoments[cBase + j], sq, rows, b);
                colMoments[cBase + j] = c;
                colFactor[j] = 1f / (float) Math.sqrt(c);
                columnTerms[j] = scaled / c;
            }
        });
        double rowSum = 0, terms = 0;
        for (int i = 0; i < rows; i++) rowSum += rowMoments[rBase + i];
        for (int j = 0; j < cols; j++) terms += columnTerms[j];
        meanRow = rowSum / rows;
        divisor = AdaLomoUpdate.updateDivisor(meanRow * terms, (long) rows * cols);
        lr = AdaLomoUpdate.scaledLr(hp[Update.LR], weightSquares(t), t.size());
        finished = true;
    }

    private void apply(Tensor t, int rowStart, int rowEnd, RowGradient gradient) {
        int cols = t.cols(), base = stateOffset.get(t);
        float clip = hp[Update.CLIP_VALUE], scale = hp[Update.GRAD_SCALE], wd = hp[Update.WEIGHT_DECAY], step = lr;
        float norm = divisor;
        double mean = meanRow;
        GradientTiles.forEach(par, scratch, tileLength, rowStart, rowEnd, cols, gradient, (slot, row0, rows) -> {
            for (int r = 0; r < rows; r++) {
                int g = slot + r * cols, row = row0 + r;
                AdaLomoUpdate.clipRow(scratch, g, cols, clip, scale);
                float rowFactor = 1f / ((float) Math.sqrt(rowMoments[base + row] / mean) * norm);
                int wOff = t.offset() + row * cols;
                if (parameters.dtype().half()) {
                    AdaLomoUpdate.matrixRowHalf(parameters.halves(t), wOff, scratch, g, colFactor, cols, rowFactor, step, wd,
                            parameters.dtype().halfFormat, rounding, roundingKey, t.position(row * cols));
                } else {
                    AdaLomoUpdate.matrixRow(parameters.floats(t), wOff, scratch, g, colFactor, cols, rowFactor, step, wd);
                }
            }
        });
    }

    /** A vector's whole gradient is one row: its moment, RMS(u), RMS(W) and the update, in one go. */
    private void updateVector(Tensor t, RowGradient gradient) {
        int len = t.cols(), base = stateOffset.get(t);
        Arrays.fill(scratch, 0, len, 0f);
        gradient.accumulate(scratch, 0, 0, 1, 0);
        AdaLomoUpdate.clipRow(scratch, 0, len, hp[Update.CLIP_VALUE], hp[Update.GRAD_SCALE]);
        double uSquares = AdaLomoUpdate.vectorMoment(vectorMoments, base, scratch, 0, len, beta);
        float scale = 1f / AdaLomoUpdate.updateDivisor(uSquares, len);
        float step = AdaLomoUpdate.scaledLr(hp[Update.LR], weightSquares(t), len);
        if (parameters.dtype().half()) {
            AdaLomoUpdate.vectorRowHalf(parameters.halves(t), t.offset(), scratch, 0, len, scale, step, hp[Update.WEIGHT_DECAY],
                    parameters.dtype().halfFormat, rounding, roundingKey, t.position(0));
        } else {
            AdaLomoUpdate.vectorRow(parameters.floats(t), t.offset(), scratch, 0, len, scale, step, hp[Update.WEIGHT_DECAY]);
        }
    }

    /** Σ W² over {@code t}'s current values, by rows added in order. */
    private double weightSquares(Tensor t) {
        int cols = t.cols();
        par.forEach(t.rows(), (lo, hi, w) -> {
            for (int r = lo; r < hi; r++) {
                double s = 0;
                for (int j = 0; j < cols; j++) {
                    double x = parameters.get(t, r * cols + j);
                    s += x * x;
                }
                rowSquares[r] = s;
            }
        });
        double sum = 0;
        for (int r = 0; r < t.rows(); r++) sum += rowSquares[r];
        return sum;
    }
}
