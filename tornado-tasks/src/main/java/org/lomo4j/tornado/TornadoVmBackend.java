package org.lomo4j.tornado;

import org.lomo4j.backend.Backend;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import uk.ac.manchester.tornado.api.TornadoBackend;
import uk.ac.manchester.tornado.api.TornadoRuntime;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.runtime.TornadoRuntimeProvider;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code --backend tornado}: the model's kernels as TornadoVM task graphs on an OpenCL, PTX or SPIR-V device.
 * Found by the core through {@link java.util.ServiceLoader}; touches TornadoVM only when asked for devices or
 * a plan, and then says plainly when its runtime is missing (plain {@code java} instead of {@code tornado}).
 */
public final class TornadoVmBackend implements Backend {
    static {
        // The backward graph holds some fifty tasks per layer; TornadoVM's default bytecode buffer (4 KB) fits about
        // twenty. Read once, when TornadoVM first compiles a graph, so it is set here, before any graph exists.
        if (System.getProperty("tornado.tvm.maxbytecodesize") == null) System.setProperty("tornado.tvm.maxbytecodesize", "4194304");
        // A kernel the device cannot compile would otherwise run silently as sequential Java ("bailout"): fail instead.
        if (System.getProperty("tornado.recover.bailout") == null) System.setProperty("tornado.recover.bailout", "False");
        // TornadoVM refuses buffers past 4 GB a device unless told otherwise, which would stop TinyLlama's fp32 weights
        // (4.1 GiB) on a 141 GB GPU. train plans the device's memory against what the device itself reports, so the cap goes.
        if (System.getProperty("tornado.device.memory") == null) System.setProperty("tornado.device.memory", "1024GB");
    }

    @Override
    public String name() {
        return "tornado";
    }

    @Override
    public List<String> devices() {
        List<String> out = new ArrayList<>();
        for (TornadoDevice dev : allDevices()) out.add(dev.getPlatformName().trim() + " / " + dev.getDeviceName() + " (" + dev.getDescription().trim() + ")");
        return out;
    }

    @Override
    public Optimizer lomo(LlamaModel model, OptimizerConfig config, int device, int batchSize, int seqLen) {
        Graphs.requireVectorWidths(model.config());
        return new TornadoLomo(model, config, device(device), batchSize, seqLen);
    }

    @Override
    public MemoryLedger planLomo(LlamaConfig config, ParamDtype dtype, int batchSize, int seqLen) {
        Graphs.requireVectorWidths(config);
        return DeviceBuffers.plan(config, new ParameterLayout(config), dtype, batchSize, seqLen, true);
    }

    @Override
    public long memoryBytes(int device) {
        return device(device).getMaxGlobalMemory();
    }

    @Override
    public Forward forward(LlamaModel model, int device, int maxSeq) {
        return new TornadoForward(model, device(device), maxSeq);
    }

    private static TornadoDevice device(int index) {
        List<TornadoDevice> all = allDevices();
        if (index < 0 || index >= all.size()) {
            throw new IllegalArgumentException("--device " + index + ": TornadoVM has " + all.size() + " device(s), 0.." + (all.size() - 1));
        }
        return all.get(index);
    }

    /** Every device of every TornadoVM backend, in the order {@code tornado --devices} lists them. */
    private static List<TornadoDevice> allDevices() {
        TornadoRuntime runtime;
        try {
            runtime = TornadoRuntimeProvider.getTornadoRuntime();
        } catch (Throwable e) {
            throw new IllegalArgumentException("--backend tornado: TornadoVM's runtime did not start (" + e
                    + "); run with TornadoVM's 'tornado' launcher (see README)");
        }
        List<TornadoDevice> all = new ArrayList<>();
        for (int b = 0; b < runtime.getNumBackends(); b++) {
            TornadoBackend backend = runtime.getBackend(b);
            for (int i = 0; i < backend.getNumDevices(); i++) all.add(backend.getDevice(i));
        }
        return all;
    }
}
