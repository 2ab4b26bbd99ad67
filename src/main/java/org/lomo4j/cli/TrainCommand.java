package org.lomo4j.cli;

import org.lomo4j.backend.Backend;
import org.lomo4j.backend.DeviceProfile;
import org.lomo4j.checkpoint.Checkpoint;
import org.lomo4j.checkpoint.ModelWeights;
import org.lomo4j.checkpoint.Safetensors;
import org.lomo4j.checkpoint.TrainState;
import org.lomo4j.data.DataSource;
import org.lomo4j.data.JsonlSource;
import org.lomo4j.data.PromptTemplate;
import org.lomo4j.generate.Evaluator;
import org.lomo4j.memory.Category;
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
import org.lomo4j.train.RunDirectory;
import org.lomo4j.train.RunReport;
import org.lomo4j.train.TrainingRun;
import org.lomo4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Fine-tune (or train from scratch) with LOMO or AdaLomo, or the reference sgd / adamw.",
                "Writes <out>/step-N/ (checkpoint), report.json, metrics.csv, loss.svg and memory.svg."})
final class TrainCommand implements Callable<Integer> {

    @Mixin
    ModelOptions modelOptions;

    @Spec
    CommandSpec spec;

    @Option(names = "--data", defaultValue = "synthetic:reverse",
            description = "synthetic:addition|reverse|sort|recall, a .jsonl file of {\"prompt\",\"response\"} lines, or a text file. Default: ${DEFAULT-VALUE}")
    String data;

    @Option(names = "--optimizer", defaultValue = "lomo",
            description = "lomo, adalomo (LOMO with AdaLomo's adaptive, factored update), sgd or adamw. Default: ${DEFAULT-VALUE}")
    String optimizer;

    @Option(names = "--lr", description = "Peak learning rate. Default: the optimizer's (lomo, sgd 0.3; adalomo 0.03; adamw 0.003)")
    Double lr;

    @Option(names = "--schedule", defaultValue = "cosine", description = "constant, linear or cosine (after warmup). Default: ${DEFAULT-VALUE}")
    String schedule;

    @Option(names = "--warmup", description = "Linear warmup steps. Default: 20, or a tenth of the steps when fewer than 200")
    Integer warmup;

    @Option(names = "--weight-decay", defaultValue = "0", description = "Weight decay. Default: ${DEFAULT-VALUE}")
    double weightDecay;

