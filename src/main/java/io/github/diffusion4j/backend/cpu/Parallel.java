package io.github.diffusion4j.backend.cpu;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Splits index ranges across the CPU backend's threads: the calling thread plus {@code threads() - 1} pool
 * helpers (daemon threads), which all take chunks from a shared counter until none are left. The caller
 * working too saves a thread hand-off per call, and the shared counter balances the load when another
 * process takes a core away. Calls made from inside a body (on a helper) run serially.
 */
public final class Parallel {
    /** A body over the half-open range [lo, hi). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int lo, int hi);
    }

    /** The thread count and its helpers (null for one thread); replaced as a whole by {@link #setThreads}. */
    private record Pool(int threads, ExecutorService helpers) {}

    private static final AtomicInteger HELPER_COUNT = new AtomicInteger();
    private static volatile Pool pool = newPool(Runtime.getRuntime().availableProcessors());
    /** Set while a thread runs chunks of a parallel range, so nested ranges stay on that thread. */
    private static final ThreadLocal<Boolean> IN_RANGE = ThreadLocal.withInitial(() -> false);

    private Parallel() {}

    /** Threads a parallel range uses: the caller plus {@code threads() - 1} helpers (default: the available cores). */
    public static int threads() { return pool.threads(); }

    /**
     * Sets the thread count ({@code --threads}); ranges already running finish on the threads they started with.
     *
     * @throws IllegalArgumentException when {@code threads < 1}
     */
    public static synchronized void setThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
        Pool old = pool;
        if (old.threads() == threads) return;
        pool = newPool(threads);
        if (old.helpers() != null) old.helpers().shutdown();   // queued chunks still run; idle helpers then exit
    }

    private static Pool newPool(int threads) {
        int n = Math.max(1, threads);
        return new Pool(n, n > 1 ? Executors.newFixedThreadPool(n - 1, r -> {
            Thread t = new Thread(r, "diffusion4j-cpu-" + HELPER_COUNT.incrementAndGet());
            t.setDaemon(true);
            return t;
        }) : null);
    }

    /**
     * Runs body over [0, n) in chunks of at least {@code grain} items, in parallel when worthwhile. The chunks
     * are disjoint, so bodies that write only to their own range need no synchronisation. An exception thrown
     * by a chunk is rethrown here once every started chunk has finished.
     */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int g = Math.max(1, grain);
        Pool p = pool;
        if (p.helpers() == null || n <= g || IN_RANGE.get()) {
            body.run(0, n);
            return;
        }
        new Job(n, Math.min((n + g - 1) / g, p.threads() * 4), body).invoke(p);
    }

    /** One parallel range: chunk c covers [c * n / chunks, (c + 1) * n / chunks). */
    private static final class Job implements Runnable {
        private final int n, chunks;
        private final RangeBody body;
        private final AtomicInteger next = new AtomicInteger();
        private final CountDownLatch done;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(int n, int chunks, RangeBody body) {
            this.n = n;
            this.chunks = chunks;
            this.body = body;
            this.done = new CountDownLatch(chunks);
        }

        /** On the caller: enlists the helpers, works along, then waits for chunks still running elsewhere. */
        void invoke(Pool p) {
            for (int i = 0; i < Math.min(p.threads(), chunks) - 1; i++) {
                try {
                    p.helpers().execute(this);
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    break;   // the pool was replaced meanwhile: the caller (and helpers already enlisted) do the rest
                }
            }
            work();
            boolean interrupted = false;
            while (true) {
                try {
                    done.await();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
            Throwable t = failure.get();
            if (t instanceof RuntimeException e) throw e;
            if (t instanceof Error e) throw e;
            if (t != null) throw new IllegalStateException(t);
        }

        /** On a helper. */
        @Override public void run() {
            if (next.get() < chunks) work();
        }

        private void work() {
            IN_RANGE.set(true);
            try {
                for (int c = next.getAndIncrement(); c < chunks; c = next.getAndIncrement()) {
                    try {
                        if (failure.get() == null) body.run((int) ((long) c * n / chunks), (int) ((long) (c + 1) * n / chunks));
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    } finally {
                        done.countDown();
                    }
                }
            } finally {
                IN_RANGE.set(false);
            }
        }
    }
}
