package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.model.Batch;
import org.lomo4j.model.GradientSink;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;

import java.util.Map;

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
 *
 * <p>With float16 weights the step is loss-scaled ({@link LossScaler}): the first pass then always runs, on
 * gradients times S, and a step whose gradients are not all finite updates nothing.
 */
public sealed class Lomo extends Optimizer permits AdaLomo {
    private final LomoPass pass;      // LOMO's update, and the norm pass; null where neither runs (AdaLomo unclipped)
    private final LossScaler scaler;  // float16 weights only, else null

    Lomo(LlamaModel model, OptimizerConfig config) {
        this(model, config, defaultScaler(model), true);
    }

    Lomo(LlamaModel model, OptimizerConfig config, LossScaler scaler) {
        this(model, config, scaler, true);
    }

    /** {@code updates}: this pass applies the updates; otherwise it exists only where a norm pass runs. */
    Lomo(LlamaModel model, OptimizerConfig config, LossScaler scaler, boolean updates) {
        super(model, config);
        boolean normPass = config.clipNorm() > 0 || scaler != null;
        this.pass = updates || normPass ? new LomoPass(model.parameters(), config.rounding().code, model.parallel(), model.ledger()) : null;
        this.scaler = scaler;
    }

    /** Float16 weights are loss-scaled. */
    static LossScaler defaultScaler(LlamaModel model) {
        return model.parameters().dtype() == ParamDtype.F16 ? new LossScaler(LossScaler.INITIAL_EXPONENT, LossScaler.WINDOW) : null;
    }

    /** The tied weight's gradient buffer of the norm pass, for an updating pass to share; null without one. */
    float[] pendingBuffer() {
        return pass == null ? null : pass.pendingBuffer();
    }

    @Override
    public StepResult step(Batch batch) {
        double s = scaler == null ? 1 : scaler.scale();
        model.setGradientScale((float) s);
        float loss = finite(model.forward(batch));
        double norm = Double.NaN;
        float clip = 1f;
        boolean measure = config.clipNorm() > 0 || scaler != null;
        boolean replay = measure && !model.checkpointing();
        if (measure) {
            pass.begin(LomoPass.Mode.NORM, hp, 0);
            if (replay) model.backwardKeepingOutputGradients(pass);
            else model.backward(pass);
            double sumSquares = pass.sumSquares();
            if (!Double.isFinite(sumSquares) && scaler != null) {
                scaler.overflowed();
                double lr = config.schedule().at(step);
                step++;
                return new StepResult(loss, Double.NaN, lr, true);
            }
            norm = Math.sqrt(sumSquares) / s;
            if (config.clipNorm() > 0) clip = Update.clipScale(norm, config.clipNorm());
        }
        // The gradients arrive times s: clip their values at clipValue · s, and scale them back by 1 / s.
        double lr = prepareHyperParameters((float) (clip / s));
        hp[Update.CLIP_VALUE] *= (float) s;
        GradientSink update = beginUpdate();
        if (replay) model.replayWeightGradients(update);
        else model.backward(update);
        if (scaler != null) scaler.good();
        step++;
        return new StepResult(loss, norm, lr);
    }

    /** The sink of this step's updating pass, {@code hp} and the rounding key set: LOMO's SGD rows. */
    protected GradientSink beginUpdate() {
        pass.begin(LomoPass.Mode.UPDATE, hp, roundingKey);
        return pass;
    }

    /** The loss scaler's state ({@code lomo.loss_scale}: log₂ S and the good steps since it changed), with float16 weights. */
    @Override
    public Map<String, float[]> state() {
        return scaler == null ? Map.of() : Map.of("lomo.loss_scale", scaler.state());
    }
}
