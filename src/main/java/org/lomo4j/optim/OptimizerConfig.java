package org.lomo4j.optim;

import org.lomo4j.kernels.Half;

import java.util.Locale;

/**
 * What to optimize with. {@code clipNorm} ≤ 0 and {@code clipValue} ≤ 0 turn the clippings off.
 * Betas and eps are used by AdamW only. {@code rounding} is how an update is narrowed to a 16-bit weight,
 * and {@code seed} (the run's) keys stochastic rounding's random bits; fp32 weights use neither.
 */
public record OptimizerConfig(Kind kind, LrSchedule schedule, double weightDecay, double clipNorm, double clipValue,
                              double beta1, double beta2, double eps, Rounding rounding, long seed) {

    public enum Kind {
        LOMO, ADALOMO, SGD, ADAMW;

        public static Kind parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--optimizer must be lomo, adalomo, sgd or adamw, got '" + s + "'");
            }
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }

        /**
         * The peak learning rate a run gets without {@code --lr}. SGD-like steps (lomo, sgd) take lr · g; AdaLomo's
         * step is relative, lr · RMS(W) per weight; AdamW's is lr per weight.
         */
        public double defaultLr() {
            return switch (this) {
                case LOMO, SGD -> 0.3;
                case ADALOMO -> 0.03;
                case ADAMW -> 0.003;
            };
        }

        /** Global-norm clipping without {@code --clip-norm}: 1.0, and off for AdaLomo, whose update is normalized already. */
        public double defaultClipNorm() {
            return this == ADALOMO ? 0 : 1.0;
        }
    }

    /** How an updated 16-bit weight is rounded ({@code --rounding}). */
    public enum Rounding {
        STOCHASTIC(Half.STOCHASTIC), NEAREST(Half.NEAREST);

        /** The {@link Half} code the update kernels take. */
        public final int code;

        Rounding(int code) {
            this.code = code;
        }

        public static Rounding parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--rounding must be stochastic or nearest, got '" + s + "'");
            }
        }

        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public OptimizerConfig {
        if (weightDecay < 0) throw new IllegalArgumentException("--weight-decay must not be negative");
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("betas must be in [0, 1)");
    }

    public static OptimizerConfig of(Kind kind, LrSchedule schedule) {
        return new OptimizerConfig(kind, schedule, 0, 0, 0, 0.9, 0.999, 1e-8, Rounding.STOCHASTIC, 0);
    }

    public OptimizerConfig withWeightDecay(double wd) {
        return new OptimizerConfig(kind, schedule, wd, clipNorm, clipValue, beta1, beta2, eps, rounding, seed);
    }

    public OptimizerConfig withClipNorm(double maxNorm) {
        return new OptimizerConfig(kind, schedule, weightDecay, maxNorm, clipValue, beta1, beta2, eps, rounding, seed);
    }

    public OptimizerConfig withClipValue(double bound) {
        return new OptimizerConfig(kind, schedule, weightDecay, clipNorm, bound, beta1, beta2, eps, rounding, seed);
    }

    public OptimizerConfig withKind(Kind k) {
        return new OptimizerConfig(k, schedule, weightDecay, clipNorm, clipValue, beta1, beta2, eps, rounding, seed);
    }

    public OptimizerConfig withRounding(Rounding r) {
        return new OptimizerConfig(kind, schedule, weightDecay, clipNorm, clipValue, beta1, beta2, eps, r, seed);
    }

    public OptimizerConfig withSeed(long s) {
        return new OptimizerConfig(kind, schedule, weightDecay, clipNorm, clipValue, beta1, beta2, eps, rounding, s);
    }
}
