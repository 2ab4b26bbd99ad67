package org.lomo4j.train;

import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.StackedBarRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.svg.SVGGraphics2D;
import org.lomo4j.memory.Category;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Rectangle;
import java.awt.geom.Ellipse2D;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * The run's pictures, drawn with JFreeChart: the training loss with evaluation points and the learning rate,
 * and peak memory by category for one run or several side by side (the LOMO paper's Table 1 as a picture).
 * Each chart goes out as SVG (JFreeSVG) or PNG.
 */
public final class Charts {
    private Charts() {}

    public static final int WIDTH = 800, HEIGHT = 450;
    private static final Color[] CATEGORY_COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0xff7f0e), new Color(0x2ca02c),
            new Color(0x9467bd)};

    static {
        System.setProperty("java.awt.headless", "true");  // charts are files; no display is needed or wanted
    }

    /** Training loss per step (blue), evaluation losses ({step, loss}; red points) and the learning rate (grey, right axis). */
    public static JFreeChart loss(List<Trainer.StepRecord> steps, List<double[]> evals, String title) {
        XYSeries train = new XYSeries("training loss"), eval = new XYSeries("eval loss"), lr = new XYSeries("learning rate");
        for (Trainer.StepRecord r : steps) {
            train.add(r.step() + 1, r.loss());
            lr.add(r.step() + 1, r.lr());
        }
        for (double[] e : evals) eval.add(e[0], e[1]);
        XYSeriesCollection losses = new XYSeriesCollection();
        losses.addSeries(train);
        losses.addSeries(eval);
        NumberAxis x = new NumberAxis("step");
        x.setAutoRangeIncludesZero(false);
        NumberAxis y = new NumberAxis("loss");
        y.setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer lossRenderer = new XYLineAndShapeRenderer();
        lossRenderer.setSeriesPaint(0, new Color(0x1f77b4));
        lossRenderer.setSeriesShapesVisible(0, false);
        lossRenderer.setSeriesStroke(0, new BasicStroke(1.2f));
        lossRenderer.setSeriesPaint(1, new Color(0xd62728));
        lossRenderer.setSeriesLinesVisible(1, false);
        lossRenderer.setSeriesShape(1, new Ellipse2D.Double(-4, -4, 8, 8));
        XYPlot plot = new XYPlot(losses, x, y, lossRenderer);
        NumberAxis lrAxis = new NumberAxis("learning rate");
        lrAxis.setAutoRangeIncludesZero(true);
        plot.setRangeAxis(1, lrAxis);
        plot.setDataset(1, new XYSeriesCollection(lr));
        plot.mapDatasetToRangeAxis(1, 1);
        XYLineAndShapeRenderer lrRenderer = new XYLineAndShapeRenderer(true, false);
        lrRenderer.setSeriesPaint(0, Color.GRAY);
        lrRenderer.setSeriesStroke(0, new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {4f, 4f}, 0f));
        plot.setRenderer(1, lrRenderer);
        return styled(new JFreeChart(title, new Font("SansSerif", Font.BOLD, 15), plot, true));
    }

    /** Peak bytes accounted by category, one stacked bar per run (name → bytes by category), in MiB. */
    public static JFreeChart memory(Map<String, Map<Category, Long>> runs, String title) {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        for (Category c : Category.values()) {
            for (Map.Entry<String, Map<Category, Long>> run : runs.entrySet()) {
                data.addValue(run.getValue().getOrDefault(c, 0L) / (1024.0 * 1024.0), c.label(), run.getKey());
            }
        }
        org.jfree.chart.axis.CategoryAxis x = new org.jfree.chart.axis.CategoryAxis(null);
        NumberAxis y = new NumberAxis("peak MiB accounted");
        StackedBarRenderer bars = new StackedBarRenderer();
        bars.setShadowVisible(false);
        bars.setBarPainter(new org.jfree.chart.renderer.category.StandardBarPainter());
        for (Category c : Category.values()) bars.setSeriesPaint(c.ordinal(), CATEGORY_COLORS[c.ordinal()]);
        bars.setDefaultItemLabelGenerator(new org.jfree.chart.labels.StandardCategoryItemLabelGenerator("{2}", new java.text.DecimalFormat("0.0")) {
            @Override
            public String generateLabel(org.jfree.data.category.CategoryDataset d, int row, int column) {
                Number v = d.getValue(row, column);  // no label on a segment too thin to hold one
                return v == null || v.doubleValue() < 0.03 * maxTotal(d) ? null : super.generateLabel(d, row, column);
            }
        });
        bars.setDefaultItemLabelsVisible(true);
        bars.setMaximumBarWidth(0.18);
        CategoryPlot plot = new CategoryPlot(data, x, y, bars);
        plot.setOrientation(PlotOrientation.VERTICAL);
        return styled(new JFreeChart(title, new Font("SansSerif", Font.BOLD, 15), plot, true));
    }

    /**
     * Bytes alive by category through one training step, one stacked area per run (name → its timeline's points),
     * side by side on a shared scale: where LOMO's gradients stay a tile high and SGD's grow layer by layer.
     */
    public static JFreeChart timeline(Map<String, List<org.lomo4j.memory.MemoryTimeline.Point>> runs, String title) {
        NumberAxis y = new NumberAxis("MiB alive");
        org.jfree.chart.plot.CombinedRangeXYPlot combined = new org.jfree.chart.plot.CombinedRangeXYPlot(y);
        for (var run : runs.entrySet()) {
            List<org.lomo4j.memory.MemoryTimeline.Point> points = run.getValue();
            org.jfree.data.xy.DefaultTableXYDataset data = new org.jfree.data.xy.DefaultTableXYDataset();
            for (Category c : Category.values()) {
                XYSeries s = new XYSeries(c.label(), true, false);
                for (int i = 0; i < points.size(); i++) s.add(i, points.get(i).bytes().getOrDefault(c, 0L) / (1024.0 * 1024.0));
                data.addSeries(s);
            }
            String[] labels = points.stream().map(org.lomo4j.memory.MemoryTimeline.Point::label).toArray(String[]::new);
            org.jfree.chart.axis.SymbolAxis x = new org.jfree.chart.axis.SymbolAxis(run.getKey(), labels);
            x.setVerticalTickLabels(true);
            x.setTickLabelFont(new Font("SansSerif", Font.PLAIN, 9));
            x.setGridBandsVisible(false);
            org.jfree.chart.renderer.xy.StackedXYAreaRenderer2 areas = new org.jfree.chart.renderer.xy.StackedXYAreaRenderer2();
            for (Category c : Category.values()) areas.setSeriesPaint(c.ordinal(), CATEGORY_COLORS[c.ordinal()]);
            areas.setDefaultSeriesVisibleInLegend(combined.getSubplots().isEmpty());  // one legend for all
            XYPlot plot = new XYPlot(data, x, null, areas);
            plot.setBackgroundPaint(Color.WHITE);
            plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
            combined.add(plot, 1);
        }
        JFreeChart chart = new JFreeChart(title, new Font("SansSerif", Font.BOLD, 15), combined, true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    private static double maxTotal(org.jfree.data.category.CategoryDataset d) {
        double max = 0;
        for (int c = 0; c < d.getColumnCount(); c++) {
            double total = 0;
            for (int r = 0; r < d.getRowCount(); r++) {
                Number v = d.getValue(r, c);
                if (v != null) total += v.doubleValue();
            }
            max = Math.max(max, total);
        }
        return max;
    }

    private static JFreeChart styled(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.getPlot().setBackgroundPaint(Color.WHITE);
        if (chart.getPlot() instanceof XYPlot p) {
            p.setDomainGridlinePaint(Color.LIGHT_GRAY);
            p.setRangeGridlinePaint(Color.LIGHT_GRAY);
        } else if (chart.getPlot() instanceof CategoryPlot p) {
            p.setRangeGridlinePaint(Color.LIGHT_GRAY);
        }
        chart.getTitle().setMargin(8, 0, 4, 0);
        return chart;
    }

    /** The chart as an SVG document. */
    public static String svg(JFreeChart chart) {
        return svg(chart, WIDTH, HEIGHT);
    }

    public static String svg(JFreeChart chart, int width, int height) {
        SVGGraphics2D g = new SVGGraphics2D(width, height);
        chart.draw(g, new Rectangle(0, 0, width, height));
        return g.getSVGDocument();
    }

    /** The chart as a PNG image. */
    public static byte[] png(JFreeChart chart) throws IOException {
        return png(chart, WIDTH, HEIGHT);
    }

    public static byte[] png(JFreeChart chart, int width, int height) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ChartUtils.writeChartAsPNG(out, chart, width, height);
        return out.toByteArray();
    }

    /** A subtitle line under the title. */
    public static void subtitle(JFreeChart chart, String text) {
        chart.addSubtitle(new TextTitle(text, new Font("SansSerif", Font.PLAIN, 11)));
    }
}
