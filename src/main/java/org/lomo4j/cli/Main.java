package org.lomo4j.cli;

import org.lomo4j.generate.NonFiniteResultException;
import org.lomo4j.optim.DivergedException;
import picocli.CommandLine;

import java.io.UncheckedIOException;
import picocli.CommandLine.Command;

/** {@code java -jar lomo4j.jar <train|eval|generate> …} */
@Command(name = "lomo4j", mixinStandardHelpOptions = true, version = "lomo4j 0.1.0",
        description = "Full-parameter fine-tuning of LLaMA-family models in pure Java with the LOMO optimizer.",
        subcommands = {TrainCommand.class, EvalCommand.class, GenerateCommand.class, ReportCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    /** Exit codes: 0 a result; 2 bad input (nothing was run); 3 out of memory; 4 a run or output that is not a result; 1 a bug. */
    public static final int EXIT_BUG = 1, EXIT_BAD_INPUT = 2, EXIT_OUT_OF_MEMORY = 3, EXIT_FAILED = 4;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        // Bad input is the user's to fix: print the message (it names the file, field or flag), not a stack trace.
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof UncheckedIOException u) e = u.getCause();
            if (e instanceof NonFiniteResultException || e instanceof DivergedException) {
                cmd.getErr().println("error: " + e.getMessage());
                return EXIT_FAILED;
            }
            if (e instanceof IllegalArgumentException || e instanceof IllegalStateException || e instanceof java.io.IOException) {
                cmd.getErr().println("error: " + e.getMessage());
                return EXIT_BAD_INPUT;
            }
            // Not the user's input: a bug. One line saying where; the stack trace on request.
            StackTraceElement at = e.getStackTrace().length > 0 ? e.getStackTrace()[0] : null;
            cmd.getErr().println("error: internal error: " + e + (at == null ? "" : " at " + at)
                    + " (please report it with the command that ran; LOMO4J_TRACE=1 prints the stack trace)");
            if (System.getenv("LOMO4J_TRACE") != null) e.printStackTrace(cmd.getErr());
            return EXIT_BUG;
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError e) {
            // Past the memory plan (train checks it before loading): say so in one line, not a stack trace.
            System.err.println(outOfMemory(e));
            return EXIT_OUT_OF_MEMORY;
        }
    }

    /** One line for an OutOfMemoryError: the heap there was, and the launcher's default (85% of memory) when it was smaller. */
    static String outOfMemory(OutOfMemoryError e) {
        long heap = Runtime.getRuntime().maxMemory();
        long ram = org.lomo4j.train.MemoryPlan.physicalMemory();
        long larger = (ram * 85 / 100) >> 30;  // GiB
        String heapHint = larger << 30 > heap
                ? String.format(java.util.Locale.ROOT, ", or a larger heap (LOMO4J_HEAP=%dg ./lomo4j ..., 85%% of memory, the launcher's default)", larger)
                : "";
        return String.format(java.util.Locale.ROOT, "error: out of memory (the JVM's max heap is %s, the machine has %s): %s; "
                        + "try a smaller --batch or --seq, --checkpoint-activations%s", org.lomo4j.memory.MemoryLedger.human(heap),
                org.lomo4j.memory.MemoryLedger.human(ram), e.getMessage(), heapHint);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
