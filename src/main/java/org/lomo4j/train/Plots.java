package org.lomo4j.train;

import org.lomo4j.memory.Category;
import org.lomo4j.memory.MemoryLedger;

import java.util.List;
import java.util.Locale;

/** Two small SVG charts, written by hand: a loss curve and the memory breakdown. */
public final class Plots {
    private Plots() {}

    private static final int W = 640, H = 360, PAD = 50;

    public static String lossCurve(List<Trainer.StepRecord> records, String title) {
        return lossCurve(records, List.of(), title);
    }

    /** The training loss per step, and evaluation losses ({step, loss}) as red points on the same axes. */
    public static String lossCurve(List<Trainer.StepRecord> records, List<double[]> evals, String title) {
        StringBuilder sb = header(title);
        if (records.isEmpty()) return sb.append("</svg>\n").toString();
        double min = Double.MAX_VALUE, max = -Double.MAX_VALUE;
        for (Trainer.StepRecord r : records) {
            min = Math.min(min, r.loss());
            max = Math.max(max, r.loss());
        }
        for (double[] e : evals) {
            min = Math.min(min, e[1]);
            max = Math.max(max, e[1]);
        }
        if (max == min) max = min + 1;
        int first = records.get(0).step(), last = records.get(records.size() - 1).step();
        double span = Math.max(1, last - first);
        sb.append("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
        for (Trainer.StepRecord r : records) {
            double x = PAD + (W - 2 * PAD) * (r.step() - first) / span;
            double y = H - PAD - (H - 2 * PAD) * (r.loss() - min) / (max - min);
            sb.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
        }
        sb.append("\"/>\n");
        for (double[] e : evals) {
            double x = PAD + (W - 2 * PAD) * (e[0] - first) / span;
            double y = H - PAD - (H - 2 * PAD) * (e[1] - min) / (max - min);
            sb.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>%n", x, y));
        }
        if (!evals.isEmpty()) {
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#d62728\">• eval loss</text>%n", W - PAD - 60, PAD - 8));
        }
        axisLabels(sb, String.format(Locale.ROOT, "%.3f", max), String.format(Locale.ROOT, "%.3f", min),
                "step " + first, "step " + last, "loss");
        return sb.append("</svg>\n").toString();
    }

    public static String memoryBars(MemoryLedger ledger, String title) {
        StringBuilder sb = header(title);
        long total = Math.max(1, ledger.peakTotal());
        String[] colors = {"#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd"};
        int rowH = (H - 2 * PAD) / Category.values().length;
        for (Category c : Category.values()) {
            int i = c.ordinal();
            double w = (W - 2 * PAD - 170) * (double) ledger.peak(c) / total;
            int y = PAD + i * rowH;
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>%n", PAD, y + rowH / 2 + 4, c.label()));
            sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>%n",
                    PAD + 120, y + 4, w, rowH - 8, colors[i]));
            sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">%s</text>%n",
                    PAD + 125 + w, y + rowH / 2 + 4, MemoryLedger.human(ledger.peak(c))));
        }
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\">peak total %s</text>%n",
                PAD, H - 15, MemoryLedger.human(ledger.peakTotal())));
        return sb.append("</svg>\n").toString();
    }

    private static StringBuilder header(String title) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-family=\"sans-serif\">%n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%n", W, H));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"25\" font-size=\"15\">%s</text>%n", PAD, escape(title)));
        return sb;
    }

    private static void axisLabels(StringBuilder sb, String top, String bottom, String left, String right, String yName) {
        sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n", PAD, PAD, PAD, H - PAD));
        sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n", PAD, H - PAD, W - PAD, H - PAD));
        sb.append(String.format(Locale.ROOT, "<text x=\"5\" y=\"%d\" font-size=\"11\">%s</text>%n", PAD + 4, top));
        sb.append(String.format(Locale.ROOT, "<text x=\"5\" y=\"%d\" font-size=\"11\">%s</text>%n", H - PAD, bottom));
        sb.append(String.format(Locale.ROOT, "<text x=\"5\" y=\"%d\" font-size=\"11\">%s</text>%n", H / 2, yName));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>%n", PAD, H - PAD + 18, left));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>%n",
                W - PAD, H - PAD + 18, right));
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
