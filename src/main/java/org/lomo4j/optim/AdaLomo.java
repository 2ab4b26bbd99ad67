package org.lomo4j.optim;

import org.lomo4j.model.GradientSink;
import org.lomo4j.model.LlamaModel;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdaLomo (Lv et al., 2023, arXiv 2310.10195): LOMO with an adaptive per-parameter learning rate from
 * factored second moments (one row and one column vector per matrix, no first moment) and grouped update
 * normalization ({@link org.lomo4j.kernels.AdaLomoUpdate}), fused into backward as LOMO is
 * ({@link AdaLomoPass}). Global-norm clipping and float16 loss scaling work as for {@link Lomo}: a first
 * pass measures the norm, then the updating pass runs with its scale; by default AdaLomo needs neither.
 */
final class AdaLomo extends Lomo {
    private final AdaLomoPass adaPass;

    AdaLomo(LlamaModel model, OptimizerConfig config) {
        super(model, config, defaultScaler(model), false);
        // A tied embedding's gradient buffer is the norm pass's, when there is one: the passes run one after the other.
        this.adaPass = new AdaLomoPass(model.parameters(), config.rounding().code, model.parallel(), model.ledger(), pendingBuffer());
    }

    @Override
    protected GradientSink beginUpdate() {
        adaPass.begin(step + 1, hp, roundingKey);
        return adaPass;
    }

    @Override
    public Map<String, float[]> state() {
        Map<String, float[]> s = new LinkedHashMap<>(super.state());
        s.putAll(adaPass.state());
        return s;
    }
}
