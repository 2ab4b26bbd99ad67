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
        try (Parallel par = modelOptions.parallel()) {
            LlamaModel model = modelOptions.load(par, new MemoryLedger());
            if (data == null) {
                TrainState st = modelOptions.trainState();
                data = st != null ? st.data() : "synthetic:reverse";
            }
            Tokenizer tok = modelOptions.tokenizer();
            ModelOptions.checkVocab(model, tok);
            DataSource source = DataSource.open(data, tok, modelOptions.template(template), false);
            System.out.println(source.describe());
            try (Backend.Forward device = modelOptions.forward(model, batchOptions.seq + 1)) {
                Evaluator evaluator = new Evaluator(model, tok, device);
                System.out.println(TrainCommand.describe(evaluator.evaluate(source, batchOptions.batch, batchOptions.seq)));
            }
        }
        return 0;
    }
}
