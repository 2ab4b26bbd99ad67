package org.lomo4j.data;

import org.lomo4j.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Tasks generated from a seed, so training needs no download and has an exact-match score. Each
 * example is a short ASCII prompt and the answer the model must complete.
 */
public enum SyntheticTask {
    /** "37+85=" → "122": operands of 1 to 2 digits. */
    ADDITION("two numbers of up to 2 digits, e.g. 37+85= -> 122") {
        @Override
        String[] sample(SplittableRandom rng) {
            int a = rng.nextInt(100);
            int b = rng.nextInt(100);
            return new String[] {a + "+" + b + "=", Integer.toString(a + b)};
        }
    },
    /** "hello>" → "olleh": 2 to 6 lowercase letters. */
    REVERSE("a word of 2-6 letters reversed, e.g. abcd> -> dcba") {
        @Override
        String[] sample(SplittableRandom rng) {
            String w = letters(rng, 2 + rng.nextInt(5));
            return new String[] {w + ">", new StringBuilder(w).reverse().toString()};
        }
    },
    /** "dbca>" → "abcd": 2 to 6 lowercase letters sorted. */
    SORT("2-6 letters in sorted order, e.g. dbca> -> abcd") {
        @Override
        String[] sample(SplittableRandom rng) {
            String w = letters(rng, 2 + rng.nextInt(5));
            char[] c = w.toCharArray();
            Arrays.sort(c);
            return new String[] {w + ">", new String(c)};
        }
    },
    /** "a3k7q1?k" → "7": recall the digit stored under a key. */
    RECALL("recall the digit stored under a key, e.g. a3k7q1?k -> 7") {
        @Override
        String[] sample(SplittableRandom rng) {
            int pairs = 3;
            StringBuilder sb = new StringBuilder();
            char[] keys = new char[pairs];
            char[] values = new char[pairs];
            for (int i = 0; i < pairs; i++) {
                char k;
                do {
                    k = (char) ('a' + rng.nextInt(26));
                } while (contains(keys, i, k));
                keys[i] = k;
                values[i] = (char) ('0' + rng.nextInt(10));
                sb.append(k).append(values[i]);
            }
            int q = rng.nextInt(pairs);
            return new String[] {sb.append('?').append(keys[q]).toString(), String.valueOf(values[q])};
        }
    };

    private final String description;

    SyntheticTask(String description) {
        this.description = description;
    }

    public String description() {
        return description;
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** {prompt, answer} */
    abstract String[] sample(SplittableRandom rng);

    public Example example(SplittableRandom rng, Tokenizer tok) {
        String[] pa = sample(rng);
        return new Example(tok.encode(pa[0]), tok.encode(pa[1]));
    }

    /** The smallest {@code --seq} that holds every example: the longest prompt and answer the task can draw. */
    public int minSeq(Tokenizer tok) {
        String[] longest = switch (this) {
            case ADDITION -> new String[] {"99+99=", "198"};
            case REVERSE, SORT -> new String[] {"abcdef>", "fedcba"};
            case RECALL -> new String[] {"a1b2c3?a", "1"};
        };
        return Batches.minSeq(new Example(tok.encode(longest[0]), tok.encode(longest[1])), tok);
    }

    public static SyntheticTask parse(String name) {
        for (SyntheticTask t : values()) if (t.id().equals(name)) return t;
        StringBuilder known = new StringBuilder();
        for (SyntheticTask t : values()) known.append(known.isEmpty() ? "" : ", ").append(t.id());
        throw new IllegalArgumentException("unknown synthetic task '" + name + "' (known: " + known + ")");
    }

    private static String letters(SplittableRandom rng, int n) {
        char[] c = new char[n];
        for (int i = 0; i < n; i++) c[i] = (char) ('a' + rng.nextInt(26));
        return new String(c);
    }

    private static boolean contains(char[] a, int n, char c) {
        for (int i = 0; i < n; i++) if (a[i] == c) return true;
        return false;
    }
}
