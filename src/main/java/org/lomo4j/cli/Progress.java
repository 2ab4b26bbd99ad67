package org.lomo4j.cli;

import org.lomo4j.memory.MemoryLedger;
import org.lomo4j.train.Trainer;

import java.io.PrintStream;
import java.util.Locale;

/** A progress bar on a terminal; plain log lines every so often otherwise. */
final class Progress implements Trainer.Listener {
    private final PrintStream out;
    private final boolean terminal;
    private final MemoryLedger ledger;
    private final int logEvery;
    private final long start = System.nanoTime();
    private int done;
    private double lossAverage = Double.NaN;

    Progress(PrintStream out, MemoryLedger ledger, int totalSteps) {
        this.out = out;
        this.ledger = ledger;
        this.terminal = isTerminal();
        this.logEvery = Math.max(1, totalSteps / 20);
    }

    @Override
    public void onStep(Trainer.StepRecord r, int totalSteps) {
        done++;
        lossAverage = Double.isNaN(lossAverage) ? r.loss() : 0.9 * lossAverage + 0.1 * r.loss();
        double elapsed = (System.nanoTime() - start) / 1e9;
        double eta = elapsed / done * (totalSteps - r.step() - 1);
        String stats = String.format(Locale.ROOT, "step %d/%d  loss %.4f (avg %.4f)  lr %.2e  %.0f tok/s  eta %s  peak %s",
                r.step() + 1, totalSteps, r.loss(), lossAverage, r.lr(), r.tokensPerSecond(), duration(eta),
                MemoryLedger.human(ledger.peakTotal()));
        if (terminal) {
            int width = 24;
            int filled = (int) Math.round(width * (r.step() + 1.0) / totalSteps);
            out.print("\r[" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + stats + "  ");
            if (r.step() + 1 == totalSteps) out.println();
        } else if ((r.step() + 1) % logEvery == 0 || r.step() == 0 || r.step() + 1 == totalSteps) {
            out.println(stats);
        }
        out.flush();
    }

    void interrupted() {
        if (terminal) out.println();
    }

    private static String duration(double s) {
        long t = Math.round(s);
        return t >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", t / 3600, t / 60 % 60) : String.format(Locale.ROOT, "%dm%02ds", t / 60, t % 60);
    }

    /** {@code Console.isTerminal()} where the JDK has it (22+); a console on 21 means a terminal. */
    private static boolean isTerminal() {
        java.io.Console c = System.console();
        if (c == null) return false;
        try {
            return (Boolean) java.io.Console.class.getMethod("isTerminal").invoke(c);
        } catch (ReflectiveOperationException e) {
            return true;
        }
    }
}
