package org.lomo4j.optim;

import org.lomo4j.model.GradientSink;
import org.lomo4j.parallel.Parallel;

import java.util.Arrays;

import static org.lomo4j.model.GradientSink.TILE_ROWS;

/**
 * The fused passes' one way of reading a weight's gradient: a tile of {@link GradientSink#TILE_ROWS} rows at a
 * time into the worker's scratch slot, consumed before the next; or, for a weight used twice, accumulated
 * into a buffer of the whole tensor until its last use.
 */
final class GradientTiles {
    private GradientTiles() {}

    /** What a pass does with one tile: rows [row0, row0 + rows), row r at {@code slot + (r − row0) · cols} of the scratch. */
    @FunctionalInterface
    interface Tile {
        void consume(int slot, int row0, int rows);
    }

    /** Rows [rowStart, rowEnd) of {@code gradient}, tile by tile, each into worker w's slot {@code w · tileLength} of {@code scratch}. */
    static void forEach(Parallel par, float[] scratch, int tileLength, int rowStart, int rowEnd, int cols,
                        GradientSink.RowGradient gradient, Tile body) {
        par.forEach(GradientSink.tiles(rowEnd - rowStart), (lo, hi, w) -> {
            int slot = w * tileLength;
            for (int tile = lo; tile < hi; tile++) {
                int row0 = rowStart + tile * TILE_ROWS;
                int rows = Math.min(TILE_ROWS, rowEnd - row0);
                Arrays.fill(scratch, slot, slot + rows * cols, 0f);
                gradient.accumulate(scratch, slot, row0, rows, w);
                body.consume(slot, row0, rows);
            }
        });
    }

    /** Adds rows [rowStart, rowEnd) of {@code gradient} into {@code whole}, row r at {@code r · cols}. */
    static void accumulate(Parallel par, float[] whole, int rowStart, int rowEnd, int cols, GradientSink.RowGradient gradient) {
        par.forEach(GradientSink.tiles(rowEnd - rowStart), (lo, hi, w) -> {
            for (int tile = lo; tile < hi; tile++) {
                int row0 = rowStart + tile * TILE_ROWS;
                gradient.accumulate(whole, row0 * cols, row0, Math.min(TILE_ROWS, rowEnd - row0), w);
            }
        });
    }

    /** Bytes of gradient alive while rows [rowStart, rowEnd) are read: a tile per busy worker (for a memory timeline). */
    static long inFlightBytes(Parallel par, int rowStart, int rowEnd, int cols) {
        return 4L * Math.min(GradientSink.tiles(rowEnd - rowStart), par.threads()) * Math.min(TILE_ROWS, rowEnd - rowStart) * cols;
    }
}
