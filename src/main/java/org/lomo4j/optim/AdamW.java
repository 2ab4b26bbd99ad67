package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.memory.Category;
import org.lomo4j.model.LlamaModel;

import java.util.LinkedHashMap;
import java.util.Map;

/** AdamW with full gradients and two moment buffers; the equations are on {@link Update#adamwRow}. */
public final class AdamW extends FullGradientOptimizer {
    private final float[] m;  // (P) first moment
    private final float[] v;  // (P) second moment

    AdamW(LlamaModel model, OptimizerConfig config) {
        super(model, config);
        long size = model.layout().totalSize();
        this.m = model.ledger().floats(Category.OPTIMIZER_STATE, size);
        this.v = model.ledger().floats(Category.OPTIMIZER_STATE, size);
    }

    @Override
    protected void beforeUpdate() {
        int t = step + 1;
        hp[Update.BETA1] = (float) config.beta1();
        hp[Update.BETA2] = (float) config.beta2();
        hp[Update.EPS] = (float) config.eps();
        hp[Update.BIAS_CORRECTION1] = (float) (1 - Math.pow(config.beta1(), t));
        hp[Update.BIAS_CORRECTION2] = (float) (1 - Math.pow(config.beta2(), t));
    }

    @Override
    protected void updateRow(float[] g, int off, int len) {
        Update.adamwRow(model.params(), off, g, off, m, v, off, len, hp);
    }

    @Override
    public Map<String, float[]> state() {
        Map<String, float[]> s = new LinkedHashMap<>();
        s.put("adamw.m", m);
        s.put("adamw.v", v);
        return s;
    }
}
