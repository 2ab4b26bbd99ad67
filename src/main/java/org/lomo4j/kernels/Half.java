package org.lomo4j.kernels;

/**
 * 16-bit weights: bfloat16 (fp32's exponent, 8 significand bits) and IEEE float16 (5 exponent bits, 11
 * significand bits, largest finite value 65504), stored as {@code short} bits and computed in fp32.
 *
 * <p>Widening is exact. Narrowing rounds either to nearest (ties to even, as torch does) or stochastically:
 * up with probability equal to the distance from the value below, in units of the gap between the two, so
 * that the rounding is unbiased on average. Stochastic rounding is what lets a tiny update survive: with
 * nearest, an update smaller than half a unit in the last place of the weight is lost every time.
 *
 * <p>The random bits come from {@link #random16}, a hash of a key (the seed and step) and the element's
 * position, so a run's rounding does not depend on threads or timing, and a resumed run rounds exactly as
 * the straight run did.
 */
public final class Half {
    private Half() {}

    /** The 16-bit formats, as the kernels take them. */
    public static final int BF16 = 0;
    public static final int F16 = 1;

    /** How an update's result is narrowed to the stored weight. */
    public static final int NEAREST = 0;
    public static final int STOCHASTIC = 1;

    /** Largest finite float16. */
    public static final float F16_MAX = 65504f;

    public static float toFloat(short h, int format) {
        return format == BF16 ? Float.intBitsToFloat((h & 0xFFFF) << 16) : Float.float16ToFloat(h);
    }

    /** Round to nearest, ties to even; NaN stays a (quiet) NaN, and a float16 overflow becomes ±∞. */
    public static short nearest(float v, int format) {
        if (format == F16) return Float.floatToFloat16(v);
        int bits = Float.floatToRawIntBits(v);
        if (v != v) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /**
     * Stochastic rounding with 16 random bits {@code r} (uniform in [0, 65536)): rounds |v| up with probability
     * (|v| − down) / (up − down), where down ≤ |v| < up are the neighbouring 16-bit values.
     */
    public static short stochastic(float v, int format, int r) {
        if (format == BF16) {
            int bits = Float.floatToRawIntBits(v);
            if (v != v || v == Float.POSITIVE_INFINITY || v == Float.NEGATIVE_INFINITY) return nearest(v, BF16);
            // bf16 is fp32's top half: adding r below the cut carries into it with the right probability.
            return (short) ((bits + r) >>> 16);
        }
        short h = Float.floatToFloat16(v);
        float f = Float.float16ToFloat(h);
        if (f == v || f != f || Math.abs(f) > F16_MAX) return h;
        int sign = h & 0x8000;
        int mag = h & 0x7FFF;
        int down = Math.abs(f) > Math.abs(v) ? mag - 1 : mag;  // the magnitude just below |v|
        float lo = Float.float16ToFloat((short) down);
        float hi = Float.float16ToFloat((short) (down + 1));
        float p = (Math.abs(v) - lo) / (hi - lo);
        return (short) (sign | (r < p * 65536f ? down + 1 : down));
    }

    /** Narrows {@code v} as {@code rounding} says, with element {@code index}'s random bits under {@code key}. */
    public static short round(float v, int format, int rounding, long key, long index) {
        return rounding == STOCHASTIC ? stochastic(v, format, random16(key, index)) : nearest(v, format);
    }

    /** 16 uniform random bits for element {@code index} under {@code key}. */
    public static int random16(long key, long index) {
        return (int) (mix(key + (index + 1) * GOLDEN) >>> 48);
    }

    /** The key of one step's rounding: a hash of the run's seed and the step. */
    public static long key(long seed, long step) {
        return mix(seed + mix(step + 1) * GOLDEN);
    }

    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /** SplitMix64's finalizer: every input bit flips each output bit with probability ½. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** {@code dst[dOff ..] = src[sOff ..]} widened, {@code len} values. */
    public static void decode(float[] dst, int dOff, short[] src, int sOff, int len, int format) {
        if (format == BF16) {
            for (int i = 0; i < len; i++) dst[dOff + i] = Float.intBitsToFloat((src[sOff + i] & 0xFFFF) << 16);
        } else {
            for (int i = 0; i < len; i++) dst[dOff + i] = Float.float16ToFloat(src[sOff + i]);
        }
    }

    /** {@code dst[dOff ..] = src[sOff ..]} rounded to nearest, {@code len} values. */
    public static void encode(short[] dst, int dOff, float[] src, int sOff, int len, int format) {
        for (int i = 0; i < len; i++) dst[dOff + i] = nearest(src[sOff + i], format);
    }
}
