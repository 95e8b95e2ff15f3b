package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;

/**
 * The context of one forward pass: the backend, training or inference mode, and the random stream for
 * dropout ({@code seed}, with offsets handed out in call order so the backward pass can regenerate masks).
 */
public final class Ctx {
    private final Backend backend;
    private final boolean training;
    private final long seed;
    private long nextOffset;

    public Ctx(Backend backend, boolean training, long seed) {
        this.backend = backend;
        this.training = training;
        this.seed = seed;
    }

    public static Ctx inference(Backend backend) { return new Ctx(backend, false, 0L); }

    public static Ctx training(Backend backend, long seed) { return new Ctx(backend, true, seed); }

    public Backend backend() { return backend; }

    public boolean training() { return training; }

    public long seed() { return seed; }

    /** Reserves n consecutive Philox indices and returns the first. */
    public long take(long n) {
        long o = nextOffset;
        nextOffset += n;
        return o;
    }
}
