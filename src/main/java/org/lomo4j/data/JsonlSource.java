package org.lomo4j.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.lomo4j.model.Batch;
import org.lomo4j.tokenizer.Tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Instruction data, one {@code {"prompt": ..., "response": ...}} object per line; the loss is taken on
 * the response only. Every 10th example is held out for evaluation; with fewer than 10 none is.
 */
public final class JsonlSource implements DataSource {
    private final Path path;
    private final Tokenizer tok;
    private final PromptTemplate template;
    private final List<Example> train;
    private final List<Example> eval;
    private final int skipped;

    private JsonlSource(Path path, Tokenizer tok, PromptTemplate template, List<Example> train, List<Example> eval, int skipped) {
        this.path = path;
        this.tok = tok;
        this.template = template;
        this.skipped = skipped;
        this.train = train;
        this.eval = eval;
    }

    private JsonlSource(Path path, Tokenizer tok, PromptTemplate template, List<Example> all, int skipped) {
        this.path = path;
        this.tok = tok;
        this.template = template;
        this.skipped = skipped;
        if (all.size() < 10) {
            this.train = all;
            this.eval = List.of();  // never the training examples: a score on them would say nothing
        } else {
            this.train = new ArrayList<>();
            this.eval = new ArrayList<>();
            for (int i = 0; i < all.size(); i++) (i % 10 == 9 ? eval : train).add(all.get(i));
        }
    }

    /** Reads every line; a malformed line fails with its file and line number unless {@code skipBadLines}. */
    public static JsonlSource read(Path path, Tokenizer tok, boolean skipBadLines) {
        return read(path, tok, PromptTemplate.NONE, skipBadLines, 0);
    }

    /**
     * As {@link #read(Path, Tokenizer, boolean)}, each prompt wrapped in {@code template} before tokenizing. With
     * {@code seqLen > 0} an example longer than a sequence is a bad line too, found here rather than at the step
     * that would draw it.
     */
    public static JsonlSource read(Path path, Tokenizer tok, PromptTemplate template, boolean skipBadLines, int seqLen) {
        ObjectMapper json = new ObjectMapper();
        List<Example> examples = new ArrayList<>();
        int skipped = 0, tooLong = 0, firstTooLong = 0, longest = 0;
        String[] lines = Utf8.read(path).split("\r?\n", -1);
        for (int lineNo = 1; lineNo <= lines.length; lineNo++) {
            String line = lines[lineNo - 1];
            if (line.isBlank()) continue;
            String problem = null;
            try {
                JsonNode n = json.readTree(line);
                if (n == null || !n.isObject()) problem = "expected a JSON object";
                else if (!n.path("prompt").isTextual()) problem = "missing string field 'prompt'";
                else if (!n.path("response").isTextual()) problem = "missing string field 'response'";
                else {
                    Example ex = new Example(tok.encode(template.apply(n.get("prompt").asText())), tok.encode(n.get("response").asText()));
                    int needs = Batches.minSeq(ex, tok);
                    if (seqLen > 0 && needs > seqLen) {
                        if (tooLong++ == 0) firstTooLong = lineNo;
                        longest = Math.max(longest, needs);
                        if (skipBadLines) skipped++;
                    } else {
                        examples.add(ex);
                    }
                }
            } catch (JsonProcessingException e) {
                problem = "invalid JSON (" + e.getOriginalMessage() + ")";
            }
            if (problem != null) {
                if (!skipBadLines) {
                    throw new IllegalArgumentException(path + ":" + lineNo + ": " + problem
                            + " (--skip-bad-lines skips such lines and counts them)");
                }
                skipped++;
            }
        }
        if (tooLong > 0 && !skipBadLines) {
            throw new IllegalArgumentException(path + ":" + firstTooLong + ": example does not fit --seq " + seqLen + " ("
                    + tooLong + " example(s) do not; the longest needs --seq " + longest + "); raise --seq, or --skip-bad-lines skips them");
        }
        if (examples.isEmpty()) throw new IllegalArgumentException(path + ": no examples");
        return new JsonlSource(path, tok, template, examples, skipped);
    }

    /** Whether {@code path} holds JSON Lines: a .jsonl name, or a first non-blank line that is a JSON object. */
    static boolean isJsonl(Path path) {
        if (path.getFileName().toString().endsWith(".jsonl")) return true;
        try (BufferedReader r = Files.newBufferedReader(path, java.nio.charset.StandardCharsets.ISO_8859_1)) {
            String line;
            do {
                line = r.readLine();
            } while (line != null && line.isBlank());
            if (line == null || !line.strip().startsWith("{")) return false;
            return new ObjectMapper().readTree(line).isObject();
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void requireHeldOut(int seqLen) {
        if (eval.isEmpty()) {
            throw new IllegalArgumentException(path + ": " + train.size() + " examples leave none to hold out for evaluation "
                    + "(every 10th is held out; at least 10 are needed); add examples, or train with --no-eval");
        }
    }

    @Override
    public DataSource trainingOnAll() {
        List<Example> all = new ArrayList<>(train);
        all.addAll(eval);
        return new JsonlSource(path, tok, template, all, List.of(), skipped);
    }

    @Override
    public DataSource evaluationOnAll() {
        List<Example> all = new ArrayList<>(train);
        all.addAll(eval);
        return new JsonlSource(path, tok, template, List.of(), all, skipped);
    }

    public int skippedLines() {
        return skipped;
    }

    public int size() {
        return train.size() + eval.size();
    }

    @Override
    public Batch trainBatch(long seed, int step, int batchSize, int seqLen) {
        SplittableRandom rng = new SplittableRandom(DataSource.mix(seed, step, 0));
        List<Example> ex = new ArrayList<>(batchSize);
        for (int i = 0; i < batchSize; i++) ex.add(train.get(rng.nextInt(train.size())));
        return Batches.pack(ex, seqLen, tok);
    }

    public List<Example> trainExamples() {
        return train;
    }

    @Override
    public List<Example> evalExamples() {
        return eval;
    }

    @Override
    public List<Batch> evalBatches(int batchSize, int seqLen) {
        List<Batch> out = new ArrayList<>();
        for (int i = 0; i < eval.size(); i += batchSize) {
            out.add(Batches.pack(eval.subList(i, Math.min(eval.size(), i + batchSize)), seqLen, tok));
        }
        return out;
    }

    @Override
    public String describe() {
        return path + " (" + train.size() + " train / " + eval.size() + " eval examples"
                + (template != PromptTemplate.NONE ? ", template " + template.id() : "")
                + (skipped > 0 ? ", " + skipped + " bad lines skipped" : "") + ")";
    }
}
