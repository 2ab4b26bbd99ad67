package org.lomo4j.model;

import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;

/**
 * Generation's keys and values: for every layer, each row's rotated keys and its values at every position
 * so far, (rows, maxLen, NKV·HD), counted as activations. A new token then costs one row of each matmul and
 * one query's attention, instead of a forward over the whole prefix.
 */
final class KvCache {
    final int rows;
    final int maxLen;
    private final int width;  // NKV·HD
    private final float[][] keys;
    private final float[][] values;
    private final MemoryLedger ledger;

    KvCache(LlamaConfig cfg, int rows, int maxLen, MemoryLedger ledger) {
        this.rows = rows;
        this.maxLen = maxLen;
        this.width = cfg.numKeyValueHeads() * cfg.headDim();
        this.ledger = ledger;
        int layers = cfg.numHiddenLayers();
        keys = new float[layers][];
        values = new float[layers][];
        for (int l = 0; l < layers; l++) {
            keys[l] = ledger.floats(Category.ACTIVATIONS, (long) rows * maxLen * width);
            values[l] = ledger.floats(Category.ACTIVATIONS, (long) rows * maxLen * width);
        }
    }

    float[] keys(int layer) {
        return keys[layer];
    }

    float[] values(int layer) {
        return values[layer];
    }

    /** A prompt batch's keys and values, (rows, t, NKV·HD), into positions 0..t−1 of every row. */
    void storePrompt(int layer, float[] k, float[] v, int t) {
        for (int i = 0; i < rows; i++) {
            System.arraycopy(k, i * t * width, keys[layer], i * maxLen * width, t * width);
            System.arraycopy(v, i * t * width, values[layer], i * maxLen * width, t * width);
        }
    }

    /** One new token per row, (rows, NKV·HD), at row i's position {@code positions[i]}. */
    void store(int layer, float[] k, float[] v, int[] positions) {
        for (int i = 0; i < rows; i++) {
            System.arraycopy(k, i * width, keys[layer], (i * maxLen + positions[i]) * width, width);
            System.arraycopy(v, i * width, values[layer], (i * maxLen + positions[i]) * width, width);
        }
    }

    void release() {
        for (int l = 0; l < keys.length; l++) {
            ledger.release(Category.ACTIVATIONS, keys[l]);
            ledger.release(Category.ACTIVATIONS, values[l]);
        }
    }
}
