package org.lomo4j.kernels;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** 16-bit weights: exact widening, torch's round-to-nearest, and unbiased, reproducible stochastic rounding. */
class HalfTest {

    @Test
    void nearestIsTorchsRoundToNearestEven() {
        assertEquals((short) 0x3F80, Half.nearest(1f, Half.BF16));
        assertEquals((short) 0x3F80, Half.nearest(Float.intBitsToFloat(0x3F808000), Half.BF16));  // halfway: to even
        assertEquals((short) 0x3F82, Half.nearest(Float.intBitsToFloat(0x3F818000), Half.BF16));  // halfway: to even (up)
        assertEquals((short) 0x3F81, Half.nearest(Float.intBitsToFloat(0x3F808001), Half.BF16));  // past halfway: up
        assertEquals(Float.POSITIVE_INFINITY, Half.toFloat(Half.nearest(Float.MAX_VALUE, Half.BF16), Half.BF16));
        assertTrue(Float.isNaN(Half.toFloat(Half.nearest(Float.NaN, Half.BF16), Half.BF16)));
        assertEquals(Float.floatToFloat16(0.1f), Half.nearest(0.1f, Half.F16));
        assertEquals(Float.POSITIVE_INFINITY, Half.toFloat(Half.nearest(70000f, Half.F16), Half.F16), "past 65504: overflow");
    }

    @ParameterizedTest
    @ValueSource(ints = {Half.BF16, Half.F16})
    void widenThenNarrowIsTheIdentity(int format) {
        for (int bits = 0; bits < 1 << 16; bits++) {
            float v = Half.toFloat((short) bits, format);
            if (Float.isNaN(v)) continue;
            assertEquals((short) bits, Half.nearest(v, format), "bits " + Integer.toHexString(bits));
            assertEquals((short) bits, Half.stochastic(v, format, 65535), "a representable value is never moved");
        }
    }

    /**
     * Every draw lands on one of the two neighbours, and over many draws the mean is the value itself: the
     * update that round-to-nearest would lose survives on average. Values include float16 subnormals.
     */
    @ParameterizedTest
    @ValueSource(ints = {Half.BF16, Half.F16})
    void stochasticRoundingIsUnbiased(int format) {
        SplittableRandom rng = new SplittableRandom(7);
        float[] values = {1.0f + 1e-3f, -0.02f - 3e-6f, 0.3333333f, 1e-6f, -5.96e-8f * 1.7f, 123.456f};
        for (float v : values) {
            // The two 16-bit magnitudes around |v|, found from the nearest one's bits.
            short near = Half.nearest(v, format);
            int sign = near & 0x8000, mag = near & 0x7FFF;
            int below = Math.abs(Half.toFloat(near, format)) > Math.abs(v) ? mag - 1 : mag;
            float a = Half.toFloat((short) (sign | below), format), b = Half.toFloat((short) (sign | (below + 1)), format);
            float lo = Math.min(a, b), hi = Math.max(a, b);
            int draws = 200_000;
            double sum = 0;
            for (int i = 0; i < draws; i++) {
                float r = Half.toFloat(Half.stochastic(v, format, rng.nextInt(1 << 16)), format);
                assertTrue(r == lo || r == hi, v + " rounded to " + r + ", not a neighbour in [" + lo + ", " + hi + "]");
                sum += r;
            }
            double mean = sum / draws, gap = hi - lo;
            // p(up) has 16-bit resolution and the standard error of the mean is gap · 0.5 / sqrt(draws).
            assertEquals(v, mean, gap * (5.0 / Math.sqrt(draws) + 1.0 / 65536), "mean of the rounded values of " + v);
        }
    }

