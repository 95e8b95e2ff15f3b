package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The flow-matching training objective against its formulas, computed here from the documented draws: sigma from
 * the shifted table at floor(u T) (u = sigmoid of a normal for logit-normal), x_t = (1 - sigma) x0 + sigma eps,
 * target eps - x0, model timestep sigma T, weight 1.
 */
class FlowMatchObjectiveTest {
    static final int N = 6, C = 2, H = 4, T = 1000;
    static final long SEED = 5, STEP = 3;

    void check(boolean logitNormal, double shift) {
        Backend cpu = CpuBackend.get();
        NoiseSchedule schedule = NoiseSchedule.of(SchedulerConfig.builder().numTrainTimesteps(T).build());
        float[] x0 = new float[N * C * H * H];
        Philox.fillUniform(x0, 0, 99, 0, 0, x0.length);
        double[] table = FlowMatchScheduler.trainingSigmas(T, shift);
        try (TrainingObjective obj = TrainingObjective.builder(schedule).flowMatching(logitNormal, shift).build();
             Tensor x = cpu.fromArray(x0, Shape.of(N, C, H, H))) {
            TrainingObjective.Batch b = obj.prepare(x, null, SEED, STEP);
            float[] xt = b.xt().toArray(), target = b.target().toArray(), ts = b.timesteps().toArray();
            long base = STEP * TrainingObjective.STEP_STRIDE;
            Philox.Stream u = new Philox.Stream(SEED, base + TrainingObjective.TIMESTEPS_AT);
            int per = C * H * H;
            double minS = 1, maxS = 0;
            for (int n = 0; n < N; n++) {
                double un = logitNormal ? 1 / (1 + Math.exp(-u.nextNormal())) : u.nextUniform();
                double sigma = table[Math.min(T - 1, (int) (un * T))];
                minS = Math.min(minS, sigma);
                maxS = Math.max(maxS, sigma);
                assertEquals((float) (sigma * T), ts[n], 1e-3f * T, "model timestep " + n);
                assertEquals(1f, b.weights()[n]);
                for (int i = n * per; i < (n + 1) * per; i++) {
                    double eps = Philox.normal(SEED, base + i);
                    assertEquals((1 - sigma) * x0[i] + sigma * eps, xt[i], 1e-5, "x_t " + i);
                    assertEquals(eps - x0[i], target[i], 1e-5, "target " + i);
                }
            }
            assertTrue(maxS > minS, "sigmas vary over the batch");
        } finally {
            schedule.close();
        }
    }

    @Test void logitNormal() { check(true, 1.0); }

    @Test void uniformShifted() { check(false, 3.0); }

    @Test
    void minSnrIsRefused() {
        NoiseSchedule schedule = NoiseSchedule.of(SchedulerConfig.builder().numTrainTimesteps(T).build());
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> TrainingObjective.builder(schedule).minSnrWeighting(5).flowMatching(true, 1).build());
        assertTrue(e.getMessage().contains("min-SNR"), e.getMessage());
        schedule.close();
    }
}
