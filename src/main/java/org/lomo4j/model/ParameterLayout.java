package org.lomo4j.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where every weight lives in the flat parameter array, named as in Hugging Face LLaMA checkpoints.
 * Tensors are laid out in forward order: embedding, then each block, then the final norm and head.
 * With tied embeddings, the head is the embedding tensor itself. Qwen2 adds a bias after each of q, k and v.
 */
public final class ParameterLayout {

    /** The weights of one decoder block. */
    public record Block(
            Tensor inputNorm,     // (C)
            Tensor wq,            // (NH·HD, C)
            Tensor bq,            // (NH·HD), or null without q/k/v biases
            Tensor wk,            // (NKV·HD, C)
            Tensor bk,            // (NKV·HD), or null
            Tensor wv,            // (NKV·HD, C)
            Tensor bv,            // (NKV·HD), or null
            Tensor wo,            // (C, NH·HD)
            Tensor postAttnNorm,  // (C)
            Tensor wGate,         // (F, C)
            Tensor wUp,           // (F, C)
            Tensor wDown) {       // (C, F)
    }

    private final Map<String, Tensor> byName = new LinkedHashMap<>();
    private final Tensor embedding;    // (V, C)
    private final List<Block> blocks;
    private final Tensor finalNorm;    // (C)
    private final Tensor head;         // (V, C), the embedding when tied
    private final long total;

    public ParameterLayout(LlamaConfig cfg) {
        int c = cfg.hiddenSize();
        int f = cfg.intermediateSize();
        int qDim = cfg.numAttentionHeads() * cfg.headDim();
        int kvDim = cfg.kvDim();
        Allocator a = new Allocator();
        embedding = a.matrix("model.embed_tokens.weight", cfg.vocabSize(), c);
        List<Block> bs = new ArrayList<>();
        for (int l = 0; l < cfg.numHiddenLayers(); l++) {
            String p = "model.layers." + l + ".";
            bs.add(new Block(
                    a.vector(p + "input_layernorm.weight", c),
                    a.matrix(p + "self_attn.q_proj.weight", qDim, c),
                    cfg.qkvBias() ? a.vector(p + "self_attn.q_proj.bias", qDim) : null,
                    a.matrix(p + "self_attn.k_proj.weight", kvDim, c),
                    cfg.qkvBias() ? a.vector(p + "self_attn.k_proj.bias", kvDim) : null,
                    a.matrix(p + "self_attn.v_proj.weight", kvDim, c),
                    cfg.qkvBias() ? a.vector(p + "self_attn.v_proj.bias", kvDim) : null,
                    a.matrix(p + "self_attn.o_proj.weight", c, qDim),
                    a.vector(p + "post_attention_layernorm.weight", c),
                    a.matrix(p + "mlp.gate_proj.weight", f, c),
                    a.matrix(p + "mlp.up_proj.weight", f, c),
                    a.matrix(p + "mlp.down_proj.weight", c, f)));
        }
        blocks = Collections.unmodifiableList(bs);
        finalNorm = a.vector("model.norm.weight", c);
        head = cfg.tieWordEmbeddings() ? embedding : a.matrix("lm_head.weight", cfg.vocabSize(), c);
        total = a.next;
    }

    public Tensor embedding() {
        return embedding;
    }

    public List<Block> blocks() {
        return blocks;
    }

    public Tensor finalNorm() {
        return finalNorm;
    }

    public Tensor head() {
        return head;
    }

    public boolean tied() {
        return head == embedding;
    }

    /** Number of parameters (floats) in the flat array. */
    public long totalSize() {
        return total;
    }

    /** All tensors in layout order; a tied head is listed once, as the embedding. */
    public List<Tensor> tensors() {
        return List.copyOf(byName.values());
    }

    public Tensor get(String name) {
        return byName.get(name);
    }

    /** The longest row of any tensor: the size of one gradient row LOMO holds per worker. */
    public int maxCols() {
        return byName.values().stream().mapToInt(Tensor::cols).max().orElse(0);
    }

    public int maxRows() {
        return byName.values().stream().mapToInt(Tensor::rows).max().orElse(0);
    }

    private final class Allocator {
        long next;

        Tensor matrix(String name, int rows, int cols) {
            return add(name, rows, cols, false);
        }

        Tensor vector(String name, int cols) {
            return add(name, 1, cols, true);
        }

        private Tensor add(String name, int rows, int cols, boolean vector) {
            long size = (long) rows * cols;
            if (next + size > Integer.MAX_VALUE - 8) {
                throw new ConfigException("model has more than " + (Integer.MAX_VALUE - 8)
                        + " parameters, the limit of lomo4j's flat fp32 storage (at " + name + ")");
            }
            Tensor t = new Tensor(name, (int) next, rows, cols, vector);
            byName.put(name, t);
            next += size;
            return t;
        }
    }
}
