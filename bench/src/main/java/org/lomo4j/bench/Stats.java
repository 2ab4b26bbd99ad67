package org.lomo4j.bench;

import org.apache.commons.math3.distribution.TDistribution;
import org.apache.commons.math3.stat.descriptive.DescriptiveStatistics;

import java.util.Locale;

/** Repeated timings summarized: the median, and a 95% confidence interval of the mean (Student's t). */
public record Stats(int n, double median, double mean, double low, double high) {

    public static Stats of(double[] samples) {
        DescriptiveStatistics d = new DescriptiveStatistics(samples);
        double mean = d.getMean();
        double half = 0;
        if (samples.length > 1) {
            double t = new TDistribution(samples.length - 1).inverseCumulativeProbability(0.975);
            half = t * d.getStandardDeviation() / Math.sqrt(samples.length);
        }
        return new Stats(samples.length, d.getPercentile(50), mean, mean - half, mean + half);
    }

    /** "412 (95% CI of the mean 405–419, n = 10)". */
    public String describe() {
        return String.format(Locale.ROOT, "%.0f (95%% CI of the mean %.0f–%.0f, n = %d)", median, low, high, n);
    }
}
