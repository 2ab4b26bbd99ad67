package org.lomo4j.optim;

import org.lomo4j.kernels.Update;
import org.lomo4j.memory.Category;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Parameters;
import org.lomo4j.model.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW with full gradients and two fp32 moment buffers (one per parameter segment each); the equations are
 * on {@link Update#adamwRow}.
 */
public final class AdamW extends FullGradientOptimizer {
    private final float[][] m;  // per segment, first moment
    private final float[][] v;  // per segment, second moment

    AdamW(LlamaModel model, OptimizerConfig config) {
        super(model, config);
        ParameterLayout layout = model.layout();
        this.m = new float[layout.segments()][];
        this.v = new float[layout.segments()][];
        for (int s = 0; s < m.length; s++) {
            m[s] = model.ledger().floats(Category.OPTIMIZER_STATE, layout.segmentSize(s));
            v[s] = model.ledger().floats(Category.OPTIMIZER_STATE, layout.segmentSize(s));
        }
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
    protected void updateRow(Tensor t, float[] g, int off, int len) {
        Parameters p = model.parameters();
        float[] ms = m[t.segment()], vs = v[t.segment()];
        if (p.dtype().half()) {
            Update.adamwRowHalf(p.halves(t), off, g, off, ms, vs, off, len, hp, p.dtype().halfFormat, config.rounding().code,
                    roundingKey, t.position(off - t.offset()));
        } else {
            Update.adamwRow(p.floats(t), off, g, off, ms, vs, off, len, hp);
        }
    }

    /** The moments by name: {@code adamw.m} and {@code adamw.v}, with {@code .1}, {@code .2} … for later segments. */
    @Override
    public Map<String, float[]> state() {
        Map<String, float[]> s = new LinkedHashMap<>();
        for (int i = 0; i < m.length; i++) {
            String suffix = i == 0 ? "" : "." + i;
            s.put("adamw.m" + suffix, m[i]);
            s.put("adamw.v" + suffix, v[i]);
        }
        return s;
    }
}
