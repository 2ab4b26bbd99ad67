package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.Parameters;
import org.lomo4j.model.Tensor;

/** Plain SGD with a full gradient buffer: the same update as LOMO, applied after backward. */
public final class Sgd extends FullGradientOptimizer {
    Sgd(LlamaModel model, OptimizerConfig config) {
        super(model, config);
    }

    @Override
    protected void updateRow(Tensor t, float[] g, int off, int len) {
        Parameters p = model.parameters();
        if (p.dtype().half()) {
            Update.sgdRowHalf(p.halves(t), off, g, off, len, hp, p.dtype().halfFormat, config.rounding().code, roundingKey,
                    t.position(off - t.offset()));
        } else {
            Update.sgdRow(p.floats(t), off, g, off, len, hp);
        }
    }
}
