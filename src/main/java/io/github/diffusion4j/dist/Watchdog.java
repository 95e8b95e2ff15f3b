package io.github.diffusion4j.dist;

import java.util.Locale;

/**
 * Bounds the waits of a rank on the others. A {@link Guard} covers one wait (a host collective, or a training step
 * whose gradients the ranks all-reduce); when one stays open longer than the timeout, the watchdog's thread prints
 * one line naming the wait and the bound, and aborts the world ({@link World#abort}), so a rank that died or hangs
 * stops all of them within the bound instead of leaving them waiting forever. Guards nest (the innermost is the
 * one named). Checkpoints are written atomically, so an abort never leaves a partial one.
 */
public final class Watchdog implements AutoCloseable {
    private final World world;
    private final long timeoutNanos;
    private final Thread thread;
    private volatile boolean closed;
    private volatile String what;     // the innermost open wait, or null
    private volatile long since;      // when it began (System.nanoTime)
    private int depth;

    Watchdog(World world, double timeoutSeconds) {
        this.world = world;
        this.timeoutNanos = (long) (timeoutSeconds * 1e9);
        this.thread = new Thread(this::watch, "diffusion4j-watchdog");
        thread.setDaemon(true);
        thread.start();
    }

    /** An open wait; close it when the wait is over. */
    public final class Guard implements AutoCloseable {
        private final String outer;
        private final long outerSince;
        private boolean closed;

        private Guard(String outer, long outerSince) {
            this.outer = outer;
            this.outerSince = outerSince;
        }

        @Override public void close() {
            if (closed) return;
            closed = true;
            synchronized (Watchdog.this) {
                depth--;
                what = outer;
                since = outer == null ? 0 : outerSince;
            }
        }
    }

    /** Opens a wait named {@code what} (e.g. "step 12: gradient all-reduce"). */
    public synchronized Guard guard(String what) {
        Guard g = new Guard(this.what, since);
        depth++;
        this.since = System.nanoTime();
        this.what = what;
        return g;
    }

    private void watch() {
        long period = Math.max(50_000_000L, Math.min(1_000_000_000L, timeoutNanos / 10));
        while (!closed) {
            try {
                Thread.sleep(period / 1_000_000L);
            } catch (InterruptedException e) {
                return;
            }
            String w = what;
            long s = since;
            if (w != null && !closed && System.nanoTime() - s > timeoutNanos) {
                System.err.printf(Locale.ROOT, "%s%s has not finished after %.0f s: another rank has died or hangs "
                        + "(the bound is --dist-timeout); stopping all ranks%n", world.prefix(), w, timeoutNanos / 1e9);
                world.abort(3);
                return;
            }
        }
    }

    @Override public void close() {
        closed = true;
        thread.interrupt();
    }
}
