package org.lomo4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lomo4j.checkpoint.Checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real fault: {@code kill -9} of a training process, aimed at the moment a checkpoint is being written,
 * three times over. Each resume starts from a whole checkpoint, and the run ends with the weights and the
 * metrics history of an uninterrupted run.
 */
class KillRecoveryTest {
    private static final int STEPS = 60;

    private static Process start(Path dir, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-Dlomo4j.simd=" + System.getProperty("lomo4j.simd", "true"), "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("child.log").toFile()).start();
    }

    private static boolean savingNow(Path runDir) {
        try (var s = Files.list(runDir)) {
            return s.anyMatch(p -> p.getFileName().toString().endsWith(".tmp"));
        } catch (IOException e) {
            return false;
        }
    }

    /** Kills {@code p} the moment it is seen writing a checkpoint past step {@code after}, or after 20 s in any case. */
    private static boolean killWhileSaving(Process p, Path runDir, long after) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        boolean saving = false;
        while (p.isAlive() && System.nanoTime() < deadline) {
            List<Path> steps = Files.isDirectory(runDir) ? Checkpoint.steps(runDir) : List.of();
            if (!steps.isEmpty() && Checkpoint.stepOf(steps.get(steps.size() - 1)) >= after && (saving = savingNow(runDir))) break;
            Thread.onSpinWait();
        }
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);  // SIGKILL: no shutdown hook, no final save
        return saving;
    }

    @Test
    void killNineDuringSavesNeverLosesTheRun(@TempDir Path dir) throws Exception {
        Path cfg = dir.resolve("small.json");
        Files.writeString(cfg, """
                {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "vocab_size": 259, "max_position_embeddings": 32, "tie_word_embeddings": true}
                """);
        Path runDir = dir.resolve("run");
        Process p = start(dir, "train", "--model", cfg.toString(), "--steps", String.valueOf(STEPS), "--batch", "4", "--seq", "16",
                "--threads", "2", "--no-eval", "--checkpoint-every", "1", "--out", runDir.toString());
        int hits = killWhileSaving(p, runDir, 5) ? 1 : 0;
        for (int kill = 1; kill <= 3; kill++) {
            long from = Checkpoint.stepOf(Checkpoint.newest(runDir));
            assertTrue(from >= 1, "a whole checkpoint survived kill " + kill);
            p = start(dir, "train", "--resume", runDir.toString(), "--threads", "2");
            if (kill < 3) {
                hits += killWhileSaving(p, runDir, from + 5) ? 1 : 0;
            } else {
                assertTrue(p.waitFor(120, TimeUnit.SECONDS));
                assertEquals(0, p.exitValue(), Files.readString(dir.resolve("child.log")));
            }
        }
        System.out.printf("kill -9 landed during a checkpoint write %d of 3 times%n", hits);

        // The same run, uninterrupted, in this JVM (the same kernels: SIMD or not, as the child).
        Path straight = dir.resolve("straight");
        assertEquals(0, Main.run("train", "--model", cfg.toString(), "--steps", String.valueOf(STEPS), "--batch", "4", "--seq", "16",
                "--threads", "2", "--no-eval", "--out", straight.toString()));
        String last = Checkpoint.stepName(STEPS) + "/model.safetensors";
        assertArrayEquals(Files.readAllBytes(straight.resolve(last)), Files.readAllBytes(runDir.resolve(last)));
        List<String> metrics = Files.readAllLines(runDir.resolve("metrics.csv"));
        assertEquals(STEPS + 1, metrics.size(), "one line per step, none lost or repeated");
        for (int s = 0; s < STEPS; s++) assertTrue(metrics.get(s + 1).startsWith(s + ","), metrics.get(s + 1));
    }
}
