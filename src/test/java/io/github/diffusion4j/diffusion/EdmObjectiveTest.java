package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * EDM's preconditioning and training objective against the paper's formulas (Karras et al. 2022, table 1 and
 * section 5), computed here independently of the objective's coefficient tables.
 */
class EdmObjectiveTest {
    static final int N = 6, C = 2, H = 4, T = 1000;
    static final long SEED = 7, STEP = 4;
    static final double SD = 0.5, P_MEAN = -1.2, P_STD = 1.2;

    /** D = c_skip x + c_out F_target recovers x0 exactly, and F's input and target have unit variance at every sigma. */
    @Test
    void preconditioningFormulas() {
        EdmPreconditioning p = EdmPreconditioning.of(SD);
        for (double sigma : new double[] {0.002, 0.05, 0.5, 3, 80}) {
            double r2 = sigma * sigma + SD * SD;
            assertEquals(SD * SD / r2, p.cSkip(sigma), 1e-15);
            assertEquals(sigma * SD / Math.sqrt(r2), p.cOut(sigma), 1e-15);
            assertEquals(1 / Math.sqrt(r2), p.cIn(sigma), 1e-15);
            assertEquals(Math.log(sigma) / 4, p.cNoise(sigma), 1e-15);
            assertEquals(250 * Math.log(sigma), p.modelTimestep(sigma), 1e-3);
            double[] tg = p.targetCoefficients(sigma);
            // x0 and eps arbitrary: D(x0 + sigma eps) with F = target gives x0
            double x0 = 0.37, eps = -1.3, x = x0 + sigma * eps;
            double target = tg[0] * x0 + tg[1] * eps;
            assertEquals(x0, p.cSkip(sigma) * x + p.cOut(sigma) * target, 1e-12, "D recovers x0 at sigma " + sigma);
            assertEquals(target, (x0 - p.cSkip(sigma) * x) / p.cOut(sigma), 1e-9, "the target is (x0 - c_skip x) / c_out");
            // x0 ~ N(0, sd^2), eps ~ N(0, 1) independent: Var(c_in x) = Var(target) = 1
            assertEquals(1, p.cIn(sigma) * p.cIn(sigma) * (SD * SD + sigma * sigma), 1e-12);
            assertEquals(1, tg[0] * tg[0] * SD * SD + tg[1] * tg[1], 1e-12);
        }
    }

    /** prepare(): sigma from exp(P_mean + P_std n) of the stream, input c_in (x0 + sigma eps), the target, weight 1. */
    @Test
    void prepareAsTheFormulas() {
        Backend cpu = CpuBackend.get();
        NoiseSchedule schedule = NoiseSchedule.of(SchedulerConfig.builder().numTrainTimesteps(T).build());
        EdmPreconditioning p = EdmPreconditioning.of(SD);
        float[] x0 = new float[N * C * H * H];
        Philox.fillUniform(x0, 0, 99, 0, 0, x0.length);
        try (TrainingObjective obj = TrainingObjective.builder(schedule).edm(p, P_MEAN, P_STD).build();
             Tensor x = cpu.fromArray(x0, Shape.of(N, C, H, H))) {
            assertTrue(obj.edm() && !obj.flowMatching());
            TrainingObjective.Batch b = obj.prepare(x, null, SEED, STEP);
            float[] xt = b.xt().toArray(), target = b.target().toArray(), ts = b.timesteps().toArray();
            long base = STEP * TrainingObjective.STEP_STRIDE;
            Philox.Stream z = new Philox.Stream(SEED, base + TrainingObjective.TIMESTEPS_AT);
            int per = C * H * H;
            for (int n = 0; n < N; n++) {
                double sigma = Math.exp(P_MEAN + P_STD * z.nextNormal());
                double r = Math.sqrt(sigma * sigma + SD * SD);
                assertEquals(250 * Math.log(sigma), ts[n], 1e-3, "model timestep " + n);
                assertEquals(1f, b.weights()[n]);
                double zq = (Math.log(sigma) - P_MEAN) / P_STD;
                assertEquals(zq < -0.6745 ? 0 : zq < 0 ? 1 : zq < 0.6745 ? 2 : 3, b.quartiles()[n], "quartile " + n);
                for (int i = n * per; i < (n + 1) * per; i++) {
                    double eps = Philox.normal(SEED, base + i);
                    assertEquals((x0[i] + sigma * eps) / r, xt[i], 1e-5, "input " + i);
                    assertEquals((sigma / SD * x0[i] - SD * eps) / r, target[i], 1e-5, "target " + i);
                }
            }
        } finally {
            schedule.close();
        }
    }

    /** Over many steps ln sigma has EDM's mean and standard deviation and the quartiles are a quarter each. */
    @Test
    void logNormalDraws() {
        Backend cpu = CpuBackend.get();
        NoiseSchedule schedule = NoiseSchedule.of(SchedulerConfig.builder().numTrainTimesteps(T).build());
        int steps = 250, n = 16;
        double m = 0, q = 0;
        int[] quart = new int[4];
        try (TrainingObjective obj = TrainingObjective.builder(schedule).edm(EdmPreconditioning.of(SD), P_MEAN, P_STD).build();
             Tensor x = cpu.zeros(Shape.of(n, 1, 2, 2))) {
            for (int s = 0; s < steps; s++) {
                TrainingObjective.Batch b = obj.prepare(x, null, SEED, s);
                float[] ts = b.timesteps().toArray();
                for (int i = 0; i < n; i++) {
                    double ls = ts[i] / 250.0;
                    m += ls;
                    q += ls * ls;
                    quart[b.quartiles()[i]]++;
                }
            }
        } finally {
            schedule.close();
        }
        int count = steps * n;
        m /= count;
        double sd = Math.sqrt(q / count - m * m);
        // 4000 draws: the mean's standard error is 1.2 / 63 = 0.019, the std's 0.013; 4 of them
        assertEquals(P_MEAN, m, 0.08, "mean of ln sigma");
        assertEquals(P_STD, sd, 0.06, "std of ln sigma");
        for (int k = 0; k < 4; k++) assertEquals(count / 4.0, quart[k], 0.1 * count / 4.0 + 40, "quartile " + k);
    }

    @Test
    void refusals() {
        NoiseSchedule schedule = NoiseSchedule.of(SchedulerConfig.builder().numTrainTimesteps(T).build());
        EdmPreconditioning p = EdmPreconditioning.of(SD);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainingObjective.builder(schedule).minSnrWeighting(5).edm(p, P_MEAN, P_STD).build());
        assertTrue(e.getMessage().contains("min-SNR") && e.getMessage().contains("EDM"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> TrainingObjective.builder(schedule).flowMatching(true, 1).edm(p, P_MEAN, P_STD).build());
        assertTrue(e.getMessage().contains("choose one"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TrainingObjective.builder(schedule).edm(p, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> EdmPreconditioning.of(0));
        schedule.close();
    }
}
