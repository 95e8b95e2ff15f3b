package io.github.diffusion4j.nn;

import io.github.diffusion4j.dist.BatchSlice;
import io.github.diffusion4j.tensor.Backend;

/**
 * The context of one forward pass: the backend, training or inference mode, and the random stream for
 * dropout ({@code seed}, with offsets handed out in call order so the backward pass can regenerate masks).
 *
 * <p>In data-parallel training a rank runs its {@link BatchSlice} of the global batch: each call then reserves the
 * indices of the whole global batch and hands out its slice's part, so a sample's dropout mask is the one it would
 * get in the global batch.
 */
public final class Ctx {
    private final Backend backend;
    private final boolean training;
    private final long seed;
    private final BatchSlice slice;   // null: the batch is the whole batch
    private long nextOffset;

    public Ctx(Backend backend, boolean training, long seed) { this(backend, training, seed, null); }

    private Ctx(Backend backend, boolean training, long seed, BatchSlice slice) {
        this.backend = backend;
        this.training = training;
        this.seed = seed;
        this.slice = slice == null || slice.isWhole() ? null : slice;
    }

    public static Ctx inference(Backend backend) { return new Ctx(backend, false, 0L); }

    public static Ctx training(Backend backend, long seed) { return new Ctx(backend, true, seed); }

    /** Training on {@code slice} of a global batch: the batch dimension of every tensor is {@code slice.count()}. */
    public static Ctx training(Backend backend, long seed, BatchSlice slice) { return new Ctx(backend, true, seed, slice); }

    public Backend backend() { return backend; }

    public boolean training() { return training; }

    public long seed() { return seed; }

    /**
     * Reserves n consecutive Philox indices (a batch tensor's elements) and returns the first; on a slice, reserves
     * the global batch's and returns where this slice's part begins.
     */
    public long take(long n) {
        long o = nextOffset;
        if (slice == null) {
            nextOffset += n;
            return o;
        }
        if (n % slice.count() != 0) {
            throw new IllegalArgumentException(n + " elements are not a batch of " + slice.count() + " samples");
        }
        long perSample = n / slice.count();
        nextOffset += perSample * slice.total();
        return o + perSample * slice.offset();
    }
}
