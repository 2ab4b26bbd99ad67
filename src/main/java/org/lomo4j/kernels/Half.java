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
        int r = (int) (mix(key + (index + 1) * GOLDEN) >> 48);  // the top 16 bits, sign-extended
        if (r < 0) r = r + 65536;
        return r;
    }

    /** The key of one step's rounding: a hash of the run's seed and the step. */
    public static long key(long seed, long step) {
        return mix(seed + mix(step + 1) * GOLDEN);
    }

    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /**
     * SplitMix64's finalizer: every input bit flips each output bit with probability ½. TornadoVM's OpenCL backend
     * emits {@code >>>} as C's {@code >>}, which on a signed long copies the sign bit, and Graal turns a signed shift
     * masked to its low bits back into {@code >>>}; so each unsigned shift is a signed shift whose copied sign bits
     * are flipped off by xor, and the device draws the very bits the JVM does.
     */
    private static long mix(long z) {
        z = (z ^ unsignedShift(z, 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ unsignedShift(z, 27)) * 0x94D049BB133111EBL;
        return z ^ unsignedShift(z, 31);
    }

    /** {@code z >>> k} for 0 < k < 64, without {@code >>>}. */
    private static long unsignedShift(long z, int k) {
        return (z >> k) ^ ((z >> 63) << (64 - k));
    }

    // ---- bfloat16 for device kernels ----
    // TornadoVM's OpenCL backend cannot reinterpret bits (Float.intBitsToFloat, floatToRawIntBits), so a device
    // widens by table and rounds with exact multiplications by powers of two. It also mistranslates conditions
    // joined by || and &&, so these use plain ifs. HalfTest holds the rounding equal to the bit forms above for
    // many floats; TornadoBackendTest checks both on a device.

    /**
     * Every bf16 value widened, for device kernels: {@code values[h + 32768] = toFloat(h, BF16)} for each short h. A
     * device widens by looking a weight up here (exactly the JVM's widening, NaNs included) rather than computing it.
     */
    public static float[] bf16Values() {
        float[] values = new float[1 << 16];
        for (int h = Short.MIN_VALUE; h <= Short.MAX_VALUE; h++) values[h + 32768] = toFloat((short) h, BF16);
        return values;
    }

    /**
     * {@link #nearest} or {@link #stochastic} (by {@code rounding}, with random bits {@code r}) of {@code v} to bf16,
     * without reinterpreting bits: |v| is cut to bf16 (its bits {@code down}) and the 16 bits cut off ({@code cut})
     * decide, as in the bit forms, whether one is added (which carries into the exponent as it should). A NaN
     * becomes the quiet NaN 0x7FC0, whatever its sign.
     */
    public static short roundBf16(float v, int rounding, int r) {
        int bits = 0x7FC0;
        if (v == v) {
            float a = v;
            int sign = 0;
            if (v < 0f) {
                a = -v;
                sign = 32768;
            }
            if (v == 0f) {
                if (1f / v < 0f) sign = 32768;  // −0
            }
            int down = 0x7F80;  // ∞
            float cut = 0f;
            if (a <= Float.MAX_VALUE) {
                if (a < 0x1p-126f) {
                    float q = a * 0x1p64f * 0x1p69f;  // in units of bf16's subnormal step, 2^-133: exact
                    down = (int) q;
                    cut = (q - down) * 65536f;
                } else {
                    // a = s · 2^e with s in [1, 2): halving or doubling in strides of 64, 32, …, 1, by exact constants.
                    int e = 0;
                    float s = a;
                    if (s >= 0x1p64f) {
                        s *= 0x1p-64f;
                        e += 64;
                    }
                    if (s < 0x1p-63f) {
                        s *= 0x1p64f;
                        e -= 64;
                    }
                    if (s >= 0x1p32f) {
                        s *= 0x1p-32f;
                        e += 32;
                    }
                    if (s < 0x1p-31f) {
                        s *= 0x1p32f;
                        e -= 32;
                    }
                    if (s >= 0x1p16f) {
                        s *= 0x1p-16f;
                        e += 16;
                    }
                    if (s < 0x1p-15f) {
                        s *= 0x1p16f;
                        e -= 16;
                    }
                    if (s >= 0x1p8f) {
                        s *= 0x1p-8f;
                        e += 8;
                    }
                    if (s < 0x1p-7f) {
                        s *= 0x1p8f;
                        e -= 8;
                    }
                    if (s >= 0x1p4f) {
                        s *= 0x1p-4f;
                        e += 4;
                    }
                    if (s < 0x1p-3f) {
                        s *= 0x1p4f;
                        e -= 4;
                    }
                    if (s >= 0x1p2f) {
                        s *= 0x1p-2f;
                        e += 2;
                    }
                    if (s < 0x1p-1f) {
                        s *= 0x1p2f;
                        e -= 2;
                    }
                    if (s >= 2f) {
                        s *= 0.5f;
                        e += 1;
                    }
                    if (s < 1f) {
                        s *= 2f;
                        e -= 1;
                    }
                    float q = s * 128f;  // in [128, 256): the 8 significant bits, then the 16 cut off
                    int m = (int) q;
                    down = (e + 127) * 128 + (m - 128);
                    cut = (q - m) * 65536f;
                }
            }
            int up = 0;
            if (rounding == STOCHASTIC) {
                if (cut + r >= 65536f) up = 1;
            } else {
                if (cut > 32768f) up = 1;
                if (cut == 32768f) up = down - (down / 2) * 2;  // a tie: to even
            }
            bits = down + up + sign;
        }
        return (short) bits;
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
