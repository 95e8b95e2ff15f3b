package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Launch configurations follow the rules in kernels/common.cuh and philox.cuh. */
class LaunchConfigTest {

    @Test void gridStrideBlocks() {
        assertEquals(1, LaunchConfig.blocks(0));
        assertEquals(1, LaunchConfig.blocks(1));
        assertEquals(1, LaunchConfig.blocks(256));
        assertEquals(2, LaunchConfig.blocks(257));
        assertEquals(LaunchConfig.MAX_BLOCKS, LaunchConfig.blocks(1L << 40));
    }

    /** philoxBlockCount is the number of distinct g >> 2 for g in [offset, offset + n), like d4j::block_count. */
    @Test void philoxBlocksCoverTheIndicesExactly() {
        for (long offset : new long[] {0, 1, 2, 3, 4, 5, 1L << 40, (1L << 40) + 3, Long.MAX_VALUE - 100}) {
            for (long n = 1; n <= 13; n++) {
                long distinct = 0, last = Long.MIN_VALUE;
                for (long g = offset; g < offset + n; g++) {
                    if ((g >>> 2) != last) distinct++;
                    last = g >>> 2;
                }
                assertEquals(distinct, LaunchConfig.philoxBlockCount(n, offset), "n " + n + ", offset " + offset);
            }
        }
        assertEquals(0, LaunchConfig.philoxBlockCount(0, 5));
        assertEquals(1, LaunchConfig.philoxBlocks(1000, 7));   // 251 Philox blocks, one thread each
        assertEquals(2, LaunchConfig.philoxBlocks(4 * 256 + 1, 0));
    }

    @Test void reductionBlocks() {
        assertEquals(1, LaunchConfig.reduceBlocks(1));
        assertEquals(1, LaunchConfig.reduceBlocks(1024));
        assertEquals(2, LaunchConfig.reduceBlocks(1025));
        assertEquals(LaunchConfig.MAX_REDUCE_BLOCKS, LaunchConfig.reduceBlocks(1L << 30));
    }

    @Test void rowThreadsArePowersOfTwoAndWarpMultiples() {
        for (long len = 0; len <= 1000; len++) {
            int t = LaunchConfig.rowThreads(len);
            assertTrue(t >= 32 && t <= 256 && Integer.bitCount(t) == 1 && t % 32 == 0, "len " + len + " -> " + t);
            if (len > 32 && len < 256) assertTrue(t >= len && t / 2 < len, "smallest power of two >= " + len + ": " + t);
        }
        assertEquals(32, LaunchConfig.rowThreads(32));
        assertEquals(64, LaunchConfig.rowThreads(33));
        assertEquals(64, LaunchConfig.rowThreads(64));
        assertEquals(256, LaunchConfig.rowThreads(1 << 20));
        assertThrows(IllegalArgumentException.class, () -> LaunchConfig.rows(1L << 32));
    }
}
