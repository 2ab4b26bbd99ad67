package org.lomo4j.bench.compare;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Locale;

/** A small SVG of loss per step, one line per run. */
final class LossPlot {
    private static final String[] COLORS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};

    static String svg(List<String> labels, List<JsonNode> losses) {
        int w = 720, h = 360, left = 60, right = 260, top = 20, bottom = 40;
        double max = 0, min = Double.MAX_VALUE;
        int steps = 0;
        for (JsonNode l : losses) {
            steps = Math.max(steps, l.size());
            for (JsonNode v : l) {
                max = Math.max(max, v.asDouble());
                min = Math.min(min, v.asDouble());
            }
        }
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">%n", w, h));
        s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", w, h));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">loss %.3f</text><text x=\"%d\" y=\"%d\">%.3f</text>"
                + "<text x=\"%d\" y=\"%d\">step</text>%n", 5, top + 10, max, 5, h - bottom, min, (w - right) / 2, h - 10));
        for (int r = 0; r < losses.size(); r++) {
            StringBuilder pts = new StringBuilder();
            JsonNode l = losses.get(r);
            for (int i = 0; i < l.size(); i++) {
                double x = left + (w - left - right) * (steps <= 1 ? 0 : (double) i / (steps - 1));
                double y = top + (h - top - bottom) * (max == min ? 0.5 : (max - l.get(i).asDouble()) / (max - min));
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
            }
            String color = COLORS[r % COLORS.length];
            s.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"%s\"/>%n", color,
                    r % 2 == 0 ? "2" : "1", pts.toString().strip()));
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>%n", w - right + 10, top + 15 + 18 * r, color,
                    labels.get(r).replace("&", "&amp;").replace("<", "&lt;")));
        }
        return s.append("</svg>\n").toString();
    }
}
