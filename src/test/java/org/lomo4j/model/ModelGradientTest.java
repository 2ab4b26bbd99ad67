package org.lomo4j.model;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.lomo4j.GradCheck;
import org.lomo4j.TinyModels;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.optim.FullGradients;
import org.lomo4j.parallel.Parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The whole model's parameter gradients against central finite differences of its loss. */
class ModelGradientTest {
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"untied", "tied", "qwen2", "qwen3", "vocab-tiles", "vocab-tiles, tied"})
    void everyParameterGradientMatchesFiniteDifferences(String name) {
        LlamaConfig cfg = TinyModels.named(name);
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel model = TinyModels.model(cfg, 3, PAR, ledger);
        Batch batch = TinyModels.batch(cfg, 2, 5, 4);

        FullGradients grads = new FullGradients(model.layout(), PAR, ledger);
        model.forward(batch);
        grads.zero();
        model.backward(grads);

        float[] p = model.params();
        for (Tensor t : model.layout().tensors()) {
            double[] numeric = GradCheck.numeric(p, t.offset(), t.size(), 1e-2f, () -> model.forward(batch));
            GradCheck.assertClose(t.name(), numeric, grads.grads(), t.offset(), 2e-2);
        }
    }

    /**
     * Activation checkpointing recomputes each block's forward inside backward, from the block's kept input
     * and with the block's weights untouched until its own backward: the same kernels on the same inputs in the
     * same order, so the gradients are the plain backward's bit for bit. Twice, as clipped LOMO runs it.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"untied", "tied", "qwen2", "qwen3", "vocab-tiles, tied"})
    void checkpointedGradientsEqualTheBackwardsBitForBit(String name) {
        LlamaConfig cfg = TinyModels.named(name);
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel model = TinyModels.model(cfg, 3, PAR, ledger);
        Batch batch = TinyModels.batch(cfg, 2, 5, 4);
        FullGradients plain = new FullGradients(model.layout(), PAR, ledger);
        FullGradients checkpointed = new FullGradients(model.layout(), PAR, ledger);
        FullGradients again = new FullGradients(model.layout(), PAR, ledger);
        plain.zero();
        checkpointed.zero();
        again.zero();

        float loss = model.forward(batch);
        model.backward(plain);
        model.setCheckpointing(true);
        assertEquals(loss, model.forward(batch), 0f, "the loss does not depend on what forward keeps");
        model.backward(checkpointed);
        model.backward(again);  // the working block now holds block 0: every other block is recomputed

        assertArrayEquals(plain.grads(), checkpointed.grads(), "recomputed blocks must give the same gradients");
        assertArrayEquals(plain.grads(), again.grads(), "a second backward recomputes the same blocks again");
        assertThrows(IllegalStateException.class, () -> model.backwardKeepingOutputGradients(again),
                "no per-block buffers to keep output gradients in");
    }

    /** Clipped LOMO's second pass replays the first's gradients from kept output gradients: they must be identical. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"untied", "tied", "qwen2", "qwen3", "vocab-tiles"})
    void replayedGradientsEqualTheBackwardsBitForBit(String name) {
        LlamaConfig cfg = TinyModels.named(name);
        MemoryLedger ledger = new MemoryLedger();
        LlamaModel model = TinyModels.model(cfg, 3, PAR, ledger);
        model.reserve(3, 7);  // a batch smaller than the buffers, as in a run's last batch
        Batch batch = TinyModels.batch(cfg, 2, 5, 4);
        FullGradients plain = new FullGradients(model.layout(), PAR, ledger);
        FullGradients first = new FullGradients(model.layout(), PAR, ledger);
        FullGradients replayed = new FullGradients(model.layout(), PAR, ledger);
        plain.zero();
        first.zero();
        replayed.zero();

        model.forward(batch);
        assertThrows(IllegalStateException.class, () -> model.replayWeightGradients(replayed), "nothing kept yet");
        model.backward(plain);
        model.forward(batch);
        model.backwardKeepingOutputGradients(first);
        model.replayWeightGradients(replayed);

        assertArrayEquals(plain.grads(), first.grads(), "keeping output gradients must not change the backward");
        assertArrayEquals(plain.grads(), replayed.grads(), "the replay must hand over the same gradients");
        assertThrows(IllegalStateException.class, () -> model.backward(plain), "the kept gradients overwrote activations");
        model.forward(batch);
        assertThrows(IllegalStateException.class, () -> model.replayWeightGradients(replayed), "a forward ends the replay");
    }
}
