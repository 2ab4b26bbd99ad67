package org.lomo4j.tokenizer;

/** A tokenizer with the BOS and EOS ids its model's config names. */
record WithSpecials(Tokenizer inner, int bos, int eos) implements Tokenizer {
    @Override
    public int[] encode(String text) {
        return inner.encode(text);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecial) {
        return inner.decode(ids, skipSpecial);
    }

    @Override
    public int id(String token) {
        return inner.id(token);
    }

    @Override
    public int vocabSize() {
        return inner.vocabSize();
    }
}
