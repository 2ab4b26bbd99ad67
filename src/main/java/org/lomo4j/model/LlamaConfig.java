package org.lomo4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Set;

/**
 * A LLaMA-architecture model's shape, read from a Hugging Face {@code config.json} with HF's field names,
 * so a real checkpoint's config loads unchanged.
 */
public record LlamaConfig(
        int hiddenSize,            // C
        int intermediateSize,      // F
        int numHiddenLayers,       // L
        int numAttentionHeads,     // NH
        int numKeyValueHeads,      // NKV
        int vocabSize,             // V
        int maxPositionEmbeddings, // maximum T
        float rmsNormEps,
        double ropeTheta,
        boolean tieWordEmbeddings,
        boolean qkvBias,           // Qwen2: the q, k and v projections carry biases
        RopeScaling ropeScaling,   // Llama 3's frequency scaling, or null
        int headDim,               // HD: hidden_size / num_attention_heads unless head_dim says otherwise (Qwen3-0.6B)
        boolean qkNorm) {          // Qwen3: RMSNorm over each head of q and of k, before RoPE

    /** Fields lomo4j reads. */
    private static final Set<String> USED = Set.of("hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "vocab_size", "max_position_embeddings",
            "rms_norm_eps", "rope_theta", "rope_parameters", "rope_scaling", "tie_word_embeddings");

    /**
     * Fields of real HF LLaMA/Qwen2 configs that do not change the computation lomo4j does (token ids,
     * dtype, bookkeeping), or that are checked against the one value lomo4j supports in {@link #validate}.
     */
    private static final Set<String> ACCEPTED = Set.of("architectures", "model_type", "torch_dtype", "dtype",
            "transformers_version", "bos_token_id", "eos_token_id", "pad_token_id", "initializer_range",
            "use_cache", "pretraining_tp", "attention_dropout", "hidden_act", "attention_bias", "mlp_bias",
            "head_dim", "_name_or_path", "max_window_layers", "use_sliding_window",
            "sliding_window", "layer_types");

    public LlamaConfig {
        validate("config", hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads,
                vocabSize, maxPositionEmbeddings, rmsNormEps, ropeTheta, headDim);
    }

    /** A config whose head dimension is hidden_size / num_attention_heads, without q/k norms. */
    public LlamaConfig(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                       int numKeyValueHeads, int vocabSize, int maxPositionEmbeddings, float rmsNormEps,
                       double ropeTheta, boolean tieWordEmbeddings, boolean qkvBias, RopeScaling ropeScaling) {
        this(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, vocabSize,
                maxPositionEmbeddings, rmsNormEps, ropeTheta, tieWordEmbeddings, qkvBias, ropeScaling,
                numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0, false);
    }

    /** A config with plain RoPE. */
    public LlamaConfig(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                       int numKeyValueHeads, int vocabSize, int maxPositionEmbeddings, float rmsNormEps,
                       double ropeTheta, boolean tieWordEmbeddings, boolean qkvBias) {
        this(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, vocabSize,
                maxPositionEmbeddings, rmsNormEps, ropeTheta, tieWordEmbeddings, qkvBias, null);
    }

    /** A LLaMA config (no projection biases). */
    public LlamaConfig(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                       int numKeyValueHeads, int vocabSize, int maxPositionEmbeddings, float rmsNormEps,
                       double ropeTheta, boolean tieWordEmbeddings) {
        this(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, vocabSize,
                maxPositionEmbeddings, rmsNormEps, ropeTheta, tieWordEmbeddings, false);
    }

    /** HF's name for the architecture: Qwen2 is LLaMA with q/k/v biases, Qwen3 with per-head q/k norms. */
    public String modelType() {
        return qkNorm ? "qwen3" : qkvBias ? "qwen2" : "llama";
    }

    /** RoPE's inverse frequencies, one per rotary pair (HD / 2), Llama 3's scaling applied where the config has it. */
    public double[] ropeInverseFrequencies() {
        double[] inv = new double[headDim() / 2];
        for (int i = 0; i < inv.length; i++) inv[i] = RopeScaling.inverseFrequency(ropeScaling, ropeTheta, headDim(), i);
        return inv;
    }

    public int kvDim() {
        return numKeyValueHeads * headDim();
    }

    public static LlamaConfig load(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new ConfigException(file + ": not readable as JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new ConfigException(file + ": expected a JSON object");
        }
        return fromJson((ObjectNode) root, file.toString());
    }

    public static LlamaConfig fromJson(ObjectNode json, String source) {
        for (Iterator<String> it = json.fieldNames(); it.hasNext(); ) {
            String field = it.next();
            if (!USED.contains(field) && !ACCEPTED.contains(field)) {
                throw new ConfigException(source + ": unknown field '" + field + "'");
            }
        }
        Fields f = new Fields(json, source);
        int hidden = f.positiveInt("hidden_size", null);
        int heads = f.positiveInt("num_attention_heads", null);
        f.require("hidden_act", "silu");
        f.require("attention_bias", false);
        f.require("mlp_bias", false);
        // transformers 5 writes RoPE's settings as rope_parameters {rope_type, rope_theta, ...}; 4.x as rope_theta
        // and rope_scaling {rope_type (or type), factor, ...}, which Llama 3.x checkpoints on the Hub still carry.
        Fields rope = f;
        RopeScaling scaling = null;
        for (String field : new String[] {"rope_parameters", "rope_scaling"}) {
            if (!json.hasNonNull(field)) continue;
            if (!json.get(field).isObject()) {
                throw new ConfigException(source + ": field '" + field + "' must be an object, got " + json.get(field));
            }
            ObjectNode params = (ObjectNode) json.get(field);
            Fields p = new Fields(params, source + ": " + field);
            String ropeType = params.path("rope_type").asText(params.path("type").asText("default"));
            switch (ropeType) {
                case "default" -> { }
                case "llama3" -> scaling = new RopeScaling(p.positiveDouble("factor", 8.0), p.positiveDouble("low_freq_factor", 1.0),
                        p.positiveDouble("high_freq_factor", 4.0), p.positiveInt("original_max_position_embeddings", 8192));
                default -> throw new ConfigException(source + ": field '" + field + ".rope_type' = '" + ropeType
                        + "' is not supported (default or llama3)");
            }
            if (scaling != null && !(scaling.highFreqFactor() > scaling.lowFreqFactor())) {
                throw new ConfigException(source + ": field '" + field + ".high_freq_factor' must be larger than low_freq_factor");
            }
            if (params.has("rope_theta")) rope = p;
        }
        int headDim;
        if (json.hasNonNull("head_dim")) {
            headDim = f.positiveInt("head_dim", null);
        } else {
            if (heads > 0 && hidden % heads != 0) {
                throw new ConfigException(source + ": field 'num_attention_heads' must divide hidden_size (" + hidden + "), or give head_dim");
            }
            headDim = heads > 0 ? hidden / heads : 0;
        }
        if (json.path("use_sliding_window").asBoolean(false)) {
            throw new ConfigException(source + ": field 'use_sliding_window' = true is not supported");
        }
        String type = json.path("model_type").asText("llama");
        if (!type.equals("llama") && !type.equals("mistral") && !type.equals("qwen2") && !type.equals("qwen3")) {
            throw new ConfigException(source + ": field 'model_type' = '" + type
                    + "' is not supported (llama, mistral, qwen2 or qwen3)");
        }
        try {
            return new LlamaConfig(hidden,
                    f.positiveInt("intermediate_size", null),
                    f.positiveInt("num_hidden_layers", null),
                    heads,
                    f.positiveInt("num_key_value_heads", heads),
                    f.positiveInt("vocab_size", null),
                    f.positiveInt("max_position_embeddings", 2048),
                    (float) f.positiveDouble("rms_norm_eps", 1e-6),
                    rope.positiveDouble("rope_theta", 10000.0),
                    f.bool("tie_word_embeddings", false),
                    type.equals("qwen2"),
                    scaling,
                    headDim,
                    type.equals("qwen3"));
        } catch (ConfigException e) {
            // The record's own checks say "config: …"; name the file instead. Field errors name it already.
            if (!e.getMessage().startsWith("config: ")) throw e;
            throw new ConfigException(source + ": " + e.getMessage().substring("config: ".length()));
        }
    }

    private static void validate(String source, int hidden, int inter, int layers, int heads, int kvHeads, int vocab,
                                 int maxPos, float eps, double theta, int headDim) {
        check(source, hidden > 0, "hidden_size", "must be positive");
        check(source, inter > 0, "intermediate_size", "must be positive");
        check(source, layers > 0, "num_hidden_layers", "must be positive");
        check(source, heads > 0, "num_attention_heads", "must be positive");
        check(source, headDim > 0 && headDim % 2 == 0, "head_dim", "must be a positive even number for RoPE, got " + headDim);
        check(source, kvHeads > 0 && heads % kvHeads == 0, "num_key_value_heads",
                "must divide num_attention_heads (" + heads + ")");
        check(source, vocab > 0, "vocab_size", "must be positive");
        check(source, maxPos > 0, "max_position_embeddings", "must be positive");
        check(source, eps > 0 && Float.isFinite(eps), "rms_norm_eps", "must be a positive number");
        check(source, theta > 0 && Double.isFinite(theta), "rope_theta", "must be a positive number");
    }

    private static void check(String source, boolean ok, String field, String what) {
        if (!ok) throw new ConfigException(source + ": field '" + field + "' " + what);
    }

    /** The config as HF writes it (LlamaForCausalLM or Qwen2ForCausalLM), for checkpoints. */
    public ObjectNode toJson() {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.putArray("architectures").add(qkNorm ? "Qwen3ForCausalLM" : qkvBias ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
        o.put("model_type", modelType());
        o.put("hidden_size", hiddenSize);
        o.put("intermediate_size", intermediateSize);
        o.put("num_hidden_layers", numHiddenLayers);
        o.put("num_attention_heads", numAttentionHeads);
        o.put("num_key_value_heads", numKeyValueHeads);
        o.put("head_dim", headDim);
        o.put("vocab_size", vocabSize);
        o.put("max_position_embeddings", maxPositionEmbeddings);
        o.put("rms_norm_eps", rmsNormEps);
        o.put("rope_theta", ropeTheta);  // transformers 4.x reads this, 5.x the rope_parameters below
        ObjectNode rope = o.putObject("rope_parameters");
        rope.put("rope_type", ropeScaling == null ? "default" : "llama3");
        rope.put("rope_theta", ropeTheta);
        if (ropeScaling != null) {
            rope.put("factor", ropeScaling.factor());
            rope.put("low_freq_factor", ropeScaling.lowFreqFactor());
            rope.put("high_freq_factor", ropeScaling.highFreqFactor());
            rope.put("original_max_position_embeddings", ropeScaling.originalMaxPositionEmbeddings());
        }
        o.put("tie_word_embeddings", tieWordEmbeddings);
        o.put("hidden_act", "silu");
        o.put("torch_dtype", "float32");
        return o;
    }

    /** Typed field access that names the field in every error. */
    private record Fields(ObjectNode json, String source) {
        int positiveInt(String name, Integer dflt) {
            JsonNode n = json.get(name);
            if (n == null || n.isNull()) {
                if (dflt == null) throw new ConfigException(source + ": missing required field '" + name + "'");
                return dflt;
            }
            if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() <= 0) {
                throw new ConfigException(source + ": field '" + name + "' must be a positive integer, got " + n);
            }
            return n.asInt();
        }

        double positiveDouble(String name, double dflt) {
            JsonNode n = json.get(name);
            if (n == null || n.isNull()) return dflt;
            if (!n.isNumber() || !(n.asDouble() > 0) || !Double.isFinite(n.asDouble())) {
                throw new ConfigException(source + ": field '" + name + "' must be a positive number, got " + n);
            }
            return n.asDouble();
        }

        boolean bool(String name, boolean dflt) {
            JsonNode n = json.get(name);
            if (n == null || n.isNull()) return dflt;
            if (!n.isBoolean()) {
                throw new ConfigException(source + ": field '" + name + "' must be true or false, got " + n);
            }
            return n.asBoolean();
        }

        void require(String name, Object supported) {
            JsonNode n = json.get(name);
            if (n == null || n.isNull()) return;
            Object value = n.isBoolean() ? (Object) n.asBoolean() : n.asText();
            if (!value.equals(supported)) {
                throw new ConfigException(source + ": field '" + name + "' = " + n + " is not supported (only "
                        + supported + ")");
            }
        }
    }

}
