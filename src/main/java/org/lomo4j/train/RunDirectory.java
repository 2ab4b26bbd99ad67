package org.lomo4j.train;

import org.lomo4j.checkpoint.AtomicFiles;
import org.lomo4j.checkpoint.Checkpoint;
import org.lomo4j.memory.MemoryLedger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A training run's output directory ({@code --out}): its {@code step-N} checkpoints, {@code metrics.csv}
 * (a line per step, appended as training goes), {@code report.json} and plots. While a run writes, it holds
 * {@code .lock}; the operating system releases the lock when the process ends, however it ends.
 */
public final class RunDirectory implements AutoCloseable {
    public static final String LOCK = ".lock";
    public static final String METRICS = "metrics.csv";
    public static final String REPORT = "report.json";
    /** Everything a run writes besides checkpoints. */
    static final List<String> RUN_FILES = List.of(METRICS, REPORT, "loss.svg", "memory.svg");
    private static final String METRICS_HEADER = "step,loss,grad_norm,lr,ms,tokens,tokens_per_s";

    private final Path dir;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Path created;  // the outermost directory this lock created (null: none): removed again if left empty

    private RunDirectory(Path dir, FileChannel lockChannel, FileLock lock, Path created) {
        this.dir = dir;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.created = created;
    }

    /**
     * Creates {@code dir} if needed and locks it for this process; fails naming {@code --out} when it cannot
     * be written or another run holds it. Finishes what a crash during a checkpoint's rename left.
     */
    public static RunDirectory lock(Path dir) {
        Path created = null;
        for (Path p = dir.toAbsolutePath(); p != null && !Files.exists(p); p = p.getParent()) created = p;
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IllegalArgumentException("--out " + dir + ": cannot create the directory (" + reason(e) + ")");
        }
        FileChannel ch;
        try {
            ch = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new IllegalArgumentException("--out " + dir + " is not writable (" + reason(e) + ")");
        }
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException e) {
            closeQuietly(ch);
            throw new IllegalArgumentException("--out " + dir + ": cannot lock " + LOCK + " (" + reason(e) + ")");
        }
        if (lock == null) {
            String holder = "";
            try {
                holder = Files.readString(dir.resolve(LOCK)).strip();
            } catch (IOException ignored) {
                // Its content only adds the other run's pid.
            }
            closeQuietly(ch);
            throw new IllegalArgumentException("--out " + dir + " is in use by another run" + (holder.isEmpty() ? "" : " (" + holder + ")")
                    + "; wait for it to finish, or give another --out");
        }
        RunDirectory run = new RunDirectory(dir, ch, lock, created);
        try {
            ch.truncate(0);
            ch.write(java.nio.ByteBuffer.wrap(("pid " + ProcessHandle.current().pid() + ", since " + java.time.Instant.now() + "\n")
                    .getBytes(StandardCharsets.UTF_8)), 0);
            run.recover();
        } catch (IOException e) {
            run.close();
            throw new IllegalArgumentException("--out " + dir + " is not writable (" + reason(e) + ")");
        }
        return run;
    }

    public Path path() {
        return dir;
    }

    /** The checkpoints, by step number. */
    public List<Path> checkpoints() {
        return Checkpoint.steps(dir);
    }

    /** Step {@code step}'s checkpoint directory (which may not exist yet). */
    public Path checkpoint(int step) {
        return dir.resolve(Checkpoint.stepName(step));
    }

    /** Whether an earlier run wrote here: a checkpoint, metrics or a report. */
    public boolean holdsRun() {
        return !checkpoints().isEmpty() || RUN_FILES.stream().anyMatch(f -> Files.exists(dir.resolve(f)));
    }

    /** Deletes what earlier runs wrote here (checkpoints, metrics, report, plots), and nothing else. */
    public void clear() throws IOException {
        for (Path p : checkpoints()) Checkpoint.deleteRecursively(p);
        for (String f : RUN_FILES) Files.deleteIfExists(dir.resolve(f));
    }

    /** Deletes the checkpoints after {@code step}: a history that a resume from {@code step} abandons. */
    public void deleteCheckpointsAfter(long step) throws IOException {
        for (Path p : checkpoints()) if (Checkpoint.stepOf(p) > step) Checkpoint.deleteRecursively(p);
    }

    /** Keeps the newest {@code keep} checkpoints by step number. */
    public void prune(int keep) throws IOException {
        List<Path> all = checkpoints();
        for (int i = 0; i < all.size() - keep; i++) Checkpoint.deleteRecursively(all.get(i));
    }

    /**
     * Fails naming {@code --out} when its disk has less than {@code bytes} free: room for one more checkpoint,
     * checked before step 1 rather than found at the first save.
     */
    public void requireSpace(long bytes, String what) {
        long free;
        try {
            free = Files.getFileStore(dir).getUsableSpace();
        } catch (IOException e) {
            return;  // a file system that cannot say; the save itself will tell
        }
        if (free < bytes) {
            throw new IllegalArgumentException("--out " + dir + ": " + MemoryLedger.human(free) + " free on its disk, and " + what
                    + " needs " + MemoryLedger.human(bytes) + "; free some space or give another --out");
        }
    }

    /**
     * A kill between the two renames of {@link Checkpoint#save} over an existing checkpoint leaves the previous
     * one as {@code step-N.old}: it is put back. Half-written {@code step-N.tmp} directories are deleted.
     */
    private void recover() throws IOException {
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String name = p.getFileName().toString();
                if (!name.matches("step-\\d+\\.(old|tmp)")) continue;
                Path whole = dir.resolve(name.substring(0, name.lastIndexOf('.')));
                if (name.endsWith(".old") && !Files.exists(whole)) Files.move(p, whole);
                else Checkpoint.deleteRecursively(p);
            }
        }
    }

    /** The steps {@code metrics.csv} under {@code dir} records before {@code step}; none when it has no such file. */
    public static List<Trainer.StepRecord> history(Path dir, long step) {
        Path file = dir.resolve(METRICS);
        List<Trainer.StepRecord> rows = new ArrayList<>();
        if (!Files.isRegularFile(file)) return rows;
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage());
        }
        if (lines.isEmpty() || !lines.get(0).equals(METRICS_HEADER)) return rows;  // an older format: history starts over
        for (int i = 1; i < lines.size(); i++) {
            String[] f = lines.get(i).split(",", -1);
            try {
                Trainer.StepRecord r = new Trainer.StepRecord(Integer.parseInt(f[0]), Float.parseFloat(f[1]),
                        f[2].isEmpty() ? Double.NaN : Double.parseDouble(f[2]), Double.parseDouble(f[3]), Double.parseDouble(f[4]),
                        Integer.parseInt(f[5]));
                if (r.step() < step) rows.add(r);
            } catch (RuntimeException e) {
                break;  // a line cut short by a crash ends the history
            }
        }
        return rows;
    }

    /** Starts {@code metrics.csv} over with {@code history}, to which {@link #append} adds a line per step. */
    public void startMetrics(List<Trainer.StepRecord> history) throws IOException {
        StringBuilder csv = new StringBuilder(METRICS_HEADER).append('\n');
        for (Trainer.StepRecord r : history) csv.append(line(r));
        AtomicFiles.writeString(dir.resolve(METRICS), csv.toString());
    }

    /** Appends one step's line to {@code metrics.csv}: a crash loses at most the step it was in. */
    public void append(Trainer.StepRecord r) {
        try {
            Files.writeString(dir.resolve(METRICS), line(r), StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to " + dir.resolve(METRICS), e);
        }
    }

    private static String line(Trainer.StepRecord r) {
        return String.format(Locale.ROOT, "%d,%.6f,%s,%.6g,%.2f,%d,%.1f%n", r.step(), r.loss(),
                Double.isNaN(r.gradNorm()) ? "" : String.format(Locale.ROOT, "%.6g", r.gradNorm()), r.lr(), r.millis(), r.tokens(),
                r.tokensPerSecond());
    }

    static String reason(IOException e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // Nothing was written through it.
        }
    }

    /** Releases the lock and removes the lock file, and the directory when this lock created it and it stayed empty. */
    @Override
    public void close() {
        try {
            Files.deleteIfExists(dir.resolve(LOCK));
            lock.release();
        } catch (IOException ignored) {
            // The lock goes with the channel; a stale lock file holds no lock.
        } finally {
            closeQuietly(lockChannel);
        }
        if (created == null) return;
        for (Path p = dir.toAbsolutePath(); p != null && p.startsWith(created); p = p.getParent()) {
            try (var s = Files.list(p)) {
                if (s.findAny().isPresent()) return;
                Files.delete(p);
            } catch (IOException ignored) {
                return;  // an empty directory left behind is harmless
            }
        }
    }
}
