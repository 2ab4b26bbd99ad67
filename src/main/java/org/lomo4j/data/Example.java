package org.lomo4j.data;

/** One training example: the prompt (no loss) and the response the model must learn to produce. */
public record Example(int[] prompt, int[] response) {

    /** BOS, prompt, response, EOS (one less where the tokenizer has no BOS). */
    public int length() {
        return prompt.length + response.length + 2;
    }
}
