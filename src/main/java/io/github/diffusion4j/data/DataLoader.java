package io.github.diffusion4j.data;

import io.github.diffusion4j.dist.BatchSlice;
import io.github.diffusion4j.tensor.Philox;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * An endless stream of batches over a {@link Dataset}, epoch after epoch, assembled by a background thread.
 *
 * <p><b>Determinism.</b> Everything depends only on {@code (seed, epoch, position in epoch)}, never on timing or
 * on earlier batches:
 * <ul>
 *   <li>the order of epoch {@code e} is a Fisher-Yates shuffle driven by a {@link Philox.Stream} keyed by
 *       {@code mix(seed, e)} (identity order if shuffling is off);</li>
 *   <li>the sample at position {@code p} of epoch {@code e} is flipped horizontally when
 *       {@code Philox.uniform(flipKey(seed), e * 2^32 + p) < 0.5} (if flipping is on).</li>
 * </ul>
 * So a {@link Position} (epoch, index of the next sample in the epoch's order) is all that must be saved in a
 * checkpoint: {@link #seek} to it and the batches that follow are bit-identical to those an uninterrupted run
 * would have produced.
 *
 * <p><b>Slices.</b> In data-parallel training every rank has a loader over the same global batches and takes its
 * {@link BatchSlice} of each: the samples at positions {@code [start + offset, start + offset + count)}, flipped as
 * in the global batch. Positions stay global, so a checkpoint's position resumes with any number of ranks.
 *
 * <p><b>Threads.</b> A daemon thread fills a bounded queue of {@code prefetch} batches ahead of the consumer. An
 * exception in it (e.g. a corrupt image in a lazily decoded folder) is re-thrown by {@link #next()} in the
 * consumer thread. {@link #close()} stops the thread; {@link #next()}, {@link #seek} and {@link #close()} are
 * meant to be called from one consumer thread.
 *
 * <pre>{@code
 * try (DataLoader loader = new DataLoader(dataset, 128, seed, DataLoader.Options.DEFAULT)) {
 *     loader.seek(savedPosition);              // when resuming
 *     DataLoader.Batch b = loader.next();      // b.images(): float[n*C*H*W] in [-1, 1], b.labels(): int[n]
 *     ... save loader.position() with the checkpoint ...
 * }
 * }</pre>
 */
public final class DataLoader implements AutoCloseable {

    /**
     * Where the stream is: the next batch starts at sample {@code index} of epoch {@code epoch}'s order.
     * {@code (0, 0)} is the beginning.
     */
    public record Position(long epoch, int index) {
        public Position {
            if (epoch < 0 || index < 0) throw new IllegalArgumentException("bad data loader position (" + epoch + ", " + index + ")");
        }

        public static final Position START = new Position(0, 0);
    }

    /**
     * One batch: {@code size} images, CHW each, back to back in {@code images} (then the labels as floats, with
     * {@link Options#withLabelsAfterImages}); labels (-1 if unlabelled).
     * {@code position} is where the batch started, {@code next} where the following batch starts.
     */
    public record Batch(float[] images, int[] labels, int size, int channels, int imageSize, Position position, Position next) {}

    /**
     * @param shuffle  shuffle every epoch (otherwise dataset order)
     * @param flip     random horizontal flips with probability 1/2 (off for data where left and right differ,
     *                 e.g. digits, or Fashion-MNIST's footwear: {@code Datasets.flipByDefault})
     * @param dropLast skip an epoch's last incomplete batch, so every batch has exactly batchSize images
     * @param prefetch number of batches prepared ahead (at least 1)
     */
    public record Options(boolean shuffle, boolean flip, boolean dropLast, int prefetch, boolean labelsAfterImages) {
        /** Shuffle, flip, drop the last incomplete batch, prefetch 3. */
        public static final Options DEFAULT = new Options(true, true, true, 3, false);

        public Options {
            if (prefetch < 1) throw new IllegalArgumentException("prefetch must be at least 1, got " + prefetch);
        }

        public Options withShuffle(boolean v) { return new Options(v, flip, dropLast, prefetch, labelsAfterImages); }

        public Options withFlip(boolean v) { return new Options(shuffle, v, dropLast, prefetch, labelsAfterImages); }

        public Options withDropLast(boolean v) { return new Options(shuffle, flip, v, prefetch, labelsAfterImages); }

        public Options withPrefetch(int v) { return new Options(shuffle, flip, dropLast, v, labelsAfterImages); }

        /**
         * With {@code true}, {@link Batch#images()} has {@code size} more floats after the images: the labels as
         * floats, written by the loader's thread, so that a trainer uploads images and labels in one copy.
         */
        public Options withLabelsAfterImages(boolean v) { return new Options(shuffle, flip, dropLast, prefetch, v); }
    }

    private record Failure(Throwable error) {}

    private final Dataset dataset;
    private final int batchSize;
    private final long seed;
    private final Options options;
    private final BatchSlice slice;
    private final int n;
    private Position position = Position.START;
    private Worker worker;
    private boolean closed;

    public DataLoader(Dataset dataset, int batchSize, long seed, Options options) {
        this(dataset, batchSize, seed, options, null);
    }

    /**
     * A loader that returns {@code slice} of each global batch of {@code batchSize} (null: all of it); a slice needs
     * {@link Options#dropLast()}, so that every global batch is whole.
     */
    public DataLoader(Dataset dataset, int batchSize, long seed, Options options, BatchSlice slice) {
        if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        if (slice != null && slice.total() != batchSize) {
            throw new IllegalArgumentException("slice " + slice + " of a batch of " + batchSize);
        }
        if (slice != null && !slice.isWhole() && !options.dropLast()) {
            throw new IllegalArgumentException("a batch slice needs whole batches (dropLast)");
        }
        this.dataset = dataset;
        this.batchSize = batchSize;
        this.seed = seed;
        this.options = options;
        this.slice = slice == null || slice.isWhole() ? null : slice;
        this.n = dataset.size();
        if (n == 0) throw new IllegalArgumentException("dataset " + dataset.name() + " is empty");
        if (options.dropLast() && batchSize > n) {
            throw new IllegalArgumentException("batch size " + batchSize + " is larger than dataset " + dataset.name()
                    + " (" + n + " images)");
        }
    }

    public DataLoader(Dataset dataset, int batchSize, long seed) { this(dataset, batchSize, seed, Options.DEFAULT); }

    public Dataset dataset() { return dataset; }

    public int batchSize() { return batchSize; }

    /** Batches per epoch: {@code n / batchSize}, rounded down if the last incomplete batch is dropped, else up. */
    public int batchesPerEpoch() {
        return options.dropLast() ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** Where the next batch returned by {@link #next()} starts (save this with a checkpoint). */
    public Position position() { return position; }

    /** Continues from {@code p} (as saved by {@link #position()}); batches already prefetched are discarded. */
    public void seek(Position p) {
        ensureOpen();
        if (p.index() >= n) {
            throw new IllegalArgumentException("data loader position " + p + " is beyond the " + n + " images of " + dataset.name());
        }
        stopWorker();
        position = normalise(p);
    }

    /** The next batch (blocks while the background thread prepares it). */
    public Batch next() {
        ensureOpen();
        if (worker == null) worker = new Worker(normalise(position));
        Object o;
        try {
            o = worker.queue.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a batch", e);
        }
        if (o instanceof Failure f) {
            stopWorker();
            Throwable t = f.error();
            if (t instanceof RuntimeException r) throw r;
            if (t instanceof Error e) throw e;
            throw new IllegalStateException("data loader thread failed: " + t, t);
        }
        Batch b = (Batch) o;
        position = b.next();
        return b;
    }

    /** Stops the background thread. Idempotent. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        stopWorker();
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("data loader is closed");
    }

    private void stopWorker() {
        if (worker == null) return;
        worker.stop();
        worker = null;
    }

    /** Moves a position at the end of an epoch to the start of the next. */
    private Position normalise(Position p) {
        int limit = options.dropLast() ? n - batchSize : n - 1;
        return p.index() > limit ? new Position(p.epoch() + 1, 0) : p;
    }

    /** The order of epoch {@code epoch}: a permutation of [0, n). */
    public int[] order(long epoch) {
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        if (!options.shuffle()) return perm;
        Philox.Stream s = new Philox.Stream(mix(seed, 2 * epoch + 1), 0);
        for (int i = n - 1; i > 0; i--) {
            int j = s.nextInt(i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        return perm;
    }

    /** Whether the sample at position {@code index} of epoch {@code epoch} is flipped. */
    public boolean flipped(long epoch, int index) {
        return options.flip() && Philox.uniform(mix(seed, 0), (epoch << 32) | index) < 0.5f;
    }

    /** Builds the batch starting at {@code p} (already normalised) with the epoch's order {@code perm}. */
    private Batch assemble(Position p, int[] perm) {
        int global = Math.min(batchSize, n - p.index());
        int first = slice == null ? 0 : slice.offset();
        int size = slice == null ? global : slice.count();
        int c = dataset.channels(), s = dataset.imageSize(), per = c * s * s;
        float[] images = new float[size * per + (options.labelsAfterImages() ? size : 0)];
        int[] labels = new int[size];
        float[] row = new float[s];
        for (int k = 0; k < size; k++) {
            int pos = p.index() + first + k;
            int item = perm[pos];
            dataset.image(item, images, k * per);
            labels[k] = dataset.label(item);
            if (options.labelsAfterImages()) images[size * per + k] = labels[k];
            if (flipped(p.epoch(), pos)) {
                for (int ch = 0; ch < c; ch++) {
                    for (int y = 0; y < s; y++) {
                        int off = k * per + ch * s * s + y * s;
                        for (int x = 0; x < s; x++) row[x] = images[off + s - 1 - x];
                        System.arraycopy(row, 0, images, off, s);
                    }
                }
            }
        }
        Position next = normalise(new Position(p.epoch(), p.index() + global));
        return new Batch(images, labels, size, c, s, p, next);
    }

    /** splitmix64 finaliser of {@code seed + golden * (k + 1)}: independent Philox keys per purpose and epoch. */
    static long mix(long seed, long k) {
        long z = seed + 0x9E3779B97F4A7C15L * (k + 1);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private final class Worker implements Runnable {
        final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(options.prefetch());
        final Thread thread;
        volatile boolean stop;
        private Position pos;

        Worker(Position start) {
            this.pos = start;
            thread = new Thread(this, "diffusion4j-data-" + dataset.name());
            thread.setDaemon(true);
            thread.start();
        }

        @Override public void run() {
            try {
                long epoch = -1;
                int[] perm = null;
                while (!stop) {
                    if (pos.epoch() != epoch) {
                        epoch = pos.epoch();
                        perm = order(epoch);
                    }
                    Batch b = assemble(pos, perm);
                    queue.put(b);
                    pos = b.next();
                }
            } catch (InterruptedException e) {
                // stopped
            } catch (Throwable t) {
                if (!stop) {
                    try {
                        queue.put(new Failure(t));
                    } catch (InterruptedException ignored) {
                        // stopped while reporting
                    }
                }
            }
        }

        void stop() {
            stop = true;
            thread.interrupt();
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            queue.clear();
        }
    }
}
