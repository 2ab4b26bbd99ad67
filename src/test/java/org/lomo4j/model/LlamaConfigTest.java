package org.lomo4j.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LlamaConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ObjectNode tiny() {
        return (ObjectNode) new LlamaConfig(64, 128, 2, 4, 2, 259, 32, 1e-5f, 10000.0, true).toJson();
    }

    private static String error(ObjectNode json) {
        return assertThrows(ConfigException.class, () -> LlamaConfig.fromJson(json, "cfg.json")).getMessage();
    }

    @Test
    void realTinyLlamaConfigLoadsUnchanged() throws Exception {
        Path file = Path.of(getClass().getResource("/configs/tinyllama-1.1b.json").toURI());
        LlamaConfig c = LlamaConfig.load(file);
        assertEquals(2048, c.hiddenSize());
        assertEquals(5632, c.intermediateSize());
        assertEquals(22, c.numHiddenLayers());
        assertEquals(32, c.numAttentionHeads());
        assertEquals(4, c.numKeyValueHeads());
        assertEquals(32000, c.vocabSize());
        assertEquals(64, c.headDim());
        assertEquals(1e-5f, c.rmsNormEps());
        assertFalse(c.tieWordEmbeddings());
        // TinyLlama-1.1B has 1,100,048,384 parameters.
        assertEquals(1_100_048_384L, new ParameterLayout(c).totalSize());
    }

    @Test
    void toJsonRoundTrips() {
        LlamaConfig c = new LlamaConfig(64, 128, 2, 4, 2, 259, 32, 1e-5f, 500000.0, false);
        assertEquals(c, LlamaConfig.fromJson(c.toJson(), "x"));
    }

    @Test
    void shippedModelsLoad() {
        LlamaConfig tiny = LlamaConfig.load(Path.of("models/tiny-1m/config.json"));
        long p = new ParameterLayout(tiny).totalSize();
        assertTrue(p > 800_000 && p < 1_300_000, "tiny-1m has " + p + " parameters");
        LlamaConfig bench = LlamaConfig.load(Path.of("models/bench-24m/config.json"));
        long q = new ParameterLayout(bench).totalSize();
        assertTrue(q > 20_000_000 && q < 50_000_000, "bench-24m has " + q + " parameters");
    }

    @Test
    void unknownFieldIsNamed() {
        ObjectNode j = tiny();
        j.put("hidden_sise", 64);
        assertEquals("cfg.json: unknown field 'hidden_sise'", error(j));
    }

    @Test
    void missingFieldIsNamed() {
        ObjectNode j = tiny();
        j.remove("intermediate_size");
        assertEquals("cfg.json: missing required field 'intermediate_size'", error(j));
    }

    @Test
    void invalidValuesAreNamed() {
        ObjectNode j = tiny();
        j.put("hidden_size", -64);
        assertTrue(error(j).contains("'hidden_size'"), error(j));

        j = tiny();
        j.put("num_key_value_heads", 3);
        assertTrue(error(j).contains("'num_key_value_heads' must divide num_attention_heads (4)"), error(j));

        j = tiny();
        j.remove("head_dim");
        j.put("num_attention_heads", 5);
        assertTrue(error(j).contains("'num_attention_heads' must divide hidden_size (64), or give head_dim"), error(j));
        j.put("head_dim", 7);
        assertTrue(error(j).contains("'head_dim' must be a positive even number for RoPE, got 7"), error(j));

        j = tiny();
        j.put("vocab_size", "many");
        assertTrue(error(j).contains("'vocab_size'"), error(j));

        j = tiny();
        j.put("rms_norm_eps", 0.0);
        assertTrue(error(j).contains("'rms_norm_eps'"), error(j));

        j = tiny();
        j.put("tie_word_embeddings", "yes");
        assertTrue(error(j).contains("'tie_word_embeddings'"), error(j));
    }

    @Test
    void unsupportedArchitectureChoicesAreRejected() {
        ObjectNode j = tiny();
        j.put("hidden_act", "gelu");
        assertTrue(error(j).contains("'hidden_act'"), error(j));

        j = tiny();
        j.put("model_type", "gemma");
        assertTrue(error(j).contains("'model_type'"), error(j));

        j = tiny();
        j.put("attention_bias", true);
        assertTrue(error(j).contains("'attention_bias'"), error(j));

        j = tiny();
        j.putObject("rope_scaling").put("type", "linear");
        assertEquals("cfg.json: field 'rope_scaling.rope_type' = 'linear' is not supported (default or llama3)", error(j));
    }

    @Test
    void realQwen2ConfigLoadsWithQkvBiases() throws Exception {
        Path file = Path.of(getClass().getResource("/configs/qwen2.5-0.5b.json").toURI());
        LlamaConfig c = LlamaConfig.load(file);
        assertTrue(c.qkvBias());
        assertEquals(64, c.headDim());
        assertEquals(1e6, c.ropeTheta());
        ParameterLayout layout = new ParameterLayout(c);
        assertEquals(128, layout.get("model.layers.23.self_attn.k_proj.bias").cols());
        assertTrue(layout.tied());
        // Qwen2.5-0.5B has 494,032,768 parameters.
        assertEquals(494_032_768L, layout.totalSize());
        // Saved back as Qwen2, so transformers builds the biased attention.
        ObjectNode saved = c.toJson();
        assertEquals("qwen2", saved.get("model_type").asText());
        assertEquals(c, LlamaConfig.fromJson(saved, "saved"));
    }

    /** transformers 5 writes rope_parameters {rope_type, rope_theta} where 4.x wrote rope_theta. */
    @Test
    void transformers5RopeParametersAreRead() {
        ObjectNode j = tiny();
        j.remove("rope_theta");
        j.putObject("rope_parameters").put("rope_type", "default").put("rope_theta", 500000.0);
        assertEquals(500000.0, LlamaConfig.fromJson(j, "cfg.json").ropeTheta());
        ((ObjectNode) j.get("rope_parameters")).put("rope_type", "yarn");
        assertEquals("cfg.json: field 'rope_parameters.rope_type' = 'yarn' is not supported (default or llama3)", error(j));
        ((ObjectNode) j.get("rope_parameters")).put("rope_type", "default").put("rope_theta", -1);
        assertEquals("cfg.json: rope_parameters: field 'rope_theta' must be a positive number, got -1", error(j));
    }

    /** Qwen3-0.6B's config as the Hub has it: per-head q/k norms, and heads of 128 where hidden / heads is 64. */
    @Test
    void qwen3ConfigLoadsWithItsOwnHeadDimension() throws Exception {
        LlamaConfig c = LlamaConfig.load(Path.of(getClass().getResource("/configs/qwen3-0.6b.json").toURI()));
        assertTrue(c.qkNorm());
        assertEquals(128, c.headDim());
        ParameterLayout layout = new ParameterLayout(c);
        assertEquals(596_049_920L, layout.totalSize(), "Qwen3-0.6B's parameter count");
        assertEquals(2048, layout.get("model.layers.0.self_attn.q_proj.weight").rows());
        assertEquals(2048, layout.get("model.layers.27.self_attn.o_proj.weight").cols());
        assertEquals(128, layout.get("model.layers.27.self_attn.k_norm.weight").cols());
        ObjectNode saved = c.toJson();
        assertEquals("Qwen3ForCausalLM", saved.at("/architectures/0").asText());
        assertEquals(c, LlamaConfig.fromJson(saved, "saved"));
    }

    /** Llama 3.2 1B's config as the Hub has it (transformers 4.x: rope_theta and rope_scaling), and saved back as 5.x writes it. */
    @Test
    void llama3RopeScalingLoadsAndRoundTrips() throws Exception {
        LlamaConfig c = LlamaConfig.load(Path.of(getClass().getResource("/configs/llama-3.2-1b.json").toURI()));
        assertEquals(new RopeScaling(32.0, 1.0, 4.0, 8192), c.ropeScaling());
        assertEquals(500000.0, c.ropeTheta());
        assertEquals(1_235_814_400L, new ParameterLayout(c).totalSize(), "Llama-3.2-1B's parameter count");
        double[] inv = c.ropeInverseFrequencies();
        // Wavelengths below 8192 / 4 keep their frequency; beyond 8192 they are divided by 32; between, a blend.
        assertEquals(1.0, inv[0], 0.0);
        double plainLast = 1.0 / Math.pow(500000.0, 62.0 / 64);
        assertEquals(plainLast / 32, inv[31], 1e-12 * plainLast);
        for (int i = 1; i < inv.length; i++) assertTrue(inv[i] < inv[i - 1], "frequencies fall with i");
        ObjectNode saved = c.toJson();
        assertEquals("llama3", saved.at("/rope_parameters/rope_type").asText());
        assertEquals(c, LlamaConfig.fromJson(saved, "saved"));

        ObjectNode j = tiny();
        j.putObject("rope_scaling").put("rope_type", "llama3").put("low_freq_factor", 4.0).put("high_freq_factor", 1.0);
        assertEquals("cfg.json: field 'rope_scaling.high_freq_factor' must be larger than low_freq_factor", error(j));
    }

    @Test
    void fileErrorsNameTheFile(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("config.json");
        Files.writeString(bad, "{\"hidden_size\": 64,");
        String msg = assertThrows(ConfigException.class, () -> LlamaConfig.load(bad)).getMessage();
        assertTrue(msg.startsWith(bad.toString()), msg);
        Files.writeString(bad, "[1, 2]");
        msg = assertThrows(ConfigException.class, () -> LlamaConfig.load(bad)).getMessage();
        assertTrue(msg.startsWith(bad.toString()), msg);
    }
}
