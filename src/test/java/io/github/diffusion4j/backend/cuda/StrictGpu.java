package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Assumptions;

/** The device of the GPU-against-CPU tests: a strict-FP32 CUDA backend (or the test skipped with the reason), and their measure. */
final class StrictGpu {
    private StrictGpu() {}

    static CudaBackend open() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
        return CudaBackend.create(CudaOptions.strictFp32(0));
    }

    /**
     * A trajectory of {@code steps} steps from seed 5 for [2, 3, 8, 8] with the fixed linear model of
     * {@link FlowMatchGpuTest#linear()}, on {@code b}; the scheduler is closed afterwards.
     */
    static float[] linearSamples(io.github.diffusion4j.tensor.Backend b, io.github.diffusion4j.diffusion.Scheduler s, int steps) {
        s.setTimesteps(steps);
        try (io.github.diffusion4j.tensor.Tensor x = new io.github.diffusion4j.diffusion.Sampler(s, FlowMatchGpuTest.linear())
                .seed(5).sample(b, io.github.diffusion4j.tensor.Shape.of(2, 3, 8, 8))) {
            return x.toArray();
        } finally {
            s.close();
        }
    }

    /** The largest |a - b| / max(1, |a|). */
    static double maxRelDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
        return d;
    }
}
