package org.lomo4j.cli;

import org.lomo4j.backend.Backend;
import org.lomo4j.checkpoint.Checkpoint;
import org.lomo4j.checkpoint.ModelWeights;
import org.lomo4j.checkpoint.Safetensors;
import org.lomo4j.checkpoint.TrainState;
import org.lomo4j.data.DataSource;
import org.lomo4j.data.JsonlSource;
import org.lomo4j.data.PromptTemplate;
import org.lomo4j.generate.Evaluator;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.optim.LrSchedule;
import org.lomo4j.optim.Optimizer;
import org.lomo4j.optim.OptimizerConfig;
import org.lomo4j.parallel.Parallel;
import org.lomo4j.tokenizer.Tokenizer;
import org.lomo4j.train.MemoryPlan;
import org.lomo4j.train.RunReport;
import org.lomo4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Fine-tune (or train from scratch) with LOMO, or the reference sgd / adamw.",
                "Writes <out>/step-N/ (checkpoint), report.json, metrics.csv, loss.svg and memory.svg."})
final class TrainCommand implements Callable<Integer> {

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--data", defaultValue = "synthetic:reverse",
            description = "synthetic:addition|reverse|sort|recall, a .jsonl file of {\"prompt\",\"response\"} lines, or a text file. Default: ${DEFAULT-VALUE}")
    String data;

    @Option(names = "--optimizer", defaultValue = "lomo", description = "lomo, sgd or adamw. Default: ${DEFAULT-VALUE}")
    String optimizer;

    @Option(names = "--lr", defaultValue = "0.3", description = "Peak learning rate. Default: ${DEFAULT-VALUE}")
    double lr;

    @Option(names = "--schedule", defaultValue = "cosine", description = "constant, linear or cosine (after warmup). Default: ${DEFAULT-VALUE}")
    String schedule;

    @Option(names = "--warmup", description = "Linear warmup steps. Default: 20, or a tenth of the steps when fewer than 200")
    Integer warmup;

    @Option(names = "--weight-decay", defaultValue = "0", description = "Weight decay. Default: ${DEFAULT-VALUE}")
    double weightDecay;

    @Option(names = "--clip-norm", defaultValue = "1.0",
            description = "Clip the global gradient norm to this (LOMO: an extra norm-only pass); 0 turns it off. Default: ${DEFAULT-VALUE}")
    double clipNorm;

    @Option(names = "--clip-value", defaultValue = "0", description = "Clip each gradient element to ±this; 0 turns it off. Default: ${DEFAULT-VALUE}")
    double clipValue;

    @Option(names = "--rounding", defaultValue = "stochastic",
            description = "How an update is rounded to a bf16/f16 weight: stochastic (unbiased, keeps updates below half an ulp) or nearest. Default: ${DEFAULT-VALUE}")
    String rounding;

    @Option(names = "--steps", description = "Optimizer steps in total (default 600 unless --epochs)")
    Integer steps;

    @Option(names = "--epochs", description = "Passes over a file's training data, instead of --steps")
    Double epochs;

    @Option(names = "--template", defaultValue = "none",
            description = "Wrap JSONL prompts: none, chatml, llama2 or alpaca (built-in formats; tokenizer_config.json's chat_template is not read). Default: ${DEFAULT-VALUE}")
    String template;

    @Mixin
    BatchOptions batchOptions;

    @Option(names = "--out", defaultValue = "runs/last", description = "Output directory. Default: ${DEFAULT-VALUE}")
    Path out;

    @Option(names = "--report-json", description = "Report file (default <out>/report.json)")
    Path reportJson;

    @Option(names = "--resume", paramLabel = "<checkpoint dir>",
            description = "Continue a run from its checkpoint: weights, optimizer state, step, data, batch, seq, seed and recipe come from it")
    Path resume;

    @Option(names = "--checkpoint-every", defaultValue = "0", description = "Also save every N steps (0: only at the end). Default: ${DEFAULT-VALUE}")
    int checkpointEvery;

    @Option(names = "--save-dtype",
            description = "Checkpoint weights as f32, f16 or bf16. Default: the dtype the weights are stored in (--param-dtype), which keeps --resume exact")
    String saveDtype;

    @Option(names = "--max-shard-size", defaultValue = "5GB",
            description = "Split checkpoint weights into HF shards above this size (e.g. 500MB, 2GB, 4GiB). Default: ${DEFAULT-VALUE}")
    String maxShardSize;

    @Option(names = "--skip-bad-lines", description = "Skip (and count) malformed JSONL lines instead of failing")
    boolean skipBadLines;

    @Option(names = "--no-eval", description = "Skip the evaluation before and after training")
    boolean noEval;

    @Option(names = "--checkpoint-activations", negatable = true,
            description = "Keep only each block's input and recompute the block in backward (fewer activations, ~1.3x the step time). "
                    + "Default: on when the run would not fit the JVM's heap without it")
    Boolean checkpointActivations;

    @Option(names = "--dry-run", description = "Print the memory plan (parameters, gradients, optimizer states, activations, scratch) and stop")
    boolean dryRun;

    private ModelWeights.Format saveFormat;
    private java.util.Map<String, byte[]> tokenizerFiles = java.util.Map.of();
    private java.util.Map<String, Integer> specialIds = java.util.Map.of();

    @Override
    public Integer call() throws Exception {
        PrintStream log = System.out;
        batchOptions.validate();
        long shardBytes = parseSize(maxShardSize);
        try (Parallel par = modelOptions.parallel()) {
            MemoryLedger ledger = new MemoryLedger();
            if (resume != null) modelOptions.model = resume;  // the checkpoint's own tokenizer, too
            Tokenizer tok = modelOptions.tokenizer();
            tokenizerFiles = modelOptions.tokenizerFiles();
            if (!tokenizerFiles.isEmpty()) {
                // A model's own tokenizer: its checkpoints must name BOS and EOS as HF does.
                specialIds = new java.util.LinkedHashMap<>();
                if (tok.bos() >= 0) specialIds.put("bos_token_id", tok.bos());
                specialIds.put("eos_token_id", tok.eos());
            }
            TrainState recipe;
            DataSource source;
            LlamaConfig cfg = Checkpoint.loadConfig(modelOptions.model);
            if (resume != null) {
                recipe = Checkpoint.loadTrainState(resume);
                source = DataSource.open(recipe.data(), tok, recipe.template(), skipBadLines);
                LrSchedule lrs = recipe.optimizer().schedule();
                if (steps == null) steps = lrs.totalSteps();
                if (lrs.kind() != LrSchedule.Kind.CONSTANT && steps > lrs.totalSteps()) {
                    throw new IllegalArgumentException("--steps " + steps + " goes past the " + lrs.totalSteps()
                            + " steps of the run's " + lrs.kind().name().toLowerCase(Locale.ROOT)
                            + " schedule, where the learning rate is 0; start a new run from the checkpoint with --model");
                }
            } else {
                PromptTemplate wrap = PromptTemplate.parse(template);
                source = DataSource.open(data, tok, wrap, skipBadLines);
                int total = totalSteps(source);
                LrSchedule.Kind kind = LrSchedule.Kind.parse(schedule);
                int warm = warmup != null ? warmup : Math.min(20, total / 10);
                if (kind != LrSchedule.Kind.CONSTANT && warm >= total) {
                    throw new IllegalArgumentException("--warmup " + warm + " must be smaller than the " + total + " steps of a "
                            + schedule + " schedule");
                }
                LrSchedule lrs = new LrSchedule(kind, lr, warm, kind == LrSchedule.Kind.CONSTANT ? 0 : total);
                OptimizerConfig oc = OptimizerConfig.of(OptimizerConfig.Kind.parse(optimizer), lrs)
                        .withWeightDecay(weightDecay).withClipNorm(clipNorm).withClipValue(clipValue)
                        .withRounding(OptimizerConfig.Rounding.parse(rounding));
                recipe = new TrainState(0, modelOptions.seed, data, batchOptions.batch, batchOptions.seq, oc, wrap,
                        modelOptions.paramDtype());
                steps = total;
            }
            ParamDtype dtype = recipe.paramDtype();
            if (resume != null && modelOptions.paramDtype != null && ParamDtype.parse(modelOptions.paramDtype, "--param-dtype") != dtype) {
                throw new IllegalArgumentException("--param-dtype " + modelOptions.paramDtype + ": the run being resumed stores its weights as "
                        + dtype.id() + " and keeps them so (to change, start a new run from the checkpoint with --model)");
            }
            saveFormat = new ModelWeights.Format(saveDtype == null ? Checkpoint.storedDtype(dtype) : parseDtype(saveDtype), shardBytes);
            int b = recipe.batchSize(), t = recipe.seqLen();
            Backend device = modelOptions.deviceBackend();
            String kernels = modelOptions.describeKernels(device);
            ParameterLayout layout = new ParameterLayout(cfg);
            log.printf(Locale.ROOT, "model    %s: %,d parameters (hidden %d, %d layers, %d/%d heads, vocab %d%s), %s weights%s%n",
                    resume != null ? resume : modelOptions.model, layout.totalSize(), cfg.hiddenSize(),
                    cfg.numHiddenLayers(), cfg.numAttentionHeads(), cfg.numKeyValueHeads(),
                    cfg.vocabSize(), layout.tied() ? ", tied embeddings" : "", dtype.id(),
                    dtype.half() ? ", " + recipe.optimizer().rounding().id() + " rounding" : "");
            log.printf(Locale.ROOT, "data     %s%n", source.describe());
            log.printf(Locale.ROOT, "kernels  %s%n", kernels);
            OptimizerConfig oc = recipe.optimizer();
            log.printf(Locale.ROOT, "train    %s, lr %.3g %s (warmup %d), weight decay %.3g, clip-norm %s, clip-value %s, "
                            + "batch %d x %d tokens, steps %d..%d, %d threads%n",
                    oc.kind().id(), oc.schedule().peak(), oc.schedule().kind().name().toLowerCase(Locale.ROOT), oc.schedule().warmup(),
                    oc.weightDecay(), oc.clipNorm() > 0 ? oc.clipNorm() : "off", oc.clipValue() > 0 ? oc.clipValue() : "off",
                    b, t, recipe.step(), steps, par.threads());

            // Memory, before any is spent (the JVM backend's: a device's buffers are not planned yet).
            MemoryPlan plan = null;
            if (device == null) {
                long budget = MemoryPlan.budget();
                plan = MemoryPlan.choose(cfg, dtype, oc, b, t, checkpointActivations, par, budget);
                log.print(plan.table(oc.kind().id()));
                log.printf(Locale.ROOT, "  %-17s %12s  (%.0f%% of the max heap %s; machine %s)%n", "Budget", MemoryLedger.human(budget),
                        100 * MemoryPlan.HEAP_SHARE, MemoryLedger.human(Runtime.getRuntime().maxMemory()),
                        MemoryLedger.human(MemoryPlan.physicalMemory()));
                if (plan.checkpointing() && checkpointActivations == null) {
                    log.println("  activation checkpointing is on: without it the run would not fit the budget");
                }
                String verdict = plan.verdict(budget);
                if (verdict != null) throw new IllegalArgumentException(verdict);
            } else if (dryRun) {
                throw new IllegalArgumentException("--dry-run plans the JVM backend's memory; a TornadoVM device's is not planned yet");
            }
            if (dryRun) return 0;

            LlamaModel model = resume != null ? Checkpoint.loadModel(resume, dtype, recipe.seed(), par, ledger) : modelOptions.load(par, ledger);
            ModelOptions.checkVocab(model, tok);
            Optimizer opt;
            if (device == null) {
                model.setCheckpointing(plan.checkpointing());
                opt = Optimizer.create(model, oc);
                model.reserve(b, t);
            } else {
                opt = device.lomo(model, oc, modelOptions.device, b, t);
            }
            if (resume != null) {
                opt.setStepCount(recipe.step());
                Checkpoint.loadOptimizerState(resume, opt);
            }

            Evaluator evaluator = new Evaluator(model, tok);
            Evaluator.Result before = noEval ? null : evaluator.evaluate(source, b, t);
            if (before != null) log.println("before   " + describe(before));

            AtomicBoolean stop = new AtomicBoolean();
            CountDownLatch saved = new CountDownLatch(1);
            Thread hook = new Thread(() -> {
                stop.set(true);
                try {
                    saved.await(120, TimeUnit.SECONDS);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            });
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                Progress progress = new Progress(log, ledger, steps);
                Trainer trainer = new Trainer(opt, source, recipe.seed(), b, t);
                List<Trainer.StepRecord> records = trainer.run(steps, (r, total) -> {
                    progress.onStep(r, total);
                    if (checkpointEvery > 0 && (r.step() + 1) % checkpointEvery == 0 && r.step() + 1 < total) {
                        try {
                            save(model, opt, recipe);
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException("cannot write checkpoint under " + out, e);
                        }
                    }
                }, stop::get);
                if (stop.get()) {
                    progress.interrupted();
                    log.printf("interrupted at step %d%n", opt.stepCount());
                }
                Path ckpt = save(model, opt, recipe);  // brings a device's weights back to the model first
                Evaluator.Result after = noEval || stop.get() ? null : evaluator.evaluate(source, b, t);
                if (after != null) log.println("after    " + describe(after));
                log.print(ledger.table(oc.kind().id()));
                TrainState finalState = recipe.withStep(opt.stepCount());
                Path report = reportJson != null ? reportJson : out.resolve("report.json");
                RunReport.writeJson(report, RunReport.json(model.config(), model.layout().totalSize(), finalState, par.threads(),
                        records, ledger, before, after));
                String title = oc.kind().id() + " on " + recipe.data();
                RunReport.writeMetrics(out, records, ledger, title);
                log.printf("wrote    %s, %s (metrics.csv, loss.svg, memory.svg)%n", ckpt, report);
                if (stop.get()) log.printf("resume with: train --resume %s%n", ckpt);
            } finally {
                opt.close();
                saved.countDown();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // Ctrl-C: the hook is running and waits for the countDown above.
                }
            }
        }
        return 0;
    }

    private Path save(LlamaModel model, Optimizer opt, TrainState recipe) throws java.io.IOException {
        opt.syncToHost();
        Path dir = out.resolve(String.format(Locale.ROOT, "step-%06d", opt.stepCount()));
        Checkpoint.save(dir, model, opt, recipe.withStep(opt.stepCount()), tokenizerFiles, specialIds, saveFormat);
        Checkpoint.prune(out, 2);
        return dir;
    }

    static Safetensors.Dtype parseDtype(String s) {
        Safetensors.Dtype d = Safetensors.Dtype.named(s.toUpperCase(Locale.ROOT));
        if (d == null) throw new IllegalArgumentException("--save-dtype must be f32, f16 or bf16, got '" + s + "'");
        return d;
    }

    /** A size as HF writes it: decimal KB/MB/GB, or binary KiB/MiB/GiB, or plain bytes. */
    static long parseSize(String s) {
        var m = java.util.regex.Pattern.compile("(?i)\\s*(\\d+(?:\\.\\d+)?)\\s*(|b|kb|mb|gb|kib|mib|gib)\\s*").matcher(s);
        if (!m.matches()) {
            throw new IllegalArgumentException("--max-shard-size must be a size such as 500MB, 2GB or 4GiB, got '" + s + "'");
        }
        double unit = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "kb" -> 1e3;
            case "mb" -> 1e6;
            case "gb" -> 1e9;
            case "kib" -> 1024.0;
            case "mib" -> 1024.0 * 1024;
            case "gib" -> 1024.0 * 1024 * 1024;
            default -> 1;
        };
        long bytes = (long) (Double.parseDouble(m.group(1)) * unit);
        if (bytes < 1) throw new IllegalArgumentException("--max-shard-size must be positive, got '" + s + "'");
        return bytes;
    }

    private int totalSteps(DataSource source) {
        if (steps != null && epochs != null) throw new IllegalArgumentException("give --steps or --epochs, not both");
        if (epochs != null) {
            if (!(source instanceof JsonlSource j)) {
                throw new IllegalArgumentException("--epochs needs a .jsonl file of examples; use --steps for " + data);
            }
            return (int) Math.max(1, Math.ceil(epochs * j.size() / batchOptions.batch));
        }
        int s = steps == null ? 600 : steps;
        if (s < 1) throw new IllegalArgumentException("--steps must be at least 1, got " + s);
        return s;
    }

    static String describe(Evaluator.Result r) {
        String s = String.format(Locale.ROOT, "eval loss %.4f, perplexity %.3f", r.loss(), r.perplexity());
        if (!Double.isNaN(r.accuracy())) {
            s += String.format(Locale.ROOT, ", exact-match accuracy %.1f%% (%d held-out examples)", 100 * r.accuracy(), r.examples());
        }
        return s;
    }
}
