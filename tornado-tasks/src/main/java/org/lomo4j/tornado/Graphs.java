package org.lomo4j.tornado;

import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Tensor;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.common.TornadoFunctions;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds the task graphs of one model, executed in this order: {@code embed_fwd}, {@code fwd_layer_i},
 * {@code head_fwd}, and for training {@code head_bwd}, {@code bwd_layer_i} (from the top) and
 * {@code embed_bwd}. Each graph's tasks are the JVM backend's steps in the same order
 * ({@code LlamaModel.blockForward} / {@code blockBackward}), so the two can be read side by side.
 *
 * <p>Residency: an array is copied to the device once, by the first graph that uses it (the weights, the RoPE
 * tables, and zeroed activations), and stays there. TornadoVM 5.2 hands device buffers from one graph to the
 * next only from the graph executed just before ({@code TornadoTaskGraph.updatePersistedObjectState}), so
 * every graph takes all arrays already on the device from its predecessor ({@code consumeFromDevice}),
 * including those it only carries on (a layer's activations, from its forward to its backward), and leaves
 * them all there ({@code persistOnDevice}). Only the per-step inputs travel every execution (tokens and
 * targets; the hyper-parameters and pass at the start of each backward), and only the per-position losses
 * come back. The weights and the norm pass's row sums come back only when asked for.
 *
 * <p>Launch sizes are the {@code @Parallel} loops' bounds in {@link Tasks}, which this class passes: one thread
 * per output element for matmuls and LOMO updates, one per row, head or token elsewhere.
 */
final class Graphs {
    private final LlamaConfig cfg;
    private final ParameterLayout layout;
    private final float[] params;
    private final DeviceBuffers d;
    private final Map<Tensor, Integer> squaresOffset = new IdentityHashMap<>();

    // Residency bookkeeping: the arrays on the device so far, the graph built last, what crosses every execution.
    private final Set<Object> onDevice = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    private final List<Object> onDeviceInOrder = new ArrayList<>();
    private String previous;
    private final Set<Object> inputsEveryStep;
    private final Set<Object> outputsEveryStep;

    Graphs(LlamaConfig cfg, ParameterLayout layout, float[] params, DeviceBuffers d) {
        this.cfg = cfg;
        this.layout = layout;
        this.params = params;
        this.d = d;
        int rows = 0;
        for (Tensor t : layout.tensors()) {
            squaresOffset.put(t, rows);
            rows += t.rows();
        }
        inputsEveryStep = identitySet(d.tokens, d.targets, d.hp, d.control);
        outputsEveryStep = identitySet(d.losses);
    }

    /** Rows of all weights together: the length of the norm pass's {@code squares}. */
    static int squareRows(ParameterLayout layout) {
        int rows = 0;
        for (Tensor t : layout.tensors()) rows += t.rows();
        return rows;
    }

    /** The forward graphs: embedding, every block, then the head with ({@code loss}) or without the loss. */
    List<TaskGraph> forward(boolean loss) {
        List<TaskGraph> graphs = new ArrayList<>();
        Graph g = new Graph("embed_fwd");
        embedForward(g);
        graphs.add(g.close());
        for (int l = 0; l < cfg.numHiddenLayers(); l++) {
            g = new Graph("fwd_layer_" + l);
            blockForward(g, l);
            graphs.add(g.close());
        }
        g = new Graph("head_fwd");
        headForward(g, loss);
        graphs.add(g.close());
        return graphs;
    }

    /** The backward graphs: head, blocks from the top, embedding; a norm pass or an updating pass, as control says. */
    List<TaskGraph> backward() {
        List<TaskGraph> graphs = new ArrayList<>();
        Graph g = new Graph("head_bwd");
        headBackward(g);
        graphs.add(g.close());
        for (int l = cfg.numHiddenLayers() - 1; l >= 0; l--) {
            g = new Graph("bwd_layer_" + l);
            blockBackward(g, l);
            graphs.add(g.close());
        }
        g = new Graph("embed_bwd");
        embedBackward(g);
        graphs.add(g.close());
        return graphs;
    }

    // ---- forward ----

    private void embedForward(Graph g) {
        g.task("embedding", Tasks::embedding, d.residual[0], d.tokens, params, layout.embedding().offset(), cfg.hiddenSize(), d.n);
    }

    private void blockForward(Graph g, int l) {
        ParameterLayout.Block w = layout.blocks().get(l);
        DeviceBuffers.Block a = d.blocks[l];
        float[] x = d.residual[l], out = d.residual[l + 1];
        int n = d.n, c = cfg.hiddenSize(), f = cfg.intermediateSize(), nh = cfg.numAttentionHeads(),
                nkv = cfg.numKeyValueHeads(), hd = cfg.headDim(), t = d.seq;
        g.task("input_norm", Tasks::rmsnorm, a.ln1, a.rstd1, x, params, w.inputNorm().offset(), c, cfg.rmsNormEps(), n);
        projection(g, "q", a.q, a.ln1, w.wq(), w.bq());
        projection(g, "k", a.k, a.ln1, w.wk(), w.bk());
        projection(g, "v", a.v, a.ln1, w.wv(), w.bv());
        g.task("rope_q", Tasks::rope, a.q, d.ropeCos, d.ropeSin, t, nh, hd, n * nh);
        g.task("rope_k", Tasks::rope, a.k, d.ropeCos, d.ropeSin, t, nkv, hd, n * nkv);
        g.task("attention", Tasks::attention, a.att, a.lse, a.q, a.k, a.v, t, nh, nkv, hd, d.batch * nh * t);
        projection(g, "o", a.res1, a.att, w.wo(), null);
        g.task("attention_residual", Tasks::residual, a.res1, x, c, n);
        g.task("post_attention_norm", Tasks::rmsnorm, a.ln2, a.rstd2, a.res1, params, w.postAttnNorm().offset(), c, cfg.rmsNormEps(), n);
        projection(g, "gate", a.gate, a.ln2, w.wGate(), null);
        projection(g, "up", a.up, a.ln2, w.wUp(), null);
        g.task("swiglu", Tasks::swiglu, a.h, a.gate, a.up, f, n);
        projection(g, "down", out, a.h, w.wDown(), null);
        g.task("mlp_residual", Tasks::residual, out, a.res1, c, n);
    }

    /** The final norm and the logits; with {@code loss}, the softmax in place and the per-position losses too. */
    private void headForward(Graph g, boolean loss) {
        int n = d.n, c = cfg.hiddenSize();
        g.task("final_norm", Tasks::rmsnorm, d.lnf, d.rstdf, d.residual[cfg.numHiddenLayers()], params, layout.finalNorm().offset(),
                c, cfg.rmsNormEps(), n);
        g.task("lm_head", Tasks::matmul, d.logits, d.lnf, params, layout.head().offset(), c, cfg.vocabSize(), n);
        if (loss) {
            g.task("cross_entropy", Tasks::crossEntropy, d.losses, d.logits, d.targets, cfg.vocabSize(), n);
        } else {
            g.output(d.logits);
        }
    }

    private void projection(Graph g, String name, float[] y, float[] x, Tensor w, Tensor b) {
        g.task(name + "_proj", Tasks::matmul, y, x, params, w.offset(), w.cols(), w.rows(), d.n);
        if (b != null) g.task(name + "_bias", Tasks::bias, y, params, b.offset(), b.cols(), d.n);
    }

    // ---- backward ----

    private void headBackward(Graph g) {
        int n = d.n, c = cfg.hiddenSize(), vocab = cfg.vocabSize();
        g.task("zero_dlogits", Tasks::zero, d.dlogits, n * vocab);
        g.task("cross_entropy_bwd", Tasks::crossEntropyBackward, d.dlogits, d.logits, d.targets, d.control, vocab, n);
        g.task("zero_dln", Tasks::zero, d.dln, n * c);
        g.task("lm_head_dx", Tasks::matmulInputGrad, d.dln, d.dlogits, params, layout.head().offset(), c, vocab, n);
        if (!layout.tied()) matmulWeight(g, "lm_head", layout.head(), d.dlogits, d.lnf);
        g.task("zero_dres", Tasks::zero, d.dres, n * c);
        norm(g, "final_norm", layout.finalNorm(), d.dres, d.dln, d.residual[cfg.numHiddenLayers()], d.rstdf);
    }

    private void blockBackward(Graph g, int l) {
        ParameterLayout.Block w = layout.blocks().get(l);
        DeviceBuffers.Block a = d.blocks[l];
        int n = d.n, c = cfg.hiddenSize(), f = cfg.intermediateSize(), nh = cfg.numAttentionHeads(),
                nkv = cfg.numKeyValueHeads(), hd = cfg.headDim(), t = d.seq;
        // MLP: dres reaches res1 unchanged through the residual.
        g.task("zero_dh", Tasks::zero, d.dh, n * f);
        projectionBackward(g, "down", d.dh, d.dres, a.h, w.wDown(), null);
        g.task("zero_dgate", Tasks::zero, d.dgate, n * f);
        g.task("zero_dup", Tasks::zero, d.dup, n * f);
        g.task("swiglu_bwd", Tasks::swigluBackward, d.dgate, d.dup, d.dh, a.gate, a.up, f, n);
        g.task("zero_dln2", Tasks::zero, d.dln, n * c);
        projectionBackward(g, "gate", d.dln, d.dgate, a.ln2, w.wGate(), null);
        projectionBackward(g, "up", d.dln, d.dup, a.ln2, w.wUp(), null);
        norm(g, "post_attention_norm", w.postAttnNorm(), d.dres, d.dln, a.res1, a.rstd2);
        // Attention.
        g.task("zero_datt", Tasks::zero, d.datt, n * nh * hd);
        projectionBackward(g, "o", d.datt, d.dres, a.att, w.wo(), null);
        g.task("zero_dq", Tasks::zero, d.dq, n * nh * hd);
        g.task("zero_dk", Tasks::zero, d.dk, n * nkv * hd);
        g.task("zero_dv", Tasks::zero, d.dv, n * nkv * hd);
        g.task("attention_bwd_query", Tasks::attentionBackwardQuery, d.dq, d.delta, d.datt, a.att, a.lse, a.q, a.k, a.v, t, nh,
                nkv, hd, d.batch * nh * t);
        g.task("attention_bwd_key_value", Tasks::attentionBackwardKeyValue, d.dk, d.dv, d.delta, a.lse, a.q, a.k, a.v, d.datt, t,
                nh, nkv, hd, d.batch * nkv * t);
        g.task("rope_q_bwd", Tasks::ropeBackward, d.dq, d.ropeCos, d.ropeSin, t, nh, hd, n * nh);
        g.task("rope_k_bwd", Tasks::ropeBackward, d.dk, d.ropeCos, d.ropeSin, t, nkv, hd, n * nkv);
        g.task("zero_dln1", Tasks::zero, d.dln, n * c);
        projectionBackward(g, "q", d.dln, d.dq, a.ln1, w.wq(), w.bq());
        projectionBackward(g, "k", d.dln, d.dk, a.ln1, w.wk(), w.bk());
        projectionBackward(g, "v", d.dln, d.dv, a.ln1, w.wv(), w.bv());
        norm(g, "input_norm", w.inputNorm(), d.dres, d.dln, d.residual[l], a.rstd1);
    }

    private void embedBackward(Graph g) {
        Tensor e = layout.embedding();
        int c = cfg.hiddenSize(), vocab = cfg.vocabSize(), tied = layout.tied() ? 1 : 0;
        g.task("embedding_squares", Tasks::embeddingSquares, d.squares, d.dres, d.tokens, d.dlogits, d.lnf, d.control,
                squaresOffset.get(e), c, vocab, tied, d.n);
        g.task("embedding_lomo", Tasks::embeddingLomo, params, d.dres, d.tokens, d.dlogits, d.lnf, d.hp, d.control,
                e.offset(), c, vocab, tied, d.n);
    }

    /** dx += dy · W with the weights as they are; then W's norm-pass squares or its fused update (and b's). */
    private void projectionBackward(Graph g, String name, float[] dx, float[] dy, float[] x, Tensor w, Tensor b) {
        g.task(name + "_dx", Tasks::matmulInputGrad, dx, dy, params, w.offset(), w.cols(), w.rows(), d.n);
        matmulWeight(g, name, w, dy, x);
        if (b != null) {
            g.task(name + "_bias_squares", Tasks::biasSquares, d.squares, dy, d.control, squaresOffset.get(b), b.cols(), d.n);
            g.task(name + "_bias_lomo", Tasks::biasLomo, params, dy, d.hp, d.control, b.offset(), b.cols(), d.n);
        }
    }

    private void matmulWeight(Graph g, String name, Tensor w, float[] dy, float[] x) {
        g.task(name + "_squares", Tasks::matmulSquares, d.squares, dy, x, d.control, squaresOffset.get(w), w.cols(), w.rows(), d.n);
        g.task(name + "_lomo", Tasks::matmulLomo, params, dy, x, d.hp, d.control, w.offset(), w.cols(), w.rows(), d.n);
    }

    private void norm(Graph g, String name, Tensor w, float[] dx, float[] dy, float[] x, float[] rstd) {
        int c = cfg.hiddenSize();
        g.task(name + "_dx", Tasks::rmsnormInputGrad, dx, dy, x, rstd, params, w.offset(), c, d.n);
        g.task(name + "_squares", Tasks::rmsnormSquares, d.squares, dy, x, rstd, d.control, squaresOffset.get(w), c, d.n);
        g.task(name + "_lomo", Tasks::rmsnormLomo, params, dy, x, rstd, d.hp, d.control, w.offset(), c, d.n);
    }

    private static Set<Object> identitySet(Object... objects) {
        Set<Object> s = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        s.addAll(List.of(objects));
        return s;
    }

    /**
     * One graph being built: tasks are recorded first, so that the arrays they use are known before the
     * graph's transfers are declared, in the order TornadoVM wants them (inputs, tasks, outputs).
     */
    private final class Graph {
        private final String name;
        private final List<java.util.function.Consumer<TaskGraph>> tasks = new ArrayList<>();
        private final Set<Object> used = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        private final List<Object> usedInOrder = new ArrayList<>();
        private final Set<Object> extraOutputs = java.util.Collections.newSetFromMap(new IdentityHashMap<>());

        Graph(String name) {
            this.name = name;
        }

        private void use(Object... args) {
            for (Object o : args) {
                if ((o instanceof float[] || o instanceof int[]) && used.add(o)) usedInOrder.add(o);
            }
        }

        void output(Object o) {
            extraOutputs.add(o);
        }

        <A, B> void task(String id, TornadoFunctions.Task2<A, B> k, A a, B b) {
            use(a, b);
            tasks.add(tg -> tg.task(id, k, a, b));
        }

        <A, B, C, D> void task(String id, TornadoFunctions.Task4<A, B, C, D> k, A a, B b, C c, D dd) {
            use(a, b, c, dd);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd));
        }

        <A, B, C, D, E> void task(String id, TornadoFunctions.Task5<A, B, C, D, E> k, A a, B b, C c, D dd, E e) {
            use(a, b, c, dd, e);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd, e));
        }

        <A, B, C, D, E, F> void task(String id, TornadoFunctions.Task6<A, B, C, D, E, F> k,
                                     A a, B b, C c, D dd, E e, F f) {
            use(a, b, c, dd, e, f);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd, e, f));
        }

        <A, B, C, D, E, F, G> void task(String id, TornadoFunctions.Task7<A, B, C, D, E, F, G> k,
                                        A a, B b, C c, D dd, E e, F f, G gg) {
            use(a, b, c, dd, e, f, gg);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd, e, f, gg));
        }

        <A, B, C, D, E, F, G, H> void task(String id, TornadoFunctions.Task8<A, B, C, D, E, F, G, H> k,
                                           A a, B b, C c, D dd, E e, F f, G gg, H h) {
            use(a, b, c, dd, e, f, gg, h);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h));
        }

        <A, B, C, D, E, F, G, H, I> void task(String id, TornadoFunctions.Task9<A, B, C, D, E, F, G, H, I> k,
                                              A a, B b, C c, D dd, E e, F f, G gg, H h, I i) {
            use(a, b, c, dd, e, f, gg, h, i);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i));
        }

        <A, B, C, D, E, F, G, H, I, J> void task(String id,
                TornadoFunctions.Task10<A, B, C, D, E, F, G, H, I, J> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j) {
            use(a, b, c, dd, e, f, gg, h, i, j);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j));
        }

        <A, B, C, D, E, F, G, H, I, J, K> void task(String id,
                TornadoFunctions.Task11<A, B, C, D, E, F, G, H, I, J, K> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L> void task(String id,
                TornadoFunctions.Task12<A, B, C, D, E, F, G, H, I, J, K, L> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll));
        }

        <A, B, C, D, E, F, G, H, I, J, K, L, M> void task(String id,
                TornadoFunctions.Task13<A, B, C, D, E, F, G, H, I, J, K, L, M> k,
                A a, B b, C c, D dd, E e, F f, G gg, H h, I i, J j, K kk, L ll, M m) {
            use(a, b, c, dd, e, f, gg, h, i, j, kk, ll, m);
            tasks.add(tg -> tg.task(id, k, a, b, c, dd, e, f, gg, h, i, j, kk, ll, m));
        }

        /** Declares the transfers (see the class comment), then the tasks, then what stays or comes back. */
        TaskGraph close() {
            TaskGraph tg = new TaskGraph(name);
            if (previous != null && !onDeviceInOrder.isEmpty()) tg.consumeFromDevice(previous, onDeviceInOrder.toArray());
            List<Object> firstTime = new ArrayList<>(), everyTime = new ArrayList<>(), back = new ArrayList<>();
            for (Object o : usedInOrder) {
                if (outputsEveryStep.contains(o) || extraOutputs.contains(o)) {
                    back.add(o);
                } else if (!onDevice.contains(o)) {
                    (inputsEveryStep.contains(o) ? everyTime : firstTime).add(o);
                    onDevice.add(o);
                    onDeviceInOrder.add(o);
                }
            }
            if (!firstTime.isEmpty()) tg.transferToDevice(DataTransferMode.FIRST_EXECUTION, firstTime.toArray());
            if (!everyTime.isEmpty()) tg.transferToDevice(DataTransferMode.EVERY_EXECUTION, everyTime.toArray());
            for (var t : tasks) t.accept(tg);
            if (!back.isEmpty()) tg.transferToHost(DataTransferMode.EVERY_EXECUTION, back.toArray());
            tg.persistOnDevice(onDeviceInOrder.toArray());
            previous = name;
            return tg;
        }
    }
}
