package org.lomo4j.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where every weight lives, named as in Hugging Face LLaMA checkpoints. Tensors are laid out in forward
 * order (embedding, then each block, then the final norm and head) into segments: arrays of at most
 * {@link #MAX_SEGMENT} values, a new one begun when the next tensor would not fit, or the next block where a
 * block fits in one (so a device can find every layer whole, at the same offsets from its start). A model below 2³¹
 * parameters is one segment, at the offsets a flat array would give; a 7B model is four. With tied
 * embeddings, the head is the embedding tensor itself. Qwen2 adds a bias after each of q, k and v.
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
            Tensor qNorm,         // (HD), Qwen3's per-head RMSNorm of q, or null
            Tensor kNorm,         // (HD), of k, or null
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
    private final List<Long> segmentSizes = new ArrayList<>();

    /** The most values one segment holds: the largest Java array. */
    public static final long MAX_SEGMENT = Integer.MAX_VALUE - 8;

    public ParameterLayout(LlamaConfig cfg) {
        this(cfg, MAX_SEGMENT);
    }

    /** A layout whose segments hold at most {@code maxSegment} values (tests use small ones to exercise many). */
    public ParameterLayout(LlamaConfig cfg, long maxSegment) {
        int c = cfg.hiddenSize();
        int f = cfg.intermediateSize();
        int qDim = cfg.numAttentionHeads() * cfg.headDim();
        int kvDim = cfg.kvDim();
        Allocator a = new Allocator(maxSegment);
        embedding = a.matrix("model.embed_tokens.weight", cfg.vocabSize(), c);
        List<Block> bs = new ArrayList<>();
        long blockSize = 2L * c + 2L * qDim * c + 2L * kvDim * c + 3L * f * c + (cfg.qkvBias() ? qDim + 2L * kvDim : 0)
                + (cfg.qkNorm() ? 2L * cfg.headDim() : 0);
        for (int l = 0; l < cfg.numHiddenLayers(); l++) {
            String p = "model.layers." + l + ".";
            a.keepTogether(blockSize);
            bs.add(new Block(
                    a.vector(p + "input_layernorm.weight", c),
                    a.matrix(p + "self_attn.q_proj.weight", qDim, c),
                    cfg.qkvBias() ? a.vector(p + "self_attn.q_proj.bias", qDim) : null,
                    a.matrix(p + "self_attn.k_proj.weight", kvDim, c),
                    cfg.qkvBias() ? a.vector(p + "self_attn.k_proj.bias", kvDim) : null,
                    a.matrix(p + "self_attn.v_proj.weight", kvDim, c),
                    cfg.qkvBias() ? a.vector(p + "self_attn.v_proj.bias", kvDim) : null,
                    a.matrix(p + "self_attn.o_proj.weight", c, qDim),
                    cfg.qkNorm() ? a.vector(p + "self_attn.q_norm.weight", cfg.headDim()) : null,
                    cfg.qkNorm() ? a.vector(p + "self_attn.k_norm.weight", cfg.headDim()) : null,
                    a.vector(p + "post_attention_layernorm.weight", c),
                    a.matrix(p + "mlp.gate_proj.weight", f, c),
                    a.matrix(p + "mlp.up_proj.weight", f, c),
                    a.matrix(p + "mlp.down_proj.weight", c, f)));
        }
        blocks = Collections.unmodifiableList(bs);
        finalNorm = a.vector("model.norm.weight", c);
        head = cfg.tieWordEmbeddings() ? embedding : a.matrix("lm_head.weight", cfg.vocabSize(), c);
        segmentSizes.add(a.next);
        total = segmentSizes.stream().mapToLong(Long::longValue).sum();
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

    /** Number of parameters. */
    public long totalSize() {
        return total;
    }

    public int segments() {
        return segmentSizes.size();
    }

    /** Values in segment {@code s}. */
    public int segmentSize(int s) {
        return (int) (long) segmentSizes.get(s);
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
        final long maxSegment;
        int segment;
        long next;  // the next offset in the current segment
        long done;  // values in the segments before it

        Allocator(long maxSegment) {
            this.maxSegment = maxSegment;
        }

        Tensor matrix(String name, int rows, int cols) {
            return add(name, rows, cols, false);
        }

        /** Begins a new segment unless the next {@code size} values fit in this one, if they fit in any. */
        void keepTogether(long size) {
            if (size <= maxSegment && next + size > maxSegment) newSegment();
        }

        private void newSegment() {
            segmentSizes.add(next);
            segment++;
            done += next;
            next = 0;
        }

        Tensor vector(String name, int cols) {
            return add(name, 1, cols, true);
        }

        private Tensor add(String name, int rows, int cols, boolean vector) {
            long size = (long) rows * cols;
            if (size > maxSegment) {
                throw new ConfigException(name + " has " + size + " values, more than one array holds (" + maxSegment + ")");
            }
            if (next + size > maxSegment) newSegment();
            Tensor t = new Tensor(name, segment, (int) next, done + next, rows, cols, vector);
            byName.put(name, t);
            next += size;
            return t;
        }
    }
}
