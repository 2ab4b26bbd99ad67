package org.lomo4j.data;

import java.nio.file.Path;
import java.util.Locale;

/**
 * How an instruction's prompt is wrapped before tokenizing, for JSONL data and for {@code generate}. The
 * response follows the wrapped prompt as is, then the tokenizer's EOS. Built-in formats ({@link Builtin}), or
 * {@code auto}: the model's own Jinja {@code chat_template} ({@link ChatTemplate}). Special tokens in a format
 * ({@code <|im_start|>}) become single ids where the tokenizer has them as added tokens.
 */
public sealed interface PromptTemplate permits PromptTemplate.Builtin, ChatTemplate {
    PromptTemplate NONE = Builtin.NONE;
    PromptTemplate CHATML = Builtin.CHATML;
    PromptTemplate LLAMA2 = Builtin.LLAMA2;
    PromptTemplate ALPACA = Builtin.ALPACA;

    String apply(String prompt);

    /** As {@code --template} and trainer.json spell it. */
    String id();

    /** A built-in format by name. */
    static PromptTemplate parse(String s) {
        for (Builtin t : Builtin.values()) if (t.id().equals(s)) return t;
        if (s.equals("auto")) throw new IllegalArgumentException("--template auto needs a model directory with a tokenizer_config.json");
        throw new IllegalArgumentException("--template must be auto, none, chatml, llama2 or alpaca, got '" + s + "'");
    }

    /** {@link #parse}, where {@code auto} is the chat_template of the model directory {@code modelDir}. */
    static PromptTemplate parse(String s, Path modelDir) {
        return s.equals("auto") ? ChatTemplate.load(modelDir) : parse(s);
    }

    enum Builtin implements PromptTemplate {
        /** The prompt unchanged: the response continues it directly. */
        NONE("%s"),
        /** Qwen's and SmolLM's ChatML: a user turn, then an open assistant turn. */
        CHATML("<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n"),
        /** Llama 2 chat's instruction brackets (BOS comes from the tokenizer). */
        LLAMA2("[INST] %s [/INST] "),
        /** Stanford Alpaca's instruction/response headings. */
        ALPACA("### Instruction:\n%s\n\n### Response:\n");

        private final String format;

        Builtin(String format) {
            this.format = format;
        }

        @Override
        public String apply(String prompt) {
            return String.format(Locale.ROOT, format, prompt);
        }

        @Override
        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }
}
