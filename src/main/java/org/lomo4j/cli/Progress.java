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
        String stats = line(r.step() + 1, totalSteps, r.loss(), lossAverage, r.lr(), r.tokensPerSecond(), eta, ledger.peakTotal(),
                terminal ? WIDTH - 12 : WIDTH);
        if (terminal) {
            int width = Math.max(10, WIDTH - 3 - stats.length());
            int filled = (int) Math.round(width * (r.step() + 1.0) / totalSteps);
            out.print("\r[" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + stats);
            if (r.step() + 1 == totalSteps) out.println();
        } else if ((r.step() + 1) % logEvery == 0 || r.step() == 0 || r.step() + 1 == totalSteps) {
            out.println(stats);
        }
        out.flush();
    }

    /** A terminal's width, which the progress line never passes. */
    static final int WIDTH = 80;

    /**
     * The progress line in at most {@code max} columns: step, loss, lr, speed, time left and peak memory, dropping
     * the loss average, then the peak, then the time left when a line would be longer (huge step counts or speeds).
     */
    static String line(int step, int total, double loss, double average, double lr, double tokensPerSecond, double eta, long peak, int max) {
        String head = String.format(Locale.ROOT, "step %d/%d loss %.4f", step, total, loss);
        String avg = String.format(Locale.ROOT, " avg %.4f", average);
        String rest = String.format(Locale.ROOT, " lr %.2e %s tok/s", lr, compact(tokensPerSecond));
        String left = " eta " + duration(eta);
        String mem = " " + MemoryLedger.human(peak);
        String[][] choices = {{avg, left, mem}, {"", left, mem}, {"", left, ""}, {"", "", ""}};
        for (String[] c : choices) {
            String s = head + c[0] + rest + c[1] + c[2];
            if (s.length() <= max) return s;
        }
        return head + rest;
    }

    /** 950, 14.4k, 1.23M. */
    static String compact(double x) {
        if (x < 10_000) return String.format(Locale.ROOT, "%.0f", x);
        if (x < 10_000_000) return String.format(Locale.ROOT, "%.1fk", x / 1e3);
        return String.format(Locale.ROOT, "%.2fM", x / 1e6);
    }

    @Override
    public void pause() {
        if (terminal && done > 0) out.println();
    }

    void interrupted() {
        if (terminal) out.println();
    }

    static String duration(double s) {
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
