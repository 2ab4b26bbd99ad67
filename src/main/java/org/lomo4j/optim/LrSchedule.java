package org.lomo4j.optim;

import java.util.Locale;

/**
 * Learning rate per step (0-based): linear warmup over {@code warmup} steps to {@code peak}, then
 * constant, or a linear or cosine decay to 0 at {@code totalSteps}.
 */
public record LrSchedule(Kind kind, double peak, int warmup, int totalSteps) {

    public enum Kind {
        CONSTANT, LINEAR, COSINE;

        public static Kind parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--schedule must be constant, linear or cosine, got '" + s + "'");
            }
        }
    }

    public LrSchedule {
        if (!(peak > 0) || !Double.isFinite(peak)) throw new IllegalArgumentException("--lr must be positive, got " + peak);
        if (warmup < 0) throw new IllegalArgumentException("--warmup must not be negative, got " + warmup);
        if (kind != Kind.CONSTANT && totalSteps <= warmup) {
            throw new IllegalArgumentException("a " + kind.name().toLowerCase(Locale.ROOT)
                    + " schedule needs more steps (" + totalSteps + ") than warmup steps (" + warmup + ")");
        }
    }

    public static LrSchedule constant(double lr) {
        return new LrSchedule(Kind.CONSTANT, lr, 0, 0);
    }

    public double at(int step) {
        if (step < warmup) return peak * (step + 1) / warmup;
        if (kind == Kind.CONSTANT) return peak;
        double progress = Math.min(1.0, (double) (step - warmup) / (totalSteps - warmup));
        return kind == Kind.LINEAR ? peak * (1.0 - progress) : peak * 0.5 * (1.0 + Math.cos(Math.PI * progress));
    }
}
