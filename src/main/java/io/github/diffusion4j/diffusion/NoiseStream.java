package io.github.diffusion4j.diffusion;

/**
 * The sampler's random stream: a Philox seed and a running element position. Every draw of a tensor of
 * {@code count} Gaussians takes the indices {@code [position, position + count)}, i.e. element i gets
 * {@code Philox.normal(seed, position + i)}, and then advances the position. The same seed and the same sequence of
 * draws give the same noise on every backend (diffusers' {@code generator}).
 */
public final class NoiseStream {
    private final long seed;
    private long position;

    public NoiseStream(long seed) { this(seed, 0); }

    public NoiseStream(long seed, long position) {
        this.seed = seed;
        this.position = position;
    }

    public long seed() { return seed; }

    /** The next unused Philox element index. */
    public long position() { return position; }

    /** Reserves {@code count} indices and returns the first (the {@code offset} to pass to a backend op). */
    public long take(long count) {
        if (count < 0) throw new IllegalArgumentException("negative count " + count);
        long p = position;
        position += count;
        return p;
    }
}
