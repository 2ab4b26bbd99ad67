package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.Tensor;

/** Forward, a complete backward into a full gradient buffer, then an update of every row. */
abstract sealed class FullGradientOptimizer extends Optimizer permits Sgd, AdamW {
    protected final FullGradients gradients;

    FullGradientOptimizer(LlamaModel model, OptimizerConfig config) {
        super(model, config);
        this.gradients = new FullGradients(model.layout(), model.parallel(), model.ledger());
    }

    @Override
    public StepResult step(Batch batch) {
        float loss = finite(model.forward(batch));
        gradients.zero();
        model.backward(gradients);
        double norm = config.clipNorm() > 0 ? gradients.norm() : Double.NaN;
        double lr = prepareHyperParameters(Update.clipScale(norm, config.clipNorm()));
        beforeUpdate();
        for (Tensor t : model.layout().tensors()) {
            float[] g = gradients.grads(t);
            model.parallel().forEach(t.rows(), (lo, hi, w) -> {
                for (int row = lo; row < hi; row++) updateRow(t, g, t.offset() + row * t.cols(), t.cols());
            });
        }
        gradients.applied();
        step++;
        return new StepResult(loss, norm, lr);
    }

    protected void beforeUpdate() {}

    /**
     * Updates {@code len} parameters of {@code t} from {@code off} in its segment, whose gradient is at the
     * same offset in {@code g}.
     */
    protected abstract void updateRow(Tensor t, float[] g, int off, int len);
}
