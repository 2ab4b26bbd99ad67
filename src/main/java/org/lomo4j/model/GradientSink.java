package org.lomo4j.model;

/**
 * Receives each weight's gradient during backward, at the moment it can be computed: after the
 * gradient flowing to the layer's input has been computed from the weight's current values.
 *
 * <p>This is where optimizers differ. The standard way ({@code FullGradients}) accumulates every gradient
 * into a buffer as large as the model; LOMO computes a tile of the gradient's rows into scratch and applies
 * the update to those rows at once, so the full gradient set never exists.
 */
public interface GradientSink {

    /**
     * Rows per tile: sinks ask for a weight's gradient this many rows at a time. Many rows at once let the
     * matmul gradient read its activations once per tile instead of once per row (at 8 rows, reading x
     * from L3 bounded the kernel); LOMO's scratch is one tile per worker.
     */
    int TILE_ROWS = 64;

    /** How many tiles cover {@code rows} rows; the last may be partial. */
    static int tiles(int rows) {
        return (rows + TILE_ROWS - 1) / TILE_ROWS;
    }

    /**
     * Accumulates ({@code +=}) rows [row0, row0 + rows) of a weight's gradient into {@code g}, row r at
     * {@code gOff + (r − row0) · cols}. {@code worker} is the calling worker's index, for its workspace.
     */
    @FunctionalInterface
    interface RowGradient {
        void accumulate(float[] g, int gOff, int row0, int rows, int worker);
    }

    /**
     * The gradient of {@code weight} from one of its uses. {@code lastUse} is false only for a weight used
     * again further down the backward pass (the head tied to the embedding): its gradient is not complete
     * yet, so a sink that updates must hold it until the last use.
     */
    default void accept(Tensor weight, RowGradient gradient, boolean lastUse) {
        accept(weight, 0, weight.rows(), gradient, lastUse);
    }

    /**
     * The gradient of rows [rowStart, rowEnd) of {@code weight} only ({@code rowStart} a multiple of
     * {@link #TILE_ROWS}): the LM head hands its gradient over one vocabulary tile at a time, so that no
     * more than a tile of its logits exists. {@code lastUse} is as above, for those rows.
     */
    void accept(Tensor weight, int rowStart, int rowEnd, RowGradient gradient, boolean lastUse);

    /**
     * Whether this sink needs statistics of a weight's whole gradient before it changes any of it (AdaLomo's
     * column moments and update RMS). A weight handed over in row ranges (the LM head, by vocabulary tiles)
     * then comes twice: every range to {@link #measure} first, then every range to {@code accept}.
     */
    default boolean measuresFirst() {
        return false;
    }

    /** Rows [rowStart, rowEnd) of {@code weight}'s gradient, to measure ahead of their {@code accept}. */
    default void measure(Tensor weight, int rowStart, int rowEnd, RowGradient gradient) {
        throw new UnsupportedOperationException("this sink does not measure first");
    }
}
