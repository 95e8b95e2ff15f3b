package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.diffusion.DdpmScheduler;
import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.Sampler;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.diffusion.TrainingObjective;
import io.github.diffusion4j.diffusion.VarianceType;
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
 * The learned variance on the GPU against the CPU: {@code vlbLoss} (kernels/diffusion.cu d4j_vlb_loss, float there,
 * double on the CPU) through the objective's hybrid loss, and DDPM sampling with learned_range (the fused step
 * reading the variance half).
 */
@Tag("gpu")
class VlbLossGpuTest {
    static CudaBackend gpu;

    @BeforeAll static void start() { gpu = StrictGpu.open(); }

    @AfterAll static void stop() { if (gpu != null) gpu.close(); }

    /** vb per sample, then dOut: the hybrid loss of a prepared batch and a fixed model output. */
    float[][] hybrid(Backend b, float[] x0, float[] out) {
        NoiseSchedule s = NoiseSchedule.of(SchedulerConfig.builder().build());
        try (TrainingObjective o = TrainingObjective.builder(s).learnSigma(0.001).build();
             Tensor x = b.fromArray(x0, Shape.of(6, 2, 8, 8)); Tensor m = b.fromArray(out, Shape.of(6, 4, 8, 8))) {
            TrainingObjective.Batch batch = o.prepare(x, null, 3, 17);
            TrainingObjective.LossResult r = o.loss(batch, m);
            return new float[][] {{(float) r.loss(), r.metrics().get("vb").floatValue()}, r.dOut().toArray()};
        } finally {
            s.close();
        }
    }

    @Test
    void hybridLossMatchesTheCpu() {
        float[] x0 = new float[6 * 2 * 64], out = new float[6 * 4 * 64];
        Philox.fillUniform(x0, 0, 1, 0, 0, x0.length);
        Philox.fillUniform(out, 0, 2, 0, 0, out.length);
        for (int i = 0; i < x0.length; i++) x0[i] = 2 * x0[i] - 1;
        for (int i = 0; i < out.length; i++) out[i] = 2 * out[i] - 1;
        float[][] c = hybrid(CpuBackend.get(), x0, out), g = hybrid(gpu, x0, out);
        assertTrue(StrictGpu.maxRelDiff(c[0], g[0]) < 1e-4, "loss and vb: " + java.util.Arrays.toString(c[0]) + " vs " + java.util.Arrays.toString(g[0]));
        assertTrue(StrictGpu.maxRelDiff(c[1], g[1]) < 1e-4, "gradients: " + StrictGpu.maxRelDiff(c[1], g[1]));
    }

    /** A "model" with a fixed learned-variance output: eps 0.8 x, v = 0.3 (its arithmetic on the device). */
    static io.github.diffusion4j.diffusion.Denoiser learned() {
        return (xt, t, labels) -> {
            Backend b = xt.backend();
            Tensor out = b.empty(xt.shape().withDim(1, 2 * xt.dim(1)));
            try (Tensor eps = b.empty(xt.shape()); Tensor v = b.empty(xt.shape())) {
                b.scale(eps, xt, 0.8f);
                b.fill(v, 0.3f);
                b.concatChannels(out, eps, v);
            }
            return out;
        };
    }

    @Test
    void learnedRangeSamplingMatchesTheCpu() {
        float[][] r = new float[2][];
        Backend[] bs = {CpuBackend.get(), gpu};
        for (int k = 0; k < 2; k++) {
            try (DdpmScheduler s = new DdpmScheduler(SchedulerConfig.builder().varianceType(VarianceType.LEARNED_RANGE).build())) {
                s.setTimesteps(10);
                try (Tensor x = new Sampler(s, learned()).seed(4).sample(bs[k], Shape.of(2, 3, 8, 8))) {
                    r[k] = x.toArray();
                }
            }
        }
        assertTrue(StrictGpu.maxRelDiff(r[0], r[1]) < 2e-5, "learned_range DDPM: " + StrictGpu.maxRelDiff(r[0], r[1]));
    }
}
