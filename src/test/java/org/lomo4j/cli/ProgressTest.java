package org.lomo4j.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The progress line fits an 80-column terminal, whatever the numbers. */
class ProgressTest {
    @Test
    void theLineFitsEightyColumns() {
        assertEquals("step 600/600 loss 0.0225 avg 0.0240 lr 2.20e-06 14.4k tok/s eta 0m00s 31.86 MiB",
                Progress.line(600, 600, 0.0225, 0.0240, 2.2e-6, 14427, 0.2, 33_410_432, Progress.WIDTH));
        String huge = Progress.line(1_000_000, 1_000_000, 123.4567, 99.1234, 1.5e-4, 12_345_678, 359_999, 130L << 30, Progress.WIDTH);
        assertTrue(huge.length() <= Progress.WIDTH, huge.length() + ": " + huge);
        assertTrue(huge.startsWith("step 1000000/1000000 loss 123.4567"), huge);
        for (int width : new int[] {Progress.WIDTH, Progress.WIDTH - 12}) {
            for (int total : new int[] {1, 600, 99_999, 2_000_000_000}) {
                String s = Progress.line(total, total, 5.5833, 5.5833, 0.3, 2618, 126, 4_620_000_000L, width);
                assertTrue(s.length() <= width, width + ": " + s);
            }
        }
        assertEquals("950", Progress.compact(950));
        assertEquals("14.4k", Progress.compact(14_427));
        assertEquals("12.35M", Progress.compact(12_345_670));
    }
}
