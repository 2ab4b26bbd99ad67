package org.lomo4j.cli;

import org.lomo4j.backend.Backend;
import org.lomo4j.checkpoint.TrainState;
import org.lomo4j.data.DataSource;
import org.lomo4j.generate.Evaluator;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.parallel.Parallel;
import org.lomo4j.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Held-out loss and perplexity, and exact-match accuracy where the data has answers.")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--data", description = "As for train. Default: the data a checkpoint was trained on, else synthetic:reverse")
    String data;

    @Option(names = "--template", description = "As for train. Default: the checkpoint's, else none")
    String template;

    @Mixin
    BatchOptions batchOptions;

    @Override
    public Integer call() {
        batchOptions.validate();
        // A checkpoint is evaluated as it was trained: its data, batch and sequence length, unless told otherwise.
        TrainState st = modelOptions.trainState();
        // The checkpoint's separate evaluation set where it had one, else its training data's held-out part.
        boolean evalSet = data == null && st != null && st.evalData() != null;
        if (data == null) data = st == null ? "synthetic:reverse" : evalSet ? st.evalData() : st.data();
        int batch = batchOptions.batch != null || st == null ? batchOptions.batch() : st.batchSize();
        int seq = batchOptions.seq != null || st == null ? batchOptions.seq() : st.seqLen();
        try (Parallel par = modelOptions.parallel()) {
            Tokenizer tok = modelOptions.tokenizer();
            DataSource source = evalSet ? DataSource.openForEvaluation(data, tok, modelOptions.template(template), false, seq)
                    : DataSource.open(data, tok, modelOptions.template(template), false, seq);
            source.requireHeldOut(seq);
            LlamaModel model = modelOptions.load(par, new MemoryLedger());
            ModelOptions.checkVocab(model, tok);
            if (seq > model.config().maxPositionEmbeddings()) {
                throw new IllegalArgumentException("--seq " + seq + " is longer than the model's context (max_position_embeddings "
                        + model.config().maxPositionEmbeddings() + ")");
            }
            System.out.println(source.describe() + ", batch " + batch + " x " + seq);
            try (Backend.Forward device = modelOptions.forward(model, seq + 1)) {
                Evaluator evaluator = new Evaluator(model, tok, device);
                System.out.println(Evaluator.describe(evaluator.evaluate(source, batch, seq)));
            }
        }
        return 0;
    }
}
