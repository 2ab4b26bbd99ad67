package org.lomo4j.backend;

import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;

import java.util.List;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * A place other than the JVM's own threads where the model's kernels run: TornadoVM's devices
 * ({@code tornado-tasks/}). The core never imports such a backend; it finds one through
 * {@link ServiceLoader}, so the default build and jar need none of it.
 */
public interface Backend {

    /** The name {@code --backend} takes. */
    String name();

    /** The devices it can run on, one line each, indexed as {@code --device} counts. */
    List<String> devices();

    /**
     * LOMO with the model's weights kept on {@code device}, for batches of {@code batchSize × seqLen};
     * {@link Optimizer#syncToHost} brings the weights back.
     */
    Optimizer lomo(LlamaModel model, OptimizerConfig config, int device, int batchSize, int seqLen);

    /**
     * The device memory a {@link #lomo} run of {@code batchSize × seqLen} with {@code dtype} weights will hold, by
     * category, planned without allocating (what {@link Optimizer#deviceMemory} then accounts).
     */
    org.lomo4j.memory.MemoryLedger planLomo(org.lomo4j.model.LlamaConfig config, org.lomo4j.model.ParamDtype dtype, int batchSize,
                                            int seqLen);

    /** The memory of {@code device} in bytes, as its driver reports it. */
    long memoryBytes(int device);

    /** Forward to the logits on {@code device} for sequences of up to {@code maxSeq}, for evaluation and generation. */
    Forward forward(LlamaModel model, int device, int maxSeq);

    /**
     * The model's forward pass to (N, V) logits, as {@link LlamaModel#logits} computes them on the JVM, and
     * generation with a key/value cache on the device.
     */
    interface Forward extends AutoCloseable, org.lomo4j.model.KvDecoder {
        float[] logits(int[] tokens, int batchSize, int seqLen);

        @Override
        default void close() {
        }
    }

    /**
     * The backend named {@code name} if one is on the class or module path. A provider listed but not loadable
     * (a jar built with -Ptornado, then rebuilt without it) counts as absent.
     */
    static Optional<Backend> find(String name) {
        try {
            for (Backend b : ServiceLoader.load(Backend.class)) {
                if (b.name().equals(name)) return Optional.of(b);
            }
        } catch (ServiceConfigurationError e) {
            return Optional.empty();
        }
        return Optional.empty();
    }

    /**
     * The backend named {@code name}, found on the class or module path, or an error that says how to get it.
     * {@code jvm} is not looked up: it is the core itself.
     */
    static Backend named(String name) {
        Optional<Backend> found = find(name);
        if (found.isPresent()) return found.get();
        if (name.equals("tornado")) {
            throw new IllegalArgumentException("--backend tornado: TornadoVM is not available. Build with"
                    + " 'mvn -Ptornado package' and run with TornadoVM's 'tornado' launcher (see README, TornadoVM backend)");
        }
        throw new IllegalArgumentException("--backend must be jvm or tornado, got '" + name + "'");
    }
}
