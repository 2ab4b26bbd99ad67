package org.lomo4j.generate;

import org.lomo4j.data.DataSource;
import org.lomo4j.data.Example;
import org.lomo4j.backend.Backend;
import org.lomo4j.kernels.CrossEntropy;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/** Held-out loss, perplexity and exact-match accuracy. */
public final class Evaluator {
    private final LlamaModel model;
    private final Tokenizer tok;
    private final Backend.Forward device;  // null: the model's own forward on the JVM
    private final Optimizer trainer;       // during training: its evalLoss, where the weights are; else null

    public Evaluator(LlamaModel model, Tokenizer tok) {
        this(model, tok, null);
    }

    /** Evaluation whose forward passes run on {@code device} (a backend's), or on the JVM when null. */
    public Evaluator(LlamaModel model, Tokenizer tok, Backend.Forward device) {
        this(model, tok, device, null);
    }

    private Evaluator(LlamaModel model, Tokenizer tok, Backend.Forward device, Optimizer trainer) {
        this.model = model;
        this.tok = tok;
        this.device = device;
        this.trainer = trainer;
    }

    /**
     * Evaluation during training with {@code trainer}: the losses where its weights are ({@link Optimizer#evalLoss}: a
     * device backend's own forward graphs), exact match by generation on the JVM, from the weights the run brings
     * back before each evaluation.
     */
    public static Evaluator duringTraining(LlamaModel model, Tokenizer tok, Optimizer trainer) {
        return new Evaluator(model, tok, null, trainer);
    }

    public record Result(double loss, double perplexity, double accuracy, int examples) {}

    /** One line: loss and perplexity, and exact-match accuracy where there are answers. */
    public static String describe(Result r) {
        String s = String.format(java.util.Locale.ROOT, "eval loss %.4f, perplexity %.3f", r.loss(), r.perplexity());
        if (!Double.isNaN(r.accuracy())) {
            s += String.format(java.util.Locale.ROOT, ", exact-match accuracy %.1f%% (%d held-out examples)", 100 * r.accuracy(), r.examples());
        }
        return s;
    }

    public Result evaluate(DataSource data, int batchSize, int seqLen) {
        double lossSum = 0;
        long counted = 0;
        for (Batch b : data.evalBatches(batchSize, seqLen)) {
            int n = b.countedTargets();
            lossSum += (double) loss(b) * n;
            counted += n;
        }
        if (counted == 0) throw new IllegalArgumentException(data.describe() + ": no held-out tokens to evaluate at --seq " + seqLen);
        double loss = lossSum / counted;
        if (!Double.isFinite(loss)) throw new NonFiniteResultException("the evaluation loss is " + loss + ": the model's activations overflowed");
        List<Example> ex = data.evalExamples();
        double accuracy = ex.isEmpty() ? Double.NaN : exactMatch(ex, batchSize, seqLen + 1);
        return new Result(loss, Math.exp(loss), accuracy, ex.size());
    }

    /** The batch's mean loss; a device returns logits, and the cross-entropy kernel finishes on the host. */
    private float loss(Batch b) {
        if (trainer != null) return trainer.evalLoss(b);
        if (device == null) return model.forward(b);
        int vocab = model.config().vocabSize();
        float[] probs = device.logits(b.tokens(), b.batchSize(), b.seqLen());
        float[] losses = new float[b.size()];
        for (int i = 0; i < b.size(); i++) CrossEntropy.forwardRow(losses, probs, b.targets(), vocab, i);
        return b.meanLoss(losses);
    }

    /** Share of examples whose greedy completion is exactly the response followed by EOS. */
    public double exactMatch(List<Example> examples, int batchSize) {
        return exactMatch(examples, batchSize, Integer.MAX_VALUE);
    }

    /**
     * {@link #exactMatch(List, int)}, no sequence growing past {@code maxLength} tokens: an example that fits
     * training's {@code --seq T} is decided within T + 1 (BOS, prompt, response, EOS), and the cap keeps the key/value
     * cache within what the memory plan counts ({@link #cacheRowPositions}).
     */
    public double exactMatch(List<Example> examples, int batchSize, int maxLength) {
        Generator gen = new Generator(model, tok, device);
        int correct = 0;
        for (int i = 0; i < examples.size(); i += batchSize) {
            List<Example> chunk = examples.subList(i, Math.min(examples.size(), i + batchSize));
            List<int[]> outs = gen.complete(prompts(chunk, tok), maxNew(chunk), maxLength, Sampler.greedy(), new SplittableRandom(0));
            for (int j = 0; j < chunk.size(); j++) {
                int[] want = Arrays.copyOf(chunk.get(j).response(), chunk.get(j).response().length + 1);
                want[want.length - 1] = tok.eos();
                int[] got = outs.get(j);
                if (Arrays.equals(want, Arrays.copyOf(got, Math.min(got.length, want.length)))) correct++;
            }
        }
        return (double) correct / examples.size();
    }

    /**
     * The largest key/value cache, rows × positions, that exact match over {@code examples} allocates at
     * {@code batchSize} rows and sequences of at most {@code maxLength}: what a memory plan adds for evaluation.
     */
    public static long cacheRowPositions(List<Example> examples, int batchSize, int maxLength, int maxPositions, Tokenizer tok) {
        long most = 0;
        for (int i = 0; i < examples.size(); i += batchSize) {
            List<Example> chunk = examples.subList(i, Math.min(examples.size(), i + batchSize));
            most = Math.max(most, Generator.cacheRowPositions(prompts(chunk, tok), maxNew(chunk), maxLength, maxPositions));
        }
        return most;
    }

    /** Each example's prompt after BOS, as generation takes it. */
    private static List<int[]> prompts(List<Example> chunk, Tokenizer tok) {
        List<int[]> prompts = new ArrayList<>();
        for (Example e : chunk) prompts.add(tok.withBos(e.prompt()));
        return prompts;
    }

    /** New tokens to generate for a chunk: its longest response and EOS. */
    private static int maxNew(List<Example> chunk) {
        int maxNew = 0;
        for (Example e : chunk) maxNew = Math.max(maxNew, e.response().length + 1);
        return maxNew;
    }
}
