package org.lomo4j.memory;

import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;

/**
 * The one allocator for large buffers. It counts the bytes of every buffer by {@link Category} and keeps
 * the peak of each category and of the total, so a run can print its own memory breakdown. The counts
 * are bytes accounted (array payloads), not the JVM's heap usage.
 *
 * <p>A {@link #planning} ledger counts the same bytes without allocating them (every buffer it hands out is
 * empty): running a run's own constructors against it gives the run's memory before any of it is spent.
 */
public final class MemoryLedger {
    private static final float[] NO_FLOATS = new float[0];
    private static final double[] NO_DOUBLES = new double[0];
    private static final short[] NO_SHORTS = new short[0];

    private final Map<Category, Long> current = new EnumMap<>(Category.class);
    private final Map<Category, Long> peak = new EnumMap<>(Category.class);
    private final boolean planning;
    private long currentTotal;
    private long peakTotal;
    private volatile MemoryTimeline timeline;  // recording one step's live bytes, or null

    public MemoryLedger() {
        this(false);
    }

    private MemoryLedger(boolean planning) {
        this.planning = planning;
        for (Category c : Category.values()) {
            current.put(c, 0L);
            peak.put(c, 0L);
        }
    }

    /** A ledger that counts without allocating: its buffers are empty, its bytes and peaks are a plan's. */
    public static MemoryLedger planning() {
        return new MemoryLedger(true);
    }

    /** Starts recording live bytes ({@link MemoryTimeline}); {@link #stopTimeline} ends it and returns what it saw. */
    public MemoryTimeline startTimeline() {
        timeline = new MemoryTimeline(this);
        timeline.mark("start");
        return timeline;
    }

    public MemoryTimeline stopTimeline() {
        MemoryTimeline t = timeline;
        timeline = null;
        return t;
    }

    /** While a timeline records: {@code delta} bytes of {@code category} become alive (negative: are done with). */
    public void live(Category category, long delta) {
        MemoryTimeline t = timeline;
        if (t != null) t.add(category, delta);
    }

    /** While a timeline records: a point, labelled with where the step is. */
    public void mark(String label) {
        MemoryTimeline t = timeline;
        if (t != null) t.mark(label);
    }

    /** Whether this ledger only plans (its buffers are empty). */
    public boolean isPlanning() {
        return planning;
    }

    public synchronized float[] floats(Category category, long count) {
        float[] a = planning ? NO_FLOATS : new float[checkedLength(count)];
        record(category, 4L * count);
        return a;
    }

    public synchronized double[] doubles(Category category, long count) {
        double[] a = planning ? NO_DOUBLES : new double[checkedLength(count)];
        record(category, 8L * count);
        return a;
    }

    /** Counts {@code bytes} of {@code category} held outside this JVM's arrays: a device's buffers. */
    public synchronized void count(Category category, long bytes) {
        record(category, bytes);
    }

    /** 16-bit values: half-precision weights. */
    public synchronized short[] shorts(Category category, long count) {
        short[] a = planning ? NO_SHORTS : new short[checkedLength(count)];
        record(category, 2L * count);
        return a;
    }

    public synchronized void release(Category category, float[] buffer) {
        if (!planning) record(category, -4L * buffer.length);
    }

    public synchronized void release(Category category, double[] buffer) {
        if (!planning) record(category, -8L * buffer.length);
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
        if (count < 0 || count > MAX_ARRAY) {
            throw new IllegalArgumentException("buffer of " + count + " elements exceeds a Java array's limit");
        }
        return (int) count;
    }

    /** The longest Java array lomo4j allocates. */
    public static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

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
        return titledTable("Memory (peak bytes accounted), optimizer " + optimizerName);
    }

    /** Peak bytes per category and the peak total, under {@code title}. */
    public synchronized String titledTable(String title) {
        StringBuilder sb = new StringBuilder();
        sb.append(title).append(System.lineSeparator());
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
