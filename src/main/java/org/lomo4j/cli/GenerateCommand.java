package org.lomo4j.cli;

import org.lomo4j.backend.Backend;
import org.lomo4j.generate.Generator;
import org.lomo4j.generate.Sampler;
import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.model.LlamaModel;
import org.lomo4j.parallel.Parallel;
import org.lomo4j.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

@Command(name = "generate", mixinStandardHelpOptions = true, description = "Continue a prompt with a trained model.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--prompt", required = true, description = "Text to continue, e.g. \"37+85=\"")
    String prompt;

    @Option(names = "--template", description = "Wrap the prompt: auto (the model's chat_template), none, chatml, llama2 or alpaca. Default: the checkpoint's, else none")
    String template;

    @Option(names = "--max-tokens", defaultValue = "32", description = "Default: ${DEFAULT-VALUE}")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 is greedy. Default: ${DEFAULT-VALUE}")
    double temperature;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass. Default: ${DEFAULT-VALUE}")
    double topP;

    @Override
    public Integer call() {
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be at least 1");
        Sampler sampler = new Sampler(temperature, topP);
        try (Parallel par = modelOptions.parallel()) {
            LlamaModel model = modelOptions.load(par, new MemoryLedger());
            Tokenizer tok = modelOptions.tokenizer();
            ModelOptions.checkVocab(model, tok);
            int[] ids = tok.withBos(tok.encode(modelOptions.template(template).apply(prompt)));
            int[] completion;
            try (Backend.Forward device = modelOptions.forward(model, ids.length + maxTokens)) {
                completion = new Generator(model, tok, device).complete(List.of(ids), maxTokens, sampler,
                        new SplittableRandom(modelOptions.seed)).get(0);
            }
            System.out.println(prompt + tok.decode(completion, true));
        }
        return 0;
    }
}
