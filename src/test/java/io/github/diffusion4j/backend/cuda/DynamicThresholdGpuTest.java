package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.diffusion.DdimScheduler;
import io.github.diffusion4j.diffusion.DpmSolverMultistepScheduler;
import io.github.diffusion4j.diffusion.Scheduler;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dynamicThreshold} (kernels/diffusion.cu d4j_dynamic_threshold: radix selection of the quantile) against the
 * CPU reference, bit for bit: sample sizes below, at and above a block, ties, zeros, every ratio's corner; then
 * thresholded DDIM and DPM-Solver++ sampling loops.
 */
@Tag("gpu")
class DynamicThresholdGpuTest {
    static CudaBackend gpu;

    @BeforeAll static void start() { gpu = StrictGpu.open(); }

    @AfterAll static void stop() { if (gpu != null) gpu.close(); }

    static float[] run(Backend b, float[] v, int n, float ratio, float max) {
        try (Tensor x = b.fromArray(v, Shape.of(n, v.length / n))) {
            b.dynamicThreshold(x, ratio, max);
            return x.toArray();
        }
    }

    @Test
    void matchesTheCpuBitForBit() {
        for (int per : new int[] {1, 3, 31, 256, 257, 3 * 32 * 32}) {
            int n = 3;
            float[] v = new float[n * per];
            Philox.fillNormal(v, 0, per, 0, 0, v.length);
            for (int i = 0; i < v.length; i++) {
                v[i] *= 1 + 2 * (i / per);
                if (i % 7 == 0) v[i] = 0f;                       // zeros
                if (i % 11 == 0) v[i] = i % 2 == 0 ? 2.5f : -2.5f;   // ties of |x|
            }
            for (float[] rm : new float[][] {{0.995f, 1e9f}, {0f, 1e9f}, {1f, 1e9f}, {0.5f, 1.5f}, {0.995f, 1f}}) {
                float[] c = run(CpuBackend.get(), v, n, rm[0], rm[1]), g = run(gpu, v, n, rm[0], rm[1]);
                for (int i = 0; i < c.length; i++) {
                    assertEquals(Float.floatToIntBits(c[i]), Float.floatToIntBits(g[i]),
                            "per " + per + " ratio " + rm[0] + " max " + rm[1] + " element " + i + ": " + c[i] + " vs " + g[i]);
                }
            }
        }
    }

    @Test
    void thresholdedSamplersMatchTheCpu() {
        java.util.Map<String, Supplier<Scheduler>> cases = new java.util.LinkedHashMap<>();
        cases.put("ddim", () -> new DdimScheduler(SchedulerConfig.builder().thresholding(true).sampleMaxValue(1e9).build()));
        cases.put("dpmpp", () -> new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults().thresholding(true)
                .sampleMaxValue(1e9).build()));
        for (var e : cases.entrySet()) {
            float[] c = StrictGpu.linearSamples(CpuBackend.get(), e.getValue().get(), 8), g = StrictGpu.linearSamples(gpu, e.getValue().get(), 8);
            double d = 0;
            for (int i = 0; i < c.length; i++) d = Math.max(d, Math.abs(c[i] - g[i]));
            assertTrue(d < 1e-5, e.getKey() + ": " + d);
        }
    }
}
