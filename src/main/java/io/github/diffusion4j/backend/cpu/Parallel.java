package io.github.diffusion4j.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/** Splits index ranges across the CPU backend's worker pool. */
public final class Parallel {
    /** A body over the half-open range [lo, hi). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int lo, int hi);
    }

    private static final int THREADS = Integer.getInteger("diffusion4j.threads",
            Runtime.getRuntime().availableProcessors());
    private static final ForkJoinPool POOL = THREADS > 1 ? new ForkJoinPool(THREADS) : null;

    private Parallel() {}

    public static int threads() { return THREADS; }

    /**
     * Runs body over [0, n) in chunks of at least {@code grain} items, in parallel when worthwhile. The chunks
     * are disjoint, so bodies that write only to their own range need no synchronisation.
     */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int g = Math.max(1, grain);
        if (POOL == null || n <= g || inWorker()) {
            body.run(0, n);
            return;
        }
        int chunks = Math.min((n + g - 1) / g, THREADS * 4);
        POOL.invoke(new Split(body, 0, n, chunks));
    }

    private static boolean inWorker() {
        return Thread.currentThread() instanceof java.util.concurrent.ForkJoinWorkerThread w && w.getPool() == POOL;
    }

    private static final class Split extends RecursiveAction {
        private final RangeBody body;
        private final int lo, hi, chunks;

        Split(RangeBody body, int lo, int hi, int chunks) {
            this.body = body;
            this.lo = lo;
            this.hi = hi;
            this.chunks = chunks;
        }

        @Override protected void compute() {
            if (chunks <= 1) {
                body.run(lo, hi);
                return;
            }
            int leftChunks = chunks / 2;
            int mid = lo + (int) ((long) (hi - lo) * leftChunks / chunks);
            invokeAll(new Split(body, lo, mid, leftChunks), new Split(body, mid, hi, chunks - leftChunks));
        }
    }
}
