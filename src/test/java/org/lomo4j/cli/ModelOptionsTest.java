package org.lomo4j.cli;

import org.junit.jupiter.api.Test;
import org.lomo4j.backend.Backend;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ModelOptionsTest {

    /** A device backend that is never asked to run anything: what the checks before a run see. */
    private static final Backend DEVICE = new Backend() {
        @Override
        public String name() {
            return "tornado";
        }

        @Override
        public List<String> devices() {
            return List.of("a device");
        }

        @Override
        public Optimizer lomo(LlamaModel model, OptimizerConfig config, int device, int batchSize, int seqLen) {
            throw new AssertionError("not run");
        }

        @Override
        public MemoryLedger planLomo(LlamaConfig config, org.lomo4j.model.ParamDtype dtype, int batchSize, int seqLen) {
            throw new AssertionError("not run");
        }

        @Override
        public long memoryBytes(int device) {
            return 0;
        }

        @Override
        public Forward forward(LlamaModel model, int device, int maxSeq) {
            throw new AssertionError("not run");
        }
    };

    /**
     * A device takes a 7B model (past one array's 2^31 values, held in segments); what it cannot run, Qwen3's q/k
     * norms, is refused before anything is loaded, naming the flag.
     */
    @Test
    void aDeviceRefusesOnlyWhatItHasNoKernelsFor() {
        ModelOptions.requireDeviceSupport(DEVICE, LlamaConfig.load(Path.of("models/llama-2-7b/config.json")));
        var e = assertThrows(IllegalArgumentException.class,
                () -> ModelOptions.requireDeviceSupport(DEVICE, LlamaConfig.load(Path.of("models/qwen3-0.6b/config.json"))));
        assertEquals("--backend tornado: Qwen3's per-head q/k norms have no device kernels yet; use --backend jvm", e.getMessage());
        ModelOptions.requireDeviceSupport(null, LlamaConfig.load(Path.of("models/qwen3-0.6b/config.json")));  // the JVM runs it
    }

    /** bf16 weights run on a device; float16's, which need the JVM's loss scaling, are refused naming the flag. */
    @Test
    void aDeviceRefusesFloat16Weights() {
        ModelOptions o = new ModelOptions();
        o.backend = "tornado";
        o.paramDtype = "f16";
        var e = assertThrows(IllegalArgumentException.class, o::deviceBackend);
        assertEquals("--backend tornado keeps 16-bit weights as bf16 (float16's loss scaling is on the JVM backend); run it with "
                + "--param-dtype bf16 or f32", e.getMessage());
    }
}
