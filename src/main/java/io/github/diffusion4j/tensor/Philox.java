package io.github.diffusion4j.tensor;

/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the counter-based
 * generator of Random123, cuRAND and PyTorch. Written once here and once in {@code kernels/philox.cuh};
 * both implement exactly this mapping, so a seed draws the same numbers on every backend.
 *
 * <h2>The mapping from (seed, index) to numbers</h2>
 * <ul>
 *   <li><b>Key</b>: {@code k0 = low 32 bits of seed}, {@code k1 = high 32 bits of seed}.</li>
 *   <li><b>Counter</b> for global element index {@code g} (a tensor filled with {@code (seed, offset)} uses
 *       {@code g = offset + i} for its element {@code i}): block {@code b = g >>> 2}, lane {@code l = g & 3};
 *       {@code ctr = (low32(b), high32(b), 0, 0)}. One Philox call yields four 32-bit words {@code x0..x3}.</li>
 *   <li><b>Uniform</b> in [0, 1): {@code u = (x_l >>> 8) * 2^-24} (24 random bits, exact in float).</li>
 *   <li><b>Normal</b>: Box-Muller on the lane pair {@code p = l & ~1}:
 *       {@code u1 = ((x_p >>> 8) + 1) * 2^-24} (in (0, 1], so the log is finite),
 *       {@code u2 = (x_{p+1} >>> 8) * 2^-24}, {@code r = sqrt(-2 ln u1)}, {@code theta = 2 pi u2};
 *       even lanes take {@code r cos theta}, odd lanes {@code r sin theta}. The arithmetic is done in double
 *       precision and rounded once to float, which makes the CPU and CUDA results agree to the last bit
 *       (CUDA's double log/sin/cos are within 1-2 ulp of double, far below float resolution).</li>
 * </ul>
 */
public final class Philox {
    private static final int M0 = 0xD2511F53;
    private static final int M1 = 0xCD9E8D57;
    private static final int W0 = 0x9E3779B9;
    private static final int W1 = 0xBB67AE85;
    private static final double TWO_POW_M24 = 1.0 / (1 << 24);
    private static final double TWO_PI = 2.0 * Math.PI;

    private Philox() {}

    /**
     * Ten rounds of Philox4x32 on counter {@code ctr} (4 words) with key {@code key} (2 words); the four
     * output words are written to {@code out}.
     */
    public static void philox4x32_10(int[] ctr, int[] key, int[] out) {
        int c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
        int k0 = key[0], k1 = key[1];
        for (int r = 0; r < 10; r++) {
            if (r > 0) {
                k0 += W0;
                k1 += W1;
            }
            long p0 = (M0 & 0xFFFFFFFFL) * (c0 & 0xFFFFFFFFL);
            long p1 = (M1 & 0xFFFFFFFFL) * (c2 & 0xFFFFFFFFL);
            int hi0 = (int) (p0 >>> 32), lo0 = (int) p0;
            int hi1 = (int) (p1 >>> 32), lo1 = (int) p1;
            int n0 = hi1 ^ c1 ^ k0;
            int n1 = lo1;
            int n2 = hi0 ^ c3 ^ k1;
            int n3 = lo0;
            c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        }
        out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
    }

    /** The four words for block {@code b} under {@code seed}. */
    public static void block(long seed, long b, int[] out) {
        philox4x32_10(new int[] {(int) b, (int) (b >>> 32), 0, 0}, new int[] {(int) seed, (int) (seed >>> 32)}, out);
    }

    /** Uniform float in [0, 1) for global index g. */
    public static float uniform(long seed, long g) {
        int[] x = new int[4];
        block(seed, g >>> 2, x);
        return uniformFromWord(x[(int) (g & 3)]);
    }

    /** Standard normal float for global index g. */
    public static float normal(long seed, long g) {
        int[] x = new int[4];
        block(seed, g >>> 2, x);
        int l = (int) (g & 3);
        return normalFromWords(x[l & ~1], x[l | 1], (l & 1) == 0);
    }

    public static float uniformFromWord(int x) {
        return (float) ((x >>> 8) * TWO_POW_M24);
    }

    /** Box-Muller on a pair of words; {@code cos} selects the even-lane (cosine) output. */
    public static float normalFromWords(int xa, int xb, boolean cos) {
        double u1 = ((xa >>> 8) + 1) * TWO_POW_M24;
        double u2 = (xb >>> 8) * TWO_POW_M24;
        double r = Math.sqrt(-2.0 * Math.log(u1));
        double theta = TWO_PI * u2;
        return (float) (cos ? r * Math.cos(theta) : r * Math.sin(theta));
    }

    /**
     * Fills {@code out[from..to)} with normals for global indices {@code base + from ... base + to - 1}; one
     * Philox call per four elements.
     */
    public static void fillNormal(float[] out, int outOffset, long seed, long base, int from, int to) {
        int[] key = {(int) seed, (int) (seed >>> 32)};
        int[] ctr = new int[4];
        int[] x = new int[4];
        long curBlock = -1;
        for (int i = from; i < to; i++) {
            long g = base + i;
            long b = g >>> 2;
            if (b != curBlock) {
                ctr[0] = (int) b;
                ctr[1] = (int) (b >>> 32);
                philox4x32_10(ctr, key, x);
                curBlock = b;
            }
            int l = (int) (g & 3);
            out[outOffset + i] = normalFromWords(x[l & ~1], x[l | 1], (l & 1) == 0);
        }
    }

    /** Like {@link #fillNormal} for uniforms in [0, 1). */
    public static void fillUniform(float[] out, int outOffset, long seed, long base, int from, int to) {
        int[] key = {(int) seed, (int) (seed >>> 32)};
        int[] ctr = new int[4];
        int[] x = new int[4];
        long curBlock = -1;
        for (int i = from; i < to; i++) {
            long g = base + i;
            long b = g >>> 2;
            if (b != curBlock) {
                ctr[0] = (int) b;
                ctr[1] = (int) (b >>> 32);
                philox4x32_10(ctr, key, x);
                curBlock = b;
            }
            out[outOffset + i] = uniformFromWord(x[(int) (g & 3)]);
        }
    }

    /**
     * A small stateful stream over the same mapping, for host-side draws (timesteps, label dropout, shuffles):
     * each call consumes the next global index.
     */
    public static final class Stream {
        private final long seed;
        private long position;

        public Stream(long seed, long position) {
            this.seed = seed;
            this.position = position;
        }

        public long seed() { return seed; }

        public long position() { return position; }

        public float nextUniform() { return uniform(seed, position++); }

        public float nextNormal() { return normal(seed, position++); }

        /** Uniform integer in [0, bound), by rejection (unbiased). */
        public int nextInt(int bound) {
            if (bound <= 0) throw new IllegalArgumentException("bound must be positive");
            int[] x = new int[4];
            while (true) {
                block(seed, position >>> 2, x);
                long v = x[(int) (position & 3)] & 0xFFFFFFFFL;
                position++;
                long limit = (1L << 32) - ((1L << 32) % bound);
                if (v < limit) return (int) (v % bound);
            }
        }
    }
}