    @Option(names = "--clip-norm",
            description = "Clip the global gradient norm to this (LOMO: an extra norm-only pass); 0 turns it off. "
                    + "Default: 1.0, and off for adalomo (its update is normalized already)")
    Double clipNorm;

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
            description = "Wrap JSONL prompts: auto (the model's own Jinja chat_template from tokenizer_config.json), none, chatml, "
                    + "llama2 or alpaca. Default: ${DEFAULT-VALUE}")
    String template;

    @Mixin
    BatchOptions batchOptions;

    @Option(names = "--out", description = "The run's directory: checkpoints, metrics.csv, report.json and plots. "
            + "Default: runs/last, or with --resume the run directory of the checkpoint")
    Path out;

    @Option(names = "--overwrite", description = "Replace the run already in --out (its checkpoints, metrics and report) instead of refusing")
    boolean overwrite;

    @Option(names = "--report-json", description = "Report file (default <out>/report.json)")
    Path reportJson;

    @Option(names = "--resume", paramLabel = "<checkpoint dir>",
            description = "Continue a run from its checkpoint: weights, optimizer state, step, data, batch, seq, seed and recipe come from it")
    Path resume;

    @Option(names = "--checkpoint-every", defaultValue = "0", description = "Also save every N steps (0: off). Default: ${DEFAULT-VALUE}")
    int checkpointEvery;

    @Option(names = "--checkpoint-minutes", defaultValue = "30",
            description = "Also save when this many minutes of training have passed since the last save (0: off). Default: ${DEFAULT-VALUE}")
    double checkpointMinutes;

    @Option(names = "--keep-checkpoints", defaultValue = "2", description = "Keep the newest N checkpoints in --out. Default: ${DEFAULT-VALUE}")
    int keepCheckpoints;

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

    @Option(names = "--eval-every", defaultValue = "0", description = "Also evaluate every N steps (0: only before and after). Default: ${DEFAULT-VALUE}")
    int evalEvery;

    @Option(names = "--eval-data", description = "Evaluate on this file (JSONL or text, all of it) instead of the training data's held-out part, "
            + "which is then trained on too")
    String evalData;

    @Option(names = "--checkpoint-activations", negatable = true,
            description = "Keep only each block's input and recompute the block in backward (fewer activations, ~1.3x the step time). "
                    + "Default: on when the run would not fit the JVM's heap without it")
    Boolean checkpointActivations;

    @Option(names = "--memory-timeline",
            description = "Record the bytes alive by category through the first step (report.json, memory-timeline.svg; ./lomo4j report --timeline compares runs)")
    boolean memoryTimeline;

    @Option(names = "--device-profile",
            description = "--backend tornado: TornadoVM's profiler on; prints where the device's time went (kernels, launches, transfers, "
                    + "compilation; the top kernels) and writes it to report.json. For short runs: TornadoVM keeps every graph run's log in memory")
    boolean deviceProfile;

    @Option(names = "--dry-run", description = "Print the memory plan (parameters, gradients, optimizer states, activations, scratch) and stop")
    boolean dryRun;

    private ModelWeights.Format saveFormat;
    private java.util.Map<String, byte[]> tokenizerFiles = java.util.Map.of();
    private java.util.Map<String, Integer> specialIds = java.util.Map.of();

    @Override
    public Integer call() throws Exception {
        PrintStream log = System.out;
        checkFlags();
        long shardBytes = parseSize(maxShardSize);
        Path checkpoint = resume == null ? null : resumedCheckpoint();
        Path sourceRun = checkpoint == null || Checkpoint.stepOf(checkpoint) < 0 ? null : checkpoint.getParent();
        if (out == null) {
            if (checkpoint != null && sourceRun == null) {
                throw new IllegalArgumentException("--resume " + resume + " is a checkpoint outside a run directory; give --out");
            }
            out = checkpoint != null ? sourceRun : Path.of("runs/last");
        }
        try (Parallel par = modelOptions.parallel()) {
            MemoryLedger ledger = new MemoryLedger();
            if (checkpoint != null) modelOptions.model = checkpoint;  // the checkpoint's own tokenizer, too
            Tokenizer tok = modelOptions.tokenizer();
            tokenizerFiles = modelOptions.tokenizerFiles();
            if (!tokenizerFiles.isEmpty()) {
                // A model's own tokenizer: its checkpoints must name BOS and EOS as HF does.
                specialIds = new java.util.LinkedHashMap<>();
                if (tok.bos() >= 0) specialIds.put("bos_token_id", tok.bos());
                specialIds.put("eos_token_id", tok.eos());
            }
            LlamaConfig cfg = Checkpoint.loadConfig(modelOptions.model);
            TrainState resumed = null;
            if (checkpoint != null) {
                resumed = Checkpoint.loadTrainState(checkpoint);
                checkResumeFlags(resumed);
                LrSchedule lrs = resumed.optimizer().schedule();
                if (steps == null) steps = lrs.totalSteps();
                if (lrs.kind() != LrSchedule.Kind.CONSTANT && steps > lrs.totalSteps()) {
                    throw new IllegalArgumentException("--steps " + steps + " goes past the " + lrs.totalSteps()
                            + " steps of the run's " + lrs.kind().name().toLowerCase(Locale.ROOT)
                            + " schedule, where the learning rate is 0; start a new run from the checkpoint with --model");
                }
                if (resumed.step() >= steps) {
                    log.printf("nothing to train: %s is at step %d of %d%n", checkpoint, resumed.step(), steps);
                    return 0;
                }
            }
            Backend device = modelOptions.deviceBackend();
            ModelOptions.requireDeviceSupport(device, cfg);
            // The output directory before the data: locked, writable, and this run's to write (a dry run writes nothing).
            try (RunDirectory runDir = dryRun ? null : RunDirectory.lock(out)) {
                boolean sameRun = sourceRun != null && Files.exists(out) && Files.isSameFile(sourceRun, out);
                if (runDir != null) claim(runDir, checkpoint, sameRun);
                return prepare(log, par, ledger, tok, cfg, device, resumed, checkpoint, sourceRun, sameRun, runDir, shardBytes);
            }
        }
    }

    /** From the data scan and the memory plan to the run, in the locked run directory. */
    private int prepare(PrintStream log, Parallel par, MemoryLedger ledger, Tokenizer tok, LlamaConfig cfg, Backend device, TrainState resumed,
                        Path checkpoint, Path sourceRun, boolean sameRun, RunDirectory runDir, long shardBytes) throws Exception {
        int b = resumed != null ? resumed.batchSize() : batchOptions.batch();
        int t = resumed != null ? resumed.seqLen() : batchOptions.seq();
        if (t > cfg.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("--seq " + t + " is longer than the model's context (max_position_embeddings "
                    + cfg.maxPositionEmbeddings() + ")");
        }
        // The whole data set, scanned before step 1: encoding, every example against --seq, a held-out split.
        PromptTemplate wrap = resumed != null ? resumed.template() : PromptTemplate.parse(template, modelOptions.directory());
        String evalSpec = resumed != null ? resumed.evalData() : evalData;
        DataSource source = DataSource.open(resumed != null ? resumed.data() : data, tok, wrap, skipBadLines, t);
        DataSource evalSource = source;
        if (evalSpec != null) {
            evalSource = DataSource.openForEvaluation(evalSpec, tok, wrap, skipBadLines, t);
            source = source.trainingOnAll();
        }
        if (!noEval) evalSource.requireHeldOut(t);
        TrainState recipe = resumed != null ? resumed
                : new TrainState(0, modelOptions.seed, data, b, t, optimizerConfig(source), wrap, modelOptions.paramDtype(), evalData);
        ParamDtype dtype = recipe.paramDtype();
        saveFormat = new ModelWeights.Format(saveDtype == null ? Checkpoint.storedDtype(dtype) : parseDtype(saveDtype), shardBytes);
        String kernels = modelOptions.describeKernels(device);
        ParameterLayout layout = new ParameterLayout(cfg);
        OptimizerConfig oc = recipe.optimizer();
        log.printf(Locale.ROOT, "model    %s: %,d parameters (hidden %d, %d layers, %d/%d heads, vocab %d%s), %s weights%s%n",
                modelOptions.model, layout.totalSize(), cfg.hiddenSize(),
                cfg.numHiddenLayers(), cfg.numAttentionHeads(), cfg.numKeyValueHeads(),
                cfg.vocabSize(), layout.tied() ? ", tied embeddings" : "", dtype.id(),
                dtype.half() ? ", " + oc.rounding().id() + " rounding" : "");
        log.printf(Locale.ROOT, "data     %s%n", source.describe());
        if (evalSource != source) log.printf(Locale.ROOT, "eval     %s%n", evalSource.describe());
        log.printf(Locale.ROOT, "kernels  %s%n", kernels);
        log.printf(Locale.ROOT, "train    %s, lr %.3g %s (warmup %d), weight decay %.3g, clip-norm %s, clip-value %s, "
                        + "batch %d x %d tokens, steps %d..%d, %d threads%n",
                oc.kind().id(), oc.schedule().peak(), oc.schedule().kind().name().toLowerCase(Locale.ROOT), oc.schedule().warmup(),
                oc.weightDecay(), oc.clipNorm() > 0 ? oc.clipNorm() : "off", oc.clipValue() > 0 ? oc.clipValue() : "off",
                b, t, recipe.step(), steps, par.threads());

        // Memory, before any is spent: the JVM's heap, or the device's memory.
        MemoryPlan plan = null;
        if (device == null) {
            long budget = MemoryPlan.budget();
            // Evaluation's exact match generates with a key/value cache: planned too, sized from the held-out examples.
            long cache = noEval ? 0 : Evaluator.cacheRowPositions(evalSource.evalExamples(), b, t + 1, cfg.maxPositionEmbeddings(), tok);
            plan = MemoryPlan.choose(cfg, dtype, oc, b, t, checkpointActivations, par, budget, cache);
            log.print(plan.table(oc.kind().id()));
            log.printf(Locale.ROOT, "  %-17s %12s  (%.0f%% of the max heap %s; machine %s)%n", "Budget", MemoryLedger.human(budget),
                    100 * MemoryPlan.HEAP_SHARE, MemoryLedger.human(Runtime.getRuntime().maxMemory()),
                    MemoryLedger.human(MemoryPlan.physicalMemory()));
            if (plan.checkpointing() && checkpointActivations == null) {
                log.println("  activation checkpointing is on: without it the run would not fit the budget");
            }
            String verdict = plan.verdict(budget);
            if (verdict != null) throw new IllegalArgumentException(verdict);
        } else {
            MemoryLedger planned = device.planLomo(cfg, dtype, b, t);
            long capacity = device.memoryBytes(modelOptions.device);
            log.print(planned.titledTable("Device memory (planned bytes on the " + device.name() + " device)"));
            log.printf(Locale.ROOT, "  %-17s %12s  (device %d; the host mirrors the activations and scratch)%n", "Device has",
                    MemoryLedger.human(capacity), modelOptions.device);
            long weights = planned.peak(Category.PARAMETERS);
            if (weights > capacity) {
                throw new IllegalArgumentException("the " + dtype.id() + " weights alone need " + MemoryLedger.human(weights)
                        + " on the device, which has " + MemoryLedger.human(capacity) + "; use "
                        + (dtype == ParamDtype.F32 ? "--param-dtype bf16, " : "") + "--backend jvm or a device with more memory");
            }
            if (planned.peakTotal() > capacity) {
                throw new IllegalArgumentException("batch " + b + " x seq " + t + " needs " + MemoryLedger.human(planned.peakTotal())
                        + " on the device, which has " + MemoryLedger.human(capacity) + "; use a smaller --batch or --seq");
            }
        }
        if (dryRun) return 0;

        runDir.requireSpace(checkpointBytes(layout, oc), "a checkpoint");
        List<Trainer.StepRecord> history = checkpoint == null ? List.of() : RunDirectory.history(sameRun ? out : sourceRun, recipe.step());
        var previousReport = checkpoint == null ? null : RunReport.read(sameRun ? out : sourceRun);
        return train(log, par, ledger, tok, cfg, recipe, checkpoint, source, evalSource, device, plan, runDir, history, previousReport);
    }

    private int train(PrintStream log, Parallel par, MemoryLedger ledger, Tokenizer tok, LlamaConfig cfg, TrainState recipe, Path checkpoint,
                      DataSource source, DataSource evalSource, Backend device, MemoryPlan plan, RunDirectory runDir, List<Trainer.StepRecord> history,
                      com.fasterxml.jackson.databind.JsonNode previousReport) throws Exception {
        OptimizerConfig oc = recipe.optimizer();
        int b = recipe.batchSize(), t = recipe.seqLen();
        LlamaModel model = checkpoint != null ? Checkpoint.loadModel(checkpoint, recipe.paramDtype(), recipe.seed(), par, ledger)
                : modelOptions.load(par, ledger);
        ModelOptions.checkVocab(model, tok);
        Optimizer opt;
        if (device == null) {
            model.setCheckpointing(plan.checkpointing());
            opt = Optimizer.create(model, oc);
            model.reserve(b, t);
        } else {
            opt = device.lomo(model, oc, modelOptions.device, b, t);
            if (deviceProfile) opt.profileDevice();
        }
        if (checkpoint != null) {
            opt.setStepCount(recipe.step());
            Checkpoint.loadOptimizerState(checkpoint, opt);
        }

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
        TrainingRun.Outcome outcome;
        try {
            Progress progress = new Progress(log, ledger, steps);
            TrainingRun.Saver saver = dir -> Checkpoint.save(dir, model, opt, recipe.withStep(opt.stepCount()), tokenizerFiles, specialIds,
                    saveFormat);
            TrainingRun run = new TrainingRun(model, opt, source, runDir, saver,
                    new TrainingRun.Schedule(checkpointEvery, checkpointMinutes, keepCheckpoints),
                    noEval ? null : new TrainingRun.Evaluation(Evaluator.duringTraining(model, tok, opt), evalSource, evalEvery), log);
            if (memoryTimeline) run.withMemoryTimeline();
            outcome = run.run(steps, recipe.seed(), b, t, history, progress, stop::get);
            if (outcome.status() == TrainingRun.Status.INTERRUPTED) {
                progress.interrupted();
                log.printf("interrupted at step %d%n", outcome.step());
            } else if (outcome.status() == TrainingRun.Status.FAILED) {
                progress.interrupted();
            }
            log.print(ledger.table(oc.kind().id()));
            MemoryLedger deviceMemory = opt.deviceMemory();
            if (deviceMemory != null) log.print(deviceMemory.titledTable("Device memory (bytes resident on the " + device.name() + " device)"));
            DeviceProfile profile = opt.deviceProfile();
            if (profile != null) log.print(profile.table(12));
            Path report = reportJson != null ? reportJson : out.resolve(RunDirectory.REPORT);
            String reportProblem = "";
            try {
                var json = RunReport.json(model.config(), model.layout().totalSize(), recipe.withStep(outcome.step()),
                        par.threads(), outcome, recipe.step(), ledger, previousReport);
                if (deviceMemory != null) RunReport.putPeaks(json, "device_memory_peak_bytes", deviceMemory);
                if (profile != null) profile.putInto(json);
                RunReport.writeJson(report, json);
                RunReport.writePlots(out, outcome.steps(), json, ledger, oc.kind().id() + " on " + recipe.data());
            } catch (java.io.IOException e) {
                reportProblem = "; the report was not written (" + e.getMessage() + ")";
            }
            Path newest = outcome.checkpoint();
            if (outcome.status() == TrainingRun.Status.FAILED) {
                System.err.println("error: " + outcome.failure() + reportProblem + "; " + nextStep(outcome, recipe));
                return Main.EXIT_FAILED;
            }
            log.printf("wrote    %s, %s (metrics.csv, loss.svg, memory.svg)%s%n", newest, report, reportProblem);
            if (outcome.status() == TrainingRun.Status.INTERRUPTED) log.println(nextStep(outcome, recipe));
        } finally {
            opt.close();
            saved.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // Ctrl-C: the hook is running and waits for the countDown above.
            }
        }
        return 0;
    }

    /** What to do after a session that did not complete: the command that continues it, or why none would help. */
    private String nextStep(TrainingRun.Outcome outcome, TrainState recipe) {
        Path newest = outcome.checkpoint();
        if (newest == null) return "no checkpoint was written; run again (--checkpoint-every N saves along the way)";
        if (outcome.diverged()) {
            return String.format(Locale.ROOT, "the newest finite weights are %s; resuming would diverge again, so start from them with a lower "
                    + "learning rate: ./lomo4j train --model %s --out %s-lr --lr %.3g", newest, newest, out, recipe.optimizer().schedule().peak() / 3);
        }
        return "resume with: ./lomo4j train --resume " + newest + " --out " + out;
    }

    /** The checkpoint {@code --resume} names: a checkpoint directory, or a run directory's newest. */
    private Path resumedCheckpoint() {
        Path ckpt = Checkpoint.newest(resume);
        if (!Checkpoint.isCheckpoint(ckpt)) {
            throw new IllegalArgumentException("--resume " + resume + ": no checkpoint there (a step-N directory with "
                    + Checkpoint.TRAINER + ", or a run directory holding one)");
        }
        return ckpt;
    }

    /**
     * Makes {@code runDir} this session's: a resume continues its own run (dropping checkpoints of an abandoned
     * later history only with --overwrite); a new run needs an empty directory, or --overwrite to clear it.
     */
    private void claim(RunDirectory runDir, Path checkpoint, boolean sameRun) throws java.io.IOException {
        List<Path> existing = runDir.checkpoints();
        if (sameRun) {
            long step = Checkpoint.stepOf(checkpoint);
            Path last = existing.get(existing.size() - 1);
            if (Checkpoint.stepOf(last) > step) {
                if (!overwrite) {
                    throw new IllegalArgumentException("--resume " + checkpoint + ": " + out + " has later checkpoints (" + last.getFileName()
                            + "); resuming from an earlier one would mix two histories: resume from " + out + ", branch with --out <new dir>, "
                            + "or --overwrite to delete the later checkpoints");
                }
                runDir.deleteCheckpointsAfter(step);
            }
            return;
        }
        if (!runDir.holdsRun()) return;
        if (!overwrite) {
            String what = existing.isEmpty() ? "a run's report" : "a run (" + existing.get(existing.size() - 1).getFileName() + ")";
            throw new IllegalArgumentException("--out " + out + " already holds " + what + "; continue it with --resume " + out
                    + ", replace it with --overwrite, or give another --out");
        }
        Path model = modelOptions.model.toAbsolutePath().normalize();
        if (model.startsWith(out.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("--overwrite would delete --model " + modelOptions.model + ", which is inside --out " + out
                    + "; give another --out");
        }
        runDir.clear();
    }

    /** A checkpoint's size on disk: weights in the save dtype, the optimizer's fp32 state, the tokenizer's files. */
    private long checkpointBytes(ParameterLayout layout, OptimizerConfig oc) {
        long params = layout.totalSize();
        long state = oc.kind() == OptimizerConfig.Kind.ADAMW ? 2 * params * Float.BYTES : 0;
        long companions = tokenizerFiles.values().stream().mapToLong(f -> f.length).sum();
        return params * saveFormat.dtype().width + state + companions + (1 << 20);
    }

    /** The optimizer recipe of a new run from the flags; the schedule's length from --steps or --epochs. */
    private OptimizerConfig optimizerConfig(DataSource source) {
        int total = totalSteps(source);
        LrSchedule.Kind kind = LrSchedule.Kind.parse(schedule);
        int warm = warmup != null ? warmup : Math.min(20, total / 10);
        if (kind != LrSchedule.Kind.CONSTANT && warm >= total) {
            throw new IllegalArgumentException("--warmup " + warm + " must be smaller than the " + total + " steps of a "
                    + schedule + " schedule");
        }
        OptimizerConfig.Kind opt = OptimizerConfig.Kind.parse(optimizer);
        LrSchedule lrs = new LrSchedule(kind, lr != null ? lr : opt.defaultLr(), warm, kind == LrSchedule.Kind.CONSTANT ? 0 : total);
        steps = total;
        return OptimizerConfig.of(opt, lrs)
                .withWeightDecay(weightDecay).withClipNorm(clipNorm != null ? clipNorm : opt.defaultClipNorm()).withClipValue(clipValue)
                .withRounding(OptimizerConfig.Rounding.parse(rounding));
    }

    /** Every flag in its range or among its names, before anything is read or written. */
    private void checkFlags() {
        batchOptions.validate();
        OptimizerConfig.Kind.parse(optimizer);
        LrSchedule.Kind.parse(schedule);
        if (deviceProfile && modelOptions.backend.equals("jvm")) {
            throw new IllegalArgumentException("--device-profile profiles a device backend; give --backend tornado (the JVM backend's time is in JMH, see bench/)");
        }
        OptimizerConfig.Rounding.parse(rounding);
        if (!template.equals("auto")) PromptTemplate.parse(template);
        if (saveDtype != null) parseDtype(saveDtype);
        if (lr != null) requireFinite("--lr", lr, false);
        requireFinite("--weight-decay", weightDecay, true);
        if (clipNorm != null) requireFinite("--clip-norm", clipNorm, true);
        requireFinite("--clip-value", clipValue, true);
        requireFinite("--checkpoint-minutes", checkpointMinutes, true);
        if (epochs != null) requireFinite("--epochs", epochs, false);
        if (warmup != null && warmup < 0) throw new IllegalArgumentException("--warmup must not be negative, got " + warmup);
        if (steps != null && steps < 1) throw new IllegalArgumentException("--steps must be at least 1, got " + steps);
        if (checkpointEvery < 0) throw new IllegalArgumentException("--checkpoint-every must not be negative, got " + checkpointEvery);
        if (evalEvery < 0) throw new IllegalArgumentException("--eval-every must not be negative, got " + evalEvery);
        if (evalData != null && noEval) throw new IllegalArgumentException("--eval-data evaluates, --no-eval does not: give one of them");
        if (keepCheckpoints < 1) throw new IllegalArgumentException("--keep-checkpoints must be at least 1, got " + keepCheckpoints);
        if (steps != null && epochs != null) throw new IllegalArgumentException("give --steps or --epochs, not both");
    }

    /** {@code value} must be a number, positive (or zero where {@code zeroOk}). */
    static void requireFinite(String flag, double value, boolean zeroOk) {
        if (!Double.isFinite(value) || value < 0 || (value == 0 && !zeroOk)) {
            throw new IllegalArgumentException(flag + " must be a " + (zeroOk ? "non-negative" : "positive") + " number, got " + value);
        }
    }

    /**
     * A resumed run keeps its recipe: a flag that would change it is an error, not silently ignored (the same
     * value is fine). To change the recipe, a new run starts from the checkpoint with --model.
     */
    private void checkResumeFlags(TrainState recipe) {
        OptimizerConfig oc = recipe.optimizer();
        LrSchedule lrs = oc.schedule();
        if (spec.commandLine().getParseResult().hasMatchedOption("--model")) {
            throw new IllegalArgumentException("give --resume or --model, not both: --resume continues a run from its checkpoint, "
                    + "--model starts a new run from a model (or a checkpoint, with a new recipe)");
        }
        conflict("--data", data, recipe.data(), data.equals(recipe.data()));
        conflict("--optimizer", optimizer, oc.kind().id(), optimizer.equals(oc.kind().id()));
        conflict("--lr", lr, lrs.peak(), lr != null && lr == lrs.peak());
        conflict("--schedule", schedule, lrs.kind().name().toLowerCase(Locale.ROOT), schedule.equalsIgnoreCase(lrs.kind().name()));
        conflict("--warmup", warmup, lrs.warmup(), warmup != null && warmup == lrs.warmup());
        conflict("--weight-decay", weightDecay, oc.weightDecay(), weightDecay == oc.weightDecay());
        conflict("--clip-norm", clipNorm, oc.clipNorm(), clipNorm != null && clipNorm == oc.clipNorm());
        conflict("--clip-value", clipValue, oc.clipValue(), clipValue == oc.clipValue());
        conflict("--rounding", rounding, oc.rounding().id(), rounding.equals(oc.rounding().id()));
        conflict("--eval-data", evalData, recipe.evalData(), evalData != null && evalData.equals(recipe.evalData()));
        conflict("--template", template, recipe.template().id(), template.equals(recipe.template().id()));
        conflict("--epochs", epochs, lrs.totalSteps() + " steps", false);
        conflict("--batch", batchOptions.batch, recipe.batchSize(), batchOptions.batch != null && batchOptions.batch == recipe.batchSize());
        conflict("--seq", batchOptions.seq, recipe.seqLen(), batchOptions.seq != null && batchOptions.seq == recipe.seqLen());
        conflict("--seed", modelOptions.seed, recipe.seed(), modelOptions.seed == recipe.seed());
        conflict("--param-dtype", modelOptions.paramDtype, recipe.paramDtype().id(),
                modelOptions.paramDtype != null && modelOptions.paramDtype.equalsIgnoreCase(recipe.paramDtype().id()));
    }

    private void conflict(String flag, Object given, Object kept, boolean same) {
        // Equal values are fine: a script may spell the whole recipe out every time.
        if (same || !spec.commandLine().getParseResult().hasMatchedOption(flag)) return;
        String change = flag.equals("--model") ? "" : " " + flag + " " + given;
        throw new IllegalArgumentException(flag + " " + given + ": the run being resumed keeps its " + flag.substring(2) + " (" + kept
                + "); to change it, start a new run from the checkpoint: ./lomo4j train --model " + Checkpoint.newest(resume) + " --out <new dir>" + change);
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
        if (epochs != null) {
            if (!(source instanceof JsonlSource j)) {
                throw new IllegalArgumentException("--epochs needs a JSON Lines file of examples; use --steps for " + data);
            }
            return (int) Math.max(1, Math.ceil(epochs * j.size() / batchOptions.batch()));
        }
        return steps == null ? 600 : steps;
    }
}
