package org.lomo4j.data;

import java.util.Locale;

/**
 * How an instruction's prompt is wrapped before tokenizing, for JSONL data and for {@code generate}. The
 * response follows the wrapped prompt as is, then the tokenizer's EOS. These are fixed, built-in formats;
 * the Jinja {@code chat_template} of a {@code tokenizer_config.json} is not interpreted. Special tokens in
 * a template ({@code <|im_start|>}) become single ids only where the tokenizer has them as added tokens.
 */
public enum PromptTemplate {
    /** The prompt unchanged: the response continues it directly. */
    NONE("%s"),
    /** Qwen's and SmolLM's ChatML: a user turn, then an open assistant turn. */
    CHATML("<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n"),
    /** Llama 2 chat's instruction brackets (BOS comes from the tokenizer). */
    LLAMA2("[INST] %s [/INST] "),
    /** Stanford Alpaca's instruction/response headings. */
    ALPACA("### Instruction:\n%s\n\n### Response:\n");

    private final String format;

    PromptTemplate(String format) {
        this.format = format;
    }

    public String apply(String prompt) {
        return String.format(Locale.ROOT, format, prompt);
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static PromptTemplate parse(String s) {
        for (PromptTemplate t : values()) if (t.id().equals(s)) return t;
        throw new IllegalArgumentException("--template must be none, chatml, llama2 or alpaca, got '" + s + "'");
    }
}
