package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaModel;

/**
 * LOMO, LOw-Memory Optimization (Lv et al., 2023): SGD whose update is fused into backward.
 *
 * <p>Backward walks the layers from the top. For each weight W it first computes the gradient flowing to
 * the layer's input with W's current values, then computes W's gradient g one tile of rows at a time
 * ({@code GradientSink.TILE_ROWS}) and applies
 * <pre>
 *   ĝ = clamp(g, ±clipValue) · s,     s = min(1, maxNorm / (‖g‖ + 1e-6))
 *   W ← W − lr · (ĝ + wd · W)
 * </pre>
 * to those rows at once. No gradient larger than one tile per worker exists (one tensor for a tied
 * embedding), so memory is parameters + activations, where SGD needs parameters + gradients and AdamW
 * parameters + gradients + two moments.
 *
 * <p>Global-norm clipping needs ‖g‖ before the first update, so it costs a first backward that only
 * accumulates Σg² and updates nothing. That backward leaves every weight's output gradient in activation
 * buffers it no longer needs, so the updating pass replays only the weight-gradient products: no input
 * gradients, attention or norm backwards, and no memory beyond the activations a plain step already holds.
 * Under activation checkpointing those buffers do not exist, so the updating pass is a second full backward
 * (recomputing each block again): a clipped step then costs two backwards and recomputations.
 */
public final class Lomo extends Optimizer {
    private final LomoPass pass;

    Lomo(LlamaModel model, OptimizerConfig config) {
        super(model, config);
        this.pass = new LomoPass(model.layout(), model.params(), model.parallel(), model.ledger());
    }

    @Override
    public StepResult step(Batch batch) {
        float loss = model.forward(batch);
        double norm = Double.NaN;
        float scale = 1f;
        boolean replay = config.clipNorm() > 0 && !model.checkpointing();
        if (config.clipNorm() > 0) {
            pass.begin(LomoPass.Mode.NORM, hp);
            if (replay) model.backwardKeepingOutputGradients(pass);
            else model.backward(pass);
            norm = Math.sqrt(pass.sumSquares());
            scale = Update.clipScale(norm, config.clipNorm());
        }
        double lr = prepareHyperParameters(scale);
        pass.begin(LomoPass.Mode.UPDATE, hp);
        if (replay) model.replayWeightGradients(pass);
        else model.backward(pass);
        step++;
        return new StepResult(loss, norm, lr);
    }
}
