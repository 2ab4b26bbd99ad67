package org.lomo4j.checkpoint;

import org.lomo4j.data.PromptTemplate;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.OptimizerConfig;

/**
 * What a checkpoint needs beyond the weights to resume bit-exactly: the position and the whole recipe,
 * including how the weights are stored ({@code paramDtype}) and rounded.
 */
public record TrainState(int step, long seed, String data, int batchSize, int seqLen, OptimizerConfig optimizer,
                         PromptTemplate template, ParamDtype paramDtype, String evalData) {

    /** The optimizer's seed (stochastic rounding's key) is the run's. */
    public TrainState {
        optimizer = optimizer.withSeed(seed);
    }

    public TrainState(int step, long seed, String data, int batchSize, int seqLen, OptimizerConfig optimizer) {
        this(step, seed, data, batchSize, seqLen, optimizer, PromptTemplate.NONE, ParamDtype.F32);
    }

    /** No separate evaluation data: the training data's held-out part is evaluated. */
    public TrainState(int step, long seed, String data, int batchSize, int seqLen, OptimizerConfig optimizer,
                      PromptTemplate template, ParamDtype paramDtype) {
        this(step, seed, data, batchSize, seqLen, optimizer, template, paramDtype, null);
    }

    public TrainState withStep(int newStep) {
        return new TrainState(newStep, seed, data, batchSize, seqLen, optimizer, template, paramDtype, evalData);
    }

    public ObjectNode toJson() {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        o.put("step", step);
        o.put("seed", seed);
        o.put("data", data);
        o.put("batch", batchSize);
        o.put("seq", seqLen);
        o.put("template", template.id());
        o.put("param_dtype", paramDtype.id());
        if (evalData != null) o.put("eval_data", evalData);
        ObjectNode opt = o.putObject("optimizer");
        opt.put("kind", optimizer.kind().id());
        opt.put("schedule", optimizer.schedule().kind().name().toLowerCase(java.util.Locale.ROOT));
        opt.put("lr", optimizer.schedule().peak());
        opt.put("warmup", optimizer.schedule().warmup());
        opt.put("total_steps", optimizer.schedule().totalSteps());
        opt.put("weight_decay", optimizer.weightDecay());
        opt.put("clip_norm", optimizer.clipNorm());
        opt.put("clip_value", optimizer.clipValue());
        opt.put("beta1", optimizer.beta1());
        opt.put("beta2", optimizer.beta2());
        opt.put("eps", optimizer.eps());
        opt.put("rounding", optimizer.rounding().id());
        return o;
    }

    public static TrainState fromJson(JsonNode o, String source) {
        try {
            JsonNode opt = require(o, "optimizer", source);
            LrSchedule schedule = new LrSchedule(LrSchedule.Kind.parse(require(opt, "schedule", source).asText()),
                    require(opt, "lr", source).asDouble(), require(opt, "warmup", source).asInt(),
                    require(opt, "total_steps", source).asInt());
            OptimizerConfig oc = new OptimizerConfig(OptimizerConfig.Kind.parse(require(opt, "kind", source).asText()), schedule,
                    require(opt, "weight_decay", source).asDouble(), require(opt, "clip_norm", source).asDouble(),
                    require(opt, "clip_value", source).asDouble(), require(opt, "beta1", source).asDouble(),
                    require(opt, "beta2", source).asDouble(), require(opt, "eps", source).asDouble(),
                    OptimizerConfig.Rounding.parse(opt.path("rounding").asText("stochastic")),  // absent before 16-bit weights
                    require(o, "seed", source).asLong());
            return new TrainState(require(o, "step", source).asInt(), oc.seed(),
                    require(o, "data", source).asText(), require(o, "batch", source).asInt(), require(o, "seq", source).asInt(), oc,
                    // absent before templates existed; "auto" is the chat_template beside trainer.json
                    PromptTemplate.parse(o.path("template").asText("none"), java.nio.file.Path.of(source).toAbsolutePath().getParent()),
                    ParamDtype.parse(o.path("param_dtype").asText("f32"), "param_dtype"),
                    o.hasNonNull("eval_data") ? o.get("eval_data").asText() : null);
        } catch (CheckpointException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(source + ": " + e.getMessage());
        }
    }

    private static JsonNode require(JsonNode o, String field, String source) {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) throw new CheckpointException(source + ": missing field '" + field + "'");
        return n;
    }
}
