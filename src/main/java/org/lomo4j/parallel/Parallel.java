package org.lomo4j.parallel;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The JVM backend's runner: executes a kernel's per-item body over items [0, n) on a fixed set of
 * workers. Workers take chunks from a shared counter, so uneven items (causal attention rows) balance
 * out; every worker has a stable index in [0, threads) for its own scratch slot. Results never depend
 * on which worker ran an item, so runs are deterministic for any thread count.
 */
public final class Parallel implements AutoCloseable {

    /** Runs items [lo, hi) on worker {@code worker}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int lo, int hi, int worker);
    }

    private final int threads;
    private final ExecutorService helpers;

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
        }
        this.threads = threads;
        this.helpers = threads == 1 ? null : Executors.newFixedThreadPool(threads - 1, r -> {
            Thread t = new Thread(r, "lomo4j-worker");
            t.setDaemon(true);
            return t;
        });
    }

    public static Parallel allCores() {
        return new Parallel(Runtime.getRuntime().availableProcessors());
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code body} over [0, n); the calling thread is worker 0. */
    public void forEach(int n, RangeBody body) {
        if (threads == 1 || n <= 1) {
            body.run(0, n, 0);
            return;
        }
        int grain = Math.max(1, n / (threads * 8));
        AtomicInteger next = new AtomicInteger();
        Future<?>[] futures = new Future<?>[threads - 1];
        for (int w = 1; w < threads; w++) {
            int worker = w;
            futures[w - 1] = helpers.submit(() -> drain(n, grain, next, body, worker));
        }
        Throwable failure = null;
        try {
            drain(n, grain, next, body, 0);
        } catch (Throwable t) {
            failure = t;
        }
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (ExecutionException e) {
                failure = failure == null ? e.getCause() : failure;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                failure = failure == null ? e : failure;
            }
        }
        if (failure instanceof RuntimeException re) throw re;
        if (failure instanceof Error err) throw err;
        if (failure != null) throw new IllegalStateException(failure);
    }

    private static void drain(int n, int grain, AtomicInteger next, RangeBody body, int worker) {
        for (int lo = next.getAndAdd(grain); lo < n; lo = next.getAndAdd(grain)) {
            body.run(lo, Math.min(n, lo + grain), worker);
        }
    }

    @Override
    public void close() {
        if (helpers != null) helpers.shutdownNow();
    }
}
