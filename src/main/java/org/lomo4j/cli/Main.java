package org.lomo4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code java -jar lomo4j.jar <train|eval|generate> …} */
@Command(name = "lomo4j", mixinStandardHelpOptions = true, version = "lomo4j 0.1.0",
        description = "Full-parameter fine-tuning of LLaMA-family models in pure Java with the LOMO optimizer.",
        subcommands = {TrainCommand.class, EvalCommand.class, GenerateCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        // Bad input is the user's to fix: print the message (it names the file, field or flag), not a stack trace.
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof IllegalArgumentException || e instanceof IllegalStateException || e instanceof java.io.IOException) {
                cmd.getErr().println("error: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError e) {
            // Past the memory plan (train checks it before loading): say so in one line, not a stack trace.
            System.err.println(outOfMemory(e));
            return 3;
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
