package org.lomo4j.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lomo4j.checkpoint.Checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A run directory's rules: checkpoints by step number, one run at a time, leftovers of a crash repaired. */
class RunDirectoryTest {

    private static Path fakeCheckpoint(Path dir, String name) throws IOException {
        Path p = dir.resolve(name);
        Files.createDirectories(p);
        Files.writeString(p.resolve(Checkpoint.TRAINER), "{}");
        return p;
    }

    @Test
    void newestAndRetentionGoByStepNumberNotByName(@TempDir Path dir) throws IOException {
        for (String name : new String[] {"step-999999", "step-1000000", "step-000010", "step-12"}) fakeCheckpoint(dir, name);
        Files.createDirectories(dir.resolve("step-notanumber"));
        assertEquals(dir.resolve("step-1000000"), Checkpoint.newest(dir), "step-1000000 sorts after step-999999");
        assertEquals(List.of(10L, 12L, 999999L, 1000000L), Checkpoint.steps(dir).stream().map(Checkpoint::stepOf).toList());
        assertEquals("step-1000000", Checkpoint.stepName(1_000_000));
        try (RunDirectory run = RunDirectory.lock(dir)) {
            run.prune(2);
            assertEquals(List.of(dir.resolve("step-999999"), dir.resolve("step-1000000")), run.checkpoints());
            run.deleteCheckpointsAfter(999999);
            assertEquals(List.of(dir.resolve("step-999999")), run.checkpoints());
        }
    }

    @Test
    void aSecondRunIsLockedOutUntilTheFirstCloses(@TempDir Path dir) {
        try (RunDirectory first = RunDirectory.lock(dir)) {
            String lockFile = assertDoesNotThrowRead(dir.resolve(RunDirectory.LOCK));
            assertTrue(lockFile.startsWith("pid " + ProcessHandle.current().pid()), lockFile);
            var e = assertThrows(IllegalArgumentException.class, () -> RunDirectory.lock(dir));
            assertTrue(e.getMessage().startsWith("--out " + dir + " is in use by another run (pid " + ProcessHandle.current().pid()),
                    e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve(RunDirectory.LOCK)));
        RunDirectory.lock(dir).close();  // free again
        assertTrue(Files.isDirectory(dir), "a directory that existed stays");

        // A directory the lock created, and nothing was written into (bad data found later): gone again.
        Path fresh = dir.resolve("fresh");
        RunDirectory.lock(fresh.resolve("last")).close();
        assertFalse(Files.exists(fresh), "with the parents it created");
        assertTrue(Files.isDirectory(dir));
    }

    @Test
    void anUnwritableOrFullOutputIsRefusedNamingTheFlag(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("a-file");
        Files.writeString(file, "x");
        var e = assertThrows(IllegalArgumentException.class, () -> RunDirectory.lock(file.resolve("run")));
        assertTrue(e.getMessage().startsWith("--out " + file.resolve("run") + ": cannot create the directory"), e.getMessage());
        try (RunDirectory run = RunDirectory.lock(dir.resolve("run"))) {
            run.requireSpace(1 << 20, "a checkpoint");
            e = assertThrows(IllegalArgumentException.class, () -> run.requireSpace(Long.MAX_VALUE / 2, "a checkpoint"));
            assertTrue(e.getMessage().matches("--out .*: .* free on its disk, and a checkpoint needs .*; free some space or give another --out"),
                    e.getMessage());
        }
    }

    /** What kill -9 can leave in the middle of Checkpoint.save, repaired when the directory is next locked. */
    @Test
    void aCrashDuringSaveIsRepairedOnTheNextLock(@TempDir Path dir) throws IOException {
        fakeCheckpoint(dir, "step-000004");
        // Killed while writing step 6: a half-written directory beside the final name.
        Files.writeString(fakeCheckpoint(dir, "step-000006.tmp").resolve("model.safetensors"), "trunc");
        // Killed between the renames that replace step 5: the whole previous copy is step-000005.old.
        fakeCheckpoint(dir, "step-000005.old");
        assertEquals(dir.resolve("step-000004"), Checkpoint.newest(dir), "leftovers are never taken for checkpoints");
        try (RunDirectory run = RunDirectory.lock(dir)) {
            assertEquals(List.of(dir.resolve("step-000004"), dir.resolve("step-000005")), run.checkpoints());
            assertFalse(Files.exists(dir.resolve("step-000006.tmp")));
            assertFalse(Files.exists(dir.resolve("step-000005.old")));
        }
    }

    @Test
    void metricsAreAppendedPerStepAndReadBackAsHistory(@TempDir Path dir) throws IOException {
        try (RunDirectory run = RunDirectory.lock(dir)) {
            run.startMetrics(List.of());
            for (int s = 0; s < 5; s++) run.append(new Trainer.StepRecord(s, 5f - s, s == 2 ? Double.NaN : 0.5 * s, 0.1, 12.5, 64));
            List<String> lines = Files.readAllLines(dir.resolve(RunDirectory.METRICS));
            assertEquals(6, lines.size());
            assertEquals("2,3.000000,,0.100000,12.50,64,5120.0", lines.get(3));
        }
        List<Trainer.StepRecord> history = RunDirectory.history(dir, 3);
        assertEquals(3, history.size(), "the steps before a resume from step 3");
        assertEquals(new Trainer.StepRecord(1, 4f, 0.5, 0.1, 12.5, 64), history.get(1));
        assertTrue(Double.isNaN(history.get(2).gradNorm()));
        // A line cut short by a crash ends the history there.
        Files.writeString(dir.resolve(RunDirectory.METRICS), "5,0.1", java.nio.file.StandardOpenOption.APPEND);
        assertEquals(5, RunDirectory.history(dir, 100).size());
        try (RunDirectory run = RunDirectory.lock(dir)) {
            run.startMetrics(history);
            assertEquals(4, Files.readAllLines(dir.resolve(RunDirectory.METRICS)).size());
        }
    }

    private static String assertDoesNotThrowRead(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
