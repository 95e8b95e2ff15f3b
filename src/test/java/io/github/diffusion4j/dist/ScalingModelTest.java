package io.github.diffusion4j.dist;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The scaling model against hand-computed cases. */
class ScalingModelTest {
    static final ScalingModel.Link LINK = new ScalingModel.Link("test", 100, 10);   // 100 GB/s, 10 µs

    @Test
    void ringAllReduceTime() {
        // 8 ranks, 100 MB: 10 µs + 2 * 7/8 * 1e8 B / 1e11 B/s = 0.01 + 1.75 ms
        assertEquals(1.76, ScalingModel.allReduceMs(100_000_000L, 8, LINK), 1e-12);
        assertEquals(0, ScalingModel.allReduceMs(100_000_000L, 1, LINK));
        // 2 ranks: factor 1
        assertEquals(0.01 + 1.0, ScalingModel.allReduceMs(100_000_000L, 2, LINK), 1e-12);
    }

    @Test
    void aBucketReadyAtTheEndIsAllExposed() {
        ScalingModel.Profile p = new ScalingModel.Profile(50, 40, new double[] {40}, new long[] {100_000_000L});
        ScalingModel.Prediction r = ScalingModel.predict(p, 8, LINK);
        assertEquals(1.76, r.exposedMs(), 1e-12);
        assertEquals(51.76, r.stepMs(), 1e-12);
        assertEquals(50 / 51.76, r.efficiency(), 1e-12);
    }

    @Test
    void earlyBucketsHideAndQueueBehindEachOther() {
        // two 100 MB buckets ready at 0 and 1 ms, backward ends at 3 ms: the second starts at 1.76 (queued behind the
        // first), ends at 3.52: 0.52 ms exposed
        ScalingModel.Profile p = new ScalingModel.Profile(10, 3, new double[] {0, 1}, new long[] {100_000_000L, 100_000_000L});
        ScalingModel.Prediction r = ScalingModel.predict(p, 8, LINK);
        assertEquals(3.52, r.commMs(), 1e-12);
        assertEquals(0.52, r.exposedMs(), 1e-12);
        // all of it hidden when the backward pass runs longer
        ScalingModel.Profile q = new ScalingModel.Profile(10, 5, new double[] {0, 1}, new long[] {100_000_000L, 100_000_000L});
        assertEquals(1.0, ScalingModel.predict(q, 8, LINK).efficiency(), 1e-12);
    }
}
