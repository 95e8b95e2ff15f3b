package io.github.diffusion4j.dist;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.bench.BucketProfile;
import io.github.diffusion4j.bench.TrainSettings;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bucket plan, the order buckets start in during a backward pass, and the scaling profile built on them. */
class GradientBucketsTest {
    @Test
    void bucketsCoverEveryParameterOnceLastFirstWithinTheCaps() {
        Model m = Presets.create("small", 3, 32, 0);
        List<Param> ps = m.params().params();
        long cap = 1 << 20, first = 256 << 10;
        List<GradientBuckets.Bucket> plan = GradientBuckets.plan(ps, cap, first);
        Set<Param> seen = new HashSet<>();
        long prevFrom = Long.MAX_VALUE;
        for (int k = 0; k < plan.size(); k++) {
            GradientBuckets.Bucket b = plan.get(k);
            long params = 0;
            for (Param p : b.params()) {
                assertTrue(seen.add(p), "twice: " + p);
                assertTrue(p.offset() >= b.from() && p.offset() + p.shape().numel() <= b.to(), p + " outside " + b);
                params += p.shape().numel() * 4L;
            }
            long limit = k == 0 ? first : cap;
            assertTrue(params <= limit || b.params().size() == 1, "bucket " + k + ": " + params + " bytes");
            assertTrue(b.to() <= prevFrom, "buckets run from the end of the flat buffer to its start");
            prevFrom = b.from();
        }
        assertEquals(ps.size(), seen.size());
        assertEquals(0, plan.get(plan.size() - 1).from(), "the last bucket ends at the first parameter");
    }

    /**
     * A backward pass of the U-Net with small buckets: the buckets start in order, most of them before the pass ends
     * (between blocks), and each sums exactly its range of the flat gradient buffer.
     */
    @Test
    void bucketsStartInOrderDuringTheBackwardPass() {
        var cpu = CpuBackend.get();
        Model m = Presets.create("tiny", 3, 16, 0);
        m.params().allocate(cpu, 1);
        List<long[]> started = new ArrayList<>();
        boolean[] backwardOver = {false};
        int[] early = {0};
        AllReduce record = new AllReduce() {
            @Override public void start(Tensor t) {
                started.add(new long[] {t.offset(), t.offset() + t.size()});
                if (!backwardOver[0]) early[0]++;
            }

            @Override public void finish(String what) {}

            @Override public int ranks() { return 1; }

            @Override public void close() {}
        };
        try (GradientBuckets b = new GradientBuckets(m.params(), record, 64 << 10, 64 << 10);
             io.github.diffusion4j.bench.BenchTraining step = new io.github.diffusion4j.bench.BenchTraining(m, TrainSettings.benchmark(), 1);
             Tensor x = cpu.zeros(2, 3, 16, 16)) {
            cpu.randn(x, 3, 0);
            m.params().zeroGrad();
            b.arm();
            step.forwardBackward(x, null, 1);
            backwardOver[0] = true;
            b.finish("test");
            assertEquals(b.buckets().size(), started.size());
            for (int k = 0; k < started.size(); k++) {
                assertEquals(b.buckets().get(k).from(), started.get(k)[0]);
                assertEquals(b.buckets().get(k).to(), started.get(k)[1]);
            }
            assertEquals(early[0], b.startedEarly());
            assertTrue(b.buckets().size() >= 5 && early[0] >= b.buckets().size() / 2 && early[0] < b.buckets().size(),
                    b.buckets().size() + " buckets, " + early[0] + " during the backward pass");
        } finally {
            m.params().close();
        }
    }

    @Test
    void theProfileOrdersReadyTimesWithinTheBackwardPass() {
        var cpu = CpuBackend.get();
        Model m = Presets.create("tiny", 3, 16, 0);
        m.params().allocate(cpu, 1);
        try {
            BucketProfile.Result r = BucketProfile.measure(m, TrainSettings.benchmark(), cpu, 2, 1, 2, 64 << 10, 1, line -> {});
            ScalingModel.Profile p = r.profile();
            assertTrue(p.readyMs().length >= 5);
            double prev = 0;
            for (double t : p.readyMs()) {
                assertTrue(t >= prev && t <= p.backwardEndMs(), java.util.Arrays.toString(p.readyMs()));
                prev = t;
            }
            assertTrue(p.backwardEndMs() <= p.stepMs());
            // the buckets' ranges hold every parameter and the alignment padding between them
            assertTrue(p.totalBytes() >= m.params().count() * 4 && p.totalBytes() <= m.params().flatSize() * 4, p.totalBytes() + " bytes");
        } finally {
            m.params().close();
        }
    }
}