    @Test
    void randomBitsAreReproducibleAndUniform() {
        long key = Half.key(1234, 17);
        assertEquals(Half.random16(key, 99), Half.random16(Half.key(1234, 17), 99), "same seed, step and position: same bits");
        assertTrue(Half.key(1234, 17) != Half.key(1234, 18) && Half.key(1234, 17) != Half.key(1235, 17));
        int[] buckets = new int[16];
        int n = 160_000;
        for (int i = 0; i < n; i++) buckets[Half.random16(key, i) >>> 12]++;
        for (int b : buckets) assertEquals(n / 16.0, b, 5 * Math.sqrt(n / 16.0), "uniform over the 16 top-bit buckets");
    }

    @Test
    void decodeAndEncodeConvertRows() {
        float[] src = {0.5f, -1.25f, 3.0e-3f, 65504f};
        short[] h = new short[6];
        Half.encode(h, 1, src, 0, 4, Half.F16);
        float[] back = new float[5];
        Half.decode(back, 1, h, 1, 4, Half.F16);
        for (int i = 0; i < 4; i++) assertEquals(Float.float16ToFloat(Float.floatToFloat16(src[i])), back[i + 1], 0f);
        assertEquals(0f, back[0], 0f, "outside the row: untouched");
    }
    // ---- the arithmetic bf16 forms device kernels use ----

    /** The device's widening table is indexed by the bits as a short, plus 32768. */
    @Test
    void theWideningTableIsIndexedByTheShortPlus32768() {
        float[] values = Half.bf16Values();
        assertEquals(1f, values[0x3F80 + 32768], 0f);
        assertEquals(-1f, values[(short) 0xBF80 + 32768], 0f);
        assertEquals(Float.NEGATIVE_INFINITY, values[(short) 0xFF80 + 32768], 0f);
        assertTrue(Float.isNaN(values[0x7FC0 + 32768]));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(values[0]), "0x8000 is -0");
    }

    /**
     * Nearest and stochastic rounding by arithmetic give the bit forms' bits: for random floats of every exponent,
     * fp32 subnormals, ±0, halfway cases, the largest floats (which round up to infinity) and infinities.
     */
    @Test
    void arithmeticRoundingIsTheBitForm() {
        SplittableRandom rng = new SplittableRandom(11);
        java.util.List<Float> values = new java.util.ArrayList<>(java.util.List.of(0f, -0f, Float.MIN_VALUE, -Float.MIN_NORMAL,
                Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0x1p-126f * 0.99f,
                Float.intBitsToFloat(0x3F808000), Float.intBitsToFloat(0x3F818000), Float.intBitsToFloat(0x007F8000),
                Float.intBitsToFloat(0x7F7F8000), 1f, -3.5f));
        for (int i = 0; i < 200_000; i++) {
            int bits = rng.nextInt();
            if ((bits & 0x7F800000) != 0x7F800000) values.add(Float.intBitsToFloat(bits));  // every finite float pattern
        }
        for (float v : values) {
            assertEquals(Half.nearest(v, Half.BF16), Half.roundBf16(v, Half.NEAREST, 0), "nearest " + v);
            for (int r : new int[] {0, 1, 32767, 32768, 65535, rng.nextInt(1 << 16)}) {
                assertEquals(Half.stochastic(v, Half.BF16, r), Half.roundBf16(v, Half.STOCHASTIC, r), "stochastic " + v + ", r " + r);
            }
        }
        assertEquals((short) 0x7FC0, Half.roundBf16(Float.NaN, Half.STOCHASTIC, 5));
    }

    /** The kernel-safe random bits (signed shifts and masks) are SplitMix64's, with its unsigned shifts. */
    @Test
    void randomBitsAreSplitMix64s() {
        SplittableRandom rng = new SplittableRandom(3);
        for (int i = 0; i < 100_000; i++) {
            long key = rng.nextLong(), index = rng.nextLong(1L << 40);
            long z = key + (index + 1) * 0x9E3779B97F4A7C15L;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            z = z ^ (z >>> 31);
            assertEquals((int) (z >>> 48), Half.random16(key, index));
        }
    }
}
