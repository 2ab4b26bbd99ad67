package org.lomo4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's own prompt format ({@code --template auto}): the Jinja {@code chat_template} of its
 * {@code tokenizer_config.json}, rendered as transformers' {@code apply_chat_template} renders it for one user
 * message with {@code add_generation_prompt} (trim_blocks and lstrip_blocks on, {@code bos_token} and
 * {@code eos_token} defined, {@code raise_exception} available), by Jinjava. A BOS the template writes first is
 * left out: lomo4j puts the BOS id in front of every prompt itself.
 */
public final class ChatTemplate implements PromptTemplate {
    public static final String FILE = "tokenizer_config.json";
    private static final Jinjava JINJA = jinjava();

    private final String source;
    private final String where;
    private final String bos;
    private final String eos;

    public ChatTemplate(String source, String bos, String eos, String where) {
        this.source = jinja2Compatible(source);
        this.bos = bos == null ? "" : bos;
        this.eos = eos == null ? "" : eos;
        this.where = where;
    }

    /** The template of the model directory {@code dir}; fails naming the file when it has none. */
    public static ChatTemplate load(Path dir) {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--template auto: " + file + " does not exist, so the model has no chat_template; "
                    + "use none, chatml, llama2 or alpaca");
        }
        JsonNode cfg;
        try {
            cfg = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not readable as JSON: " + e.getMessage());
        }
        JsonNode t = cfg.path("chat_template");
        String text = null;
        if (t.isTextual()) text = t.asText();
        else if (t.isArray()) {  // several named templates: the default one
            for (JsonNode named : t) if (named.path("name").asText().equals("default")) text = named.path("template").asText(null);
        }
        if (text == null) {
            throw new IllegalArgumentException("--template auto: " + file + " has no chat_template; use none, chatml, llama2 or alpaca");
        }
        return new ChatTemplate(text, token(cfg.get("bos_token")), token(cfg.get("eos_token")), file.toString());
    }

    /**
     * Jinja2 forms that real templates use (Qwen3's) and Jinjava reads otherwise, rewritten: a reversed slice
     * {@code x[::-1]} becomes {@code (x|reverse)}; Python's {@code s.startswith(p)} and {@code s.endswith(p)}
     * become filters of those names; and since Jinjava reads {@code namespace(a=x|length - 1)} as
     * {@code (a=x|length) - 1}, each argument of {@code namespace(...)} is parenthesized.
     */
    static String jinja2Compatible(String template) {
        template = template.replaceAll("([A-Za-z_][A-Za-z0-9_.]*)\\[::-1\\]", "($1|reverse)");
        template = template.replaceAll("\\.(startswith|endswith)\\(", "|$1(");
        var m = java.util.regex.Pattern.compile("namespace\\(([^()]*)\\)").matcher(template);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            StringBuilder args = new StringBuilder();
            for (String arg : m.group(1).split(",")) {
                int eq = arg.indexOf('=');
                if (args.length() > 0) args.append(", ");
                args.append(eq < 0 ? arg.strip() : arg.substring(0, eq).strip() + "=(" + arg.substring(eq + 1).strip() + ")");
            }
            m.appendReplacement(out, java.util.regex.Matcher.quoteReplacement("namespace(" + args + ")"));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** A special token as tokenizer_config.json gives it: a string, or an object with its content. */
    private static String token(JsonNode n) {
        if (n == null || n.isNull()) return null;
        return n.isTextual() ? n.asText() : n.path("content").asText(null);
    }

    @Override
    public String apply(String prompt) {
        Map<String, Object> context = new HashMap<>();
        context.put("messages", List.of(Map.of("role", "user", "content", prompt)));
        context.put("add_generation_prompt", true);
        context.put("bos_token", bos);
        context.put("eos_token", eos);
        RenderResult r = JINJA.renderForResult(source, context);
        for (TemplateError e : r.getErrors()) {
            if (e.getSeverity() != TemplateError.ErrorType.FATAL) continue;
            String message = e.getMessage();
            for (Throwable x = e.getException(); x != null; x = x.getCause()) {
                if (x.getMessage() != null && x.getMessage().startsWith(RAISED)) message = x.getMessage();
            }
            throw new IllegalArgumentException(where + ": chat_template does not render: " + message);
        }
        String text = r.getOutput();
        return !bos.isEmpty() && text.startsWith(bos) ? text.substring(bos.length()) : text;
    }

    @Override
    public String id() {
        return "auto";
    }

    /**
     * transformers' Jinja environment: blocks trimmed and lstripped, {@code {{-}} trimming as in Jinja2, Python's
     * operator precedence, and a raise_exception that fails the render.
     */
    private static Jinjava jinjava() {
        LegacyOverrides jinja2 = LegacyOverrides.newBuilder().withUseTrimmingForNotesAndExpressions(true)
                .withUseNaturalOperatorPrecedence(true).withParseWhitespaceControlStrictly(true).withKeepNullableLoopValues(true).build();
        Jinjava j = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).withLegacyOverrides(jinja2).build());
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        j.getGlobalContext().registerFilter(new StringTest("startswith", String::startsWith));
        j.getGlobalContext().registerFilter(new StringTest("endswith", String::endsWith));
        return j;
    }

    private static final String RAISED = "raise_exception: ";

    /** Python's {@code str.startswith} / {@code endswith} as a filter: {@code s|startswith(p)}. */
    private record StringTest(String name, java.util.function.BiPredicate<String, String> test) implements Filter {
        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return var != null && args.length == 1 && test.test(var.toString(), args[0]);
        }

        @Override
        public String getName() {
            return name;
        }
    }

    /** Jinja's {@code raise_exception(message)}, as transformers defines it for templates. */
    public static String raiseException(String message) {
        throw new IllegalArgumentException(RAISED + message);
    }
}
