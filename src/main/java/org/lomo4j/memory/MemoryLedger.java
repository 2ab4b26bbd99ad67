package org.lomo4j.memory;

import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;

/**
 * The one allocator for large buffers. It counts the bytes of every buffer by {@link Category} and keeps
 * the peak of each category and of the total, so a run can print its own memory breakdown. The counts
 * are bytes accounted (array payloads), not the JVM's heap usage.
 */
public final class MemoryLedger {
    private final Map<Category, Long> current = new EnumMap<>(Category.class);
    private final Map<Category, Long> peak = new EnumMap<>(Category.class);
    private long currentTotal;
    private long peakTotal;

    public MemoryLedger() {
        for (Category c : Category.values()) {
            current.put(c, 0L);
            peak.put(c, 0L);
        }
    }

    public synchronized float[] floats(Category category, long count) {
        float[] a = new float[checkedLength(count)];
        record(category, 4L * count);
        return a;
    }

    public synchronized double[] doubles(Category category, long count) {
        double[] a = new double[checkedLength(count)];
        record(category, 8L * count);
        return a;
    }

    public synchronized void release(Category category, float[] buffer) {
        record(category, -4L * buffer.length);
    }

    public synchronized void release(Category category, double[] buffer) {
        record(category, -8L * buffer.length);
    }

    /** Returns bytes of buffers released together (a set of activations). */
    public synchronized void releaseBytes(Category category, long bytes) {
        record(category, -bytes);
    }

    private void record(Category category, long bytes) {
        long now = current.get(category) + bytes;
        current.put(category, now);
        peak.put(category, Math.max(peak.get(category), now));
        currentTotal += bytes;
        peakTotal = Math.max(peakTotal, currentTotal);
    }

    private static int checkedLength(long count) {
        if (count < 0 || count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("buffer of " + count + " elements exceeds a Java array's limit");
        }
        return (int) count;
    }

    public synchronized long current(Category category) {
        return current.get(category);
    }

    public synchronized long peak(Category category) {
        return peak.get(category);
    }

    public synchronized long currentTotal() {
        return currentTotal;
    }

    public synchronized long peakTotal() {
        return peakTotal;
    }

    /** The paper's Table 1 for this run: peak bytes per category and the peak total. */
    public synchronized String table(String optimizerName) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "Memory (peak bytes accounted), optimizer %s%n", optimizerName));
        for (Category c : Category.values()) {
            long bytes = peak.get(c);
            sb.append(String.format(Locale.ROOT, "  %-17s %12s  %5.1f%%%n", c.label(), human(bytes),
                    peakTotal == 0 ? 0.0 : 100.0 * bytes / peakTotal));
        }
        sb.append(String.format(Locale.ROOT, "  %-17s %12s%n", "Total (peak)", human(peakTotal)));
        return sb.toString();
    }

    public static String human(long bytes) {
        if (bytes < 1024) return bytes + " B";
        if (bytes < 1024L * 1024) return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        if (bytes < 1024L * 1024 * 1024) return String.format(Locale.ROOT, "%.2f MiB", bytes / (1024.0 * 1024));
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    }
}
