package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.model.LlamaModel;

/** Plain SGD with a full gradient buffer: the same update as LOMO, applied after backward. */
public final class Sgd extends FullGradientOptimizer {
    Sgd(LlamaModel model, OptimizerConfig config) {
        super(model, config);
    }

    @Override
    protected void updateRow(float[] g, int off, int len) {
        Update.sgdRow(model.params(), off, g, off, len, hp);
    }
}
