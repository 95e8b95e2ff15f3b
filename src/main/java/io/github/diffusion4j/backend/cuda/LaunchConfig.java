package io.github.diffusion4j.backend.cuda;

/**
 * Grid and block sizes of our kernels, following the launch rules documented in kernels/common.cuh and the
 * individual .cu files. The reductions are deterministic only for a fixed configuration, so every size here is
 * a function of the tensor shape alone.
 */
final class LaunchConfig {
    private LaunchConfig() {}

    /** Threads per block of the 1-D grid-stride kernels. */
    static final int THREADS = 256;
    /** Grid cap of the grid-stride kernels (common.cuh): enough blocks to fill any current GPU many times. */
    static final int MAX_BLOCKS = 65535 * 8;
    /** Threads of the whole-tensor reduction passes (reduce.cu). */
    static final int REDUCE_THREADS = 256;
    /** Most partial sums of the first reduction pass (the scratch buffer holds this many doubles). */
    static final int MAX_REDUCE_BLOCKS = 1024;
    /** Elements per reduction block below which fewer blocks are used. */
    static final int REDUCE_ELEMENTS_PER_BLOCK = 1024;

    /** Blocks of a 1-D grid-stride kernel over {@code n} work items: min(ceil(n / 256), MAX_BLOCKS), at least 1. */
    static int blocks(long n) {
        if (n <= 0) return 1;
        return (int) Math.min((n + THREADS - 1) / THREADS, MAX_BLOCKS);
    }

    /**
     * Philox blocks (of four consecutive global indices) that cover the indices [offset, offset + n), n > 0, as
     * d4j::block_count in philox.cuh: offsets are treated as unsigned 64-bit values.
     */
    static long philoxBlockCount(long n, long offset) {
        if (n <= 0) return 0;
        return ((offset + n - 1) >>> 2) - (offset >>> 2) + 1;
    }

    /** Blocks of a kernel with one thread per Philox block (randn, rand, dropout, the fused diffusion ops). */
    static int philoxBlocks(long n, long offset) {
        return blocks(philoxBlockCount(n, offset));
    }

    /** Blocks of the first reduction pass (d4j_sum_partials): min(ceil(n / 1024), 1024), at least 1. */
    static int reduceBlocks(long n) {
        if (n <= 0) return 1;
        return (int) Math.min((n + REDUCE_ELEMENTS_PER_BLOCK - 1) / REDUCE_ELEMENTS_PER_BLOCK, MAX_REDUCE_BLOCKS);
    }

    /**
     * Threads of a one-block-per-row kernel (softmax, group norm, per-sample / per-channel sums) whose rows have
     * {@code rowLength} elements: the next power of two, clamped to [32, 256] (a multiple of the warp size, as
     * block_sum requires).
     */
    static int rowThreads(long rowLength) {
        if (rowLength <= 32) return 32;
        if (rowLength >= 256) return 256;
        return Integer.highestOneBit((int) rowLength - 1) << 1;
    }

    /** Grid size check for one-block-per-row launches (gridDim.x is at most 2^31 - 1). */
    static int rows(long rows) {
        if (rows > Integer.MAX_VALUE) throw new IllegalArgumentException("too many rows for one launch: " + rows);
        return (int) Math.max(rows, 1);
    }
}
