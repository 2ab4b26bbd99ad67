package org.lomo4j.bench.compare;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.lomo4j.data.ByteTokenizer;
import org.lomo4j.data.SyntheticSource;
import org.lomo4j.data.SyntheticTask;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * LibTorch as the independent oracle: one step from identical weights, lomo4j's LOMO in fp32 against
 * LibTorch's autograd + SGD in fp64. Every parameter must agree within 1e-4 relative; the update itself
 * (after − before), a much stricter measure, is reported too.
 */
final class OracleCheck {
    static final double TOLERANCE = 1e-4;

    record TensorDiff(String name, double paramRel, double updateRel) {}

    record Result(float lomoLoss, double torchLoss, List<TensorDiff> tensors) {
        double worstParam() {
            return tensors.stream().mapToDouble(TensorDiff::paramRel).max().orElse(0);
        }

        double worstUpdate() {
            return tensors.stream().mapToDouble(TensorDiff::updateRel).max().orElse(0);
        }

        boolean passed() {
            return worstParam() <= TOLERANCE;
        }
    }

    static Result run(LlamaConfig cfg, int batch, int seq, long seed, double lr, int threads) {
        Batch b = new SyntheticSource(SyntheticTask.REVERSE, new ByteTokenizer()).trainBatch(seed, 0, batch, seq);
        try (Parallel par = new Parallel(threads); PointerScope scope = new PointerScope()) {
            LlamaModel model = LlamaModel.initialize(cfg, seed, par, new MemoryLedger());
            float[] before = model.params().clone();
            TorchLlama oracle = new TorchLlama(cfg, before, seq, torch.ScalarType.Double);

            Optimizer lomo = Optimizer.create(model, OptimizerConfig.of(OptimizerConfig.Kind.LOMO, LrSchedule.constant(lr)));
            float lomoLoss = lomo.step(b).loss();
            Tensor loss = oracle.loss(b);
            loss.backward();
            double torchLoss = loss.item_double();
            oracle.sgd(lr);
            float[] theirs = oracle.weights();

            List<TensorDiff> diffs = new ArrayList<>();
            for (org.lomo4j.model.Tensor t : model.layout().tensors()) {
                double paramErr = 0, paramScale = 0, updErr = 0, updScale = 0;
                for (int i = t.offset(); i < t.offset() + t.size(); i++) {
                    paramErr = Math.max(paramErr, Math.abs(model.params()[i] - theirs[i]));
                    paramScale = Math.max(paramScale, Math.abs(theirs[i]));
                    double ours = (double) model.params()[i] - before[i], oracleUpdate = (double) theirs[i] - before[i];
                    updErr = Math.max(updErr, Math.abs(ours - oracleUpdate));
                    updScale = Math.max(updScale, Math.abs(oracleUpdate));
                }
                diffs.add(new TensorDiff(t.name(), paramErr / paramScale, updScale == 0 ? 0 : updErr / updScale));
            }
            return new Result(lomoLoss, torchLoss, diffs);
        }
    }

    static String report(Result r) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "loss at the start: lomo4j %.6f, LibTorch fp64 %.6f%n", r.lomoLoss(), r.torchLoss()));
        sb.append(String.format(Locale.ROOT, "after one step, over %d tensors: max relative parameter difference %.2e (limit %.0e), "
                + "max relative difference of the update itself %.2e -> %s%n", r.tensors().size(), r.worstParam(), TOLERANCE,
                r.worstUpdate(), r.passed() ? "PASS" : "FAIL"));
        return sb.toString();
    }
}
