package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.diffusion.FlowMatchEulerScheduler;
import io.github.diffusion4j.diffusion.FlowMatchHeunScheduler;
import io.github.diffusion4j.diffusion.FlowMatchScheduler;
import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.Sampler;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.diffusion.TrainingObjective;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Flow matching on the GPU against the CPU: the training objective's x_t and target (two qSample passes with
 * per-sample tables) and the Euler and Heun sampling loops (fused diffusionStep passes, the Heun velocity buffer)
 * with the same seeds and a fixed linear "model".
 */
@Tag("gpu")
class FlowMatchGpuTest {
    static CudaBackend gpu;

    @BeforeAll static void start() { gpu = StrictGpu.open(); }

    @AfterAll static void stop() { if (gpu != null) gpu.close(); }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    float[][] prepare(Backend b, float[] x0) {
        NoiseSchedule s = NoiseSchedule.of(SchedulerConfig.builder().build());
        try (TrainingObjective o = TrainingObjective.builder(s).flowMatching(true, 3.0).offsetNoise(0.1f).build();
             Tensor x = b.fromArray(x0, Shape.of(4, 3, 8, 8))) {
            TrainingObjective.Batch batch = o.prepare(x, null, 7, 2);
            return new float[][] {batch.xt().toArray(), batch.target().toArray(), batch.timesteps().toArray()};
        } finally {
            s.close();
        }
    }

    @Test
    void objectiveMatchesTheCpu() {
        float[] x0 = new float[4 * 3 * 8 * 8];
        Philox.fillUniform(x0, 0, 3, 0, 0, x0.length);
        float[][] c = prepare(CpuBackend.get(), x0), g = prepare(gpu, x0);
        for (int k = 0; k < 3; k++) assertTrue(maxDiff(c[k], g[k]) < 1e-5, "part " + k + ": " + maxDiff(c[k], g[k]));
    }

    /** A "model" that predicts 0.8 x - 0.1 on any backend (its arithmetic on the device). */
    static io.github.diffusion4j.diffusion.Denoiser linear() {
        return (xt, t, labels) -> {
            Tensor out = xt.backend().empty(xt.shape());
            try (Tensor bias = xt.backend().empty(xt.shape())) {
                xt.backend().fill(bias, -0.1f);
                xt.backend().axpby(out, 0.8f, xt, 1f, bias);
            }
            return out;
        };
    }

    float[] sample(Backend b, FlowMatchScheduler s) {
        s.setTimesteps(6);
        try (Tensor x = new Sampler(s, linear()).seed(5).sample(b, Shape.of(2, 3, 8, 8))) {
            return x.toArray();
        }
    }

    @Test
    void eulerAndHeunLoopsMatchTheCpu() {
        for (boolean heun : new boolean[] {false, true}) {
            float[] c = sample(CpuBackend.get(), heun ? new FlowMatchHeunScheduler(1000, 3) : new FlowMatchEulerScheduler(1000, 3));
            float[] g;
            try (FlowMatchScheduler s = heun ? new FlowMatchHeunScheduler(1000, 3) : new FlowMatchEulerScheduler(1000, 3)) {
                g = sample(gpu, s);
            }
            assertTrue(maxDiff(c, g) < 1e-5, (heun ? "heun " : "euler ") + maxDiff(c, g));
        }
    }
}
