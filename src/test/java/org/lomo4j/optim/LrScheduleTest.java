package org.lomo4j.optim;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LrScheduleTest {
    @Test
    void warmupThenLinearDecay() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.LINEAR, 1.0, 4, 14);
        assertEquals(0.25, s.at(0), 1e-12);
        assertEquals(1.0, s.at(3), 1e-12);
        assertEquals(1.0, s.at(4), 1e-12);
        assertEquals(0.5, s.at(9), 1e-12);
        assertEquals(0.0, s.at(14), 1e-12);
    }

    @Test
    void cosineDecaysThroughHalfAtMidpoint() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.COSINE, 2.0, 0, 10);
        assertEquals(2.0, s.at(0), 1e-12);
        assertEquals(1.0, s.at(5), 1e-12);
        assertTrue(s.at(9) < 0.1);
    }

    @Test
    void rejectsScheduleShorterThanWarmup() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new LrSchedule(LrSchedule.Kind.COSINE, 1.0, 10, 10));
        assertTrue(e.getMessage().contains("warmup"), e.getMessage());
    }
}
