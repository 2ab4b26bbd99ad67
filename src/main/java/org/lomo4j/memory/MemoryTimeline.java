package org.lomo4j.memory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Bytes alive by category as one training step goes, for the picture of what fusing the update into backward
 * saves. The ledger counts allocations, which lomo4j makes once, up front; this counts what holds data still
 * needed: the activations of blocks whose backward has not run yet, and the gradient values written and not
 * yet applied (SGD: each weight's from its backward until the update; LOMO: a tile per worker, for the moment
 * of its update). Parameters, optimizer state and scratch are alive throughout. Each {@link #mark} records the
 * highest bytes of every category since the one before, so a short-lived tile still shows.
 */
public final class MemoryTimeline {
    /** The peak bytes of each category between the previous mark and this one, labelled by where the step was. */
    public record Point(String label, Map<Category, Long> bytes) {}

    private final EnumMap<Category, Long> live = new EnumMap<>(Category.class);
    private final EnumMap<Category, Long> peak = new EnumMap<>(Category.class);
    private final List<Point> points = new ArrayList<>();

    /** A timeline starting from what {@code ledger} holds now of parameters, optimizer state and scratch. */
    public MemoryTimeline(MemoryLedger ledger) {
        for (Category c : Category.values()) {
            boolean always = c == Category.PARAMETERS || c == Category.OPTIMIZER_STATE || c == Category.SCRATCH;
            live.put(c, always ? ledger.current(c) : 0L);
            peak.put(c, live.get(c));
        }
    }

    /** {@code delta} bytes of {@code category} become alive (or, negative, are done with). */
    public synchronized void add(Category category, long delta) {
        long now = live.get(category) + delta;
        live.put(category, now);
        if (now > peak.get(category)) peak.put(category, now);
    }

    public synchronized void mark(String label) {
        points.add(new Point(label, Collections.unmodifiableMap(new EnumMap<>(peak))));
        peak.putAll(live);
    }

    public synchronized List<Point> points() {
        return List.copyOf(points);
    }
}
