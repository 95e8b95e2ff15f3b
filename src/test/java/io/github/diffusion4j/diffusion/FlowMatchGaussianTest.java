package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Locale;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The flow-matching samplers with the exact velocity field of Gaussian data x0 ~ N(mu, s^2) (each element): for
 * x = (1 - sigma) x0 + sigma eps, E[eps - x0 | x] = ((sigma - (1 - sigma) s^2) / V) (x - (1 - sigma) mu) - mu with
 * V = (1 - sigma)^2 s^2 + sigma^2, and the ODE from sigma = 1 carries noise z exactly to mu + s z. So the samples
 * must land on N(mu, s^2), and each trajectory's error against mu + s z must shrink at the method's order.
 */
class FlowMatchGaussianTest {
    static final double MU = 0.3, S = 0.5;
    static final Shape SHAPE = Shape.of(8, 1, 16, 16);
    static final long SEED = 11;

    /** The exact velocity; the model's timestep input is sigma * T. */
    static Denoiser analytic(int numTrain) {
        return (xt, timesteps, labels) -> {
            Backend b = xt.backend();
            float[] x = xt.toArray(), t = timesteps.toArray();
            int per = x.length / t.length;
            float[] v = new float[x.length];
            for (int i = 0; i < x.length; i++) {
                double sigma = t[i / per] / numTrain;
                double var = (1 - sigma) * (1 - sigma) * S * S + sigma * sigma;
                v[i] = (float) ((sigma - (1 - sigma) * S * S) / var * (x[i] - (1 - sigma) * MU) - MU);
            }
            return b.fromArray(v, xt.shape());
        };
    }

    /** The largest error of the samples against the exact end point mu + s z of their initial noise z. */
    static double error(FlowMatchScheduler sch, int steps) {
        Backend cpu = CpuBackend.get();
        sch.setTimesteps(steps);
        try (Tensor x = new Sampler(sch, analytic(1000)).seed(SEED).sample(cpu, SHAPE)) {
            float[] out = x.toArray();
            float[] z = new float[out.length];
            Philox.fillNormal(z, 0, SEED, 0, 0, z.length);   // the sampler's initial noise: the first numel indices
            double e = 0;
            for (int i = 0; i < out.length; i++) e = Math.max(e, Math.abs(out[i] - (MU + S * z[i])));
            return e;
        }
    }

    @Test
    void eulerAndHeunLandOnTheDataDistribution() {
        for (Supplier<FlowMatchScheduler> s : java.util.List.<Supplier<FlowMatchScheduler>>of(
                () -> new FlowMatchEulerScheduler(1000, 1.0), () -> new FlowMatchHeunScheduler(1000, 1.0))) {
            FlowMatchScheduler sch = s.get();
            sch.setTimesteps(50);
            try (Tensor x = new Sampler(sch, analytic(1000)).seed(SEED).sample(CpuBackend.get(), SHAPE)) {
                float[] v = x.toArray();
                double m = 0, q = 0;
                for (float f : v) m += f;
                m /= v.length;
                for (float f : v) q += (f - m) * (f - m);
                double sd = Math.sqrt(q / (v.length - 1));
                // 2048 samples: the mean's standard error is s / 45 = 0.011, the std's about 0.008; 4 of them
                assertEquals(MU, m, 0.045, sch.getClass().getSimpleName() + " mean");
                assertEquals(S, sd, 0.035, sch.getClass().getSimpleName() + " std");
            }
        }
    }

    /** Euler's error halves with twice the steps (order 1), Heun's quarters (order 2). */
    @Test
    void convergenceOrders() {
        double[] euler = new double[3], heun = new double[3];
        int[] n = {8, 16, 32};
        for (int k = 0; k < 3; k++) {
            euler[k] = error(new FlowMatchEulerScheduler(1000, 1.0), n[k]);
            heun[k] = error(new FlowMatchHeunScheduler(1000, 1.0), n[k]);
        }
        System.out.printf(Locale.ROOT, "flow-match Gaussian: Euler errors %s, Heun errors %s at %s steps%n",
                java.util.Arrays.toString(euler), java.util.Arrays.toString(heun), java.util.Arrays.toString(n));
        for (int k = 1; k < 3; k++) {
            double re = euler[k - 1] / euler[k], rh = heun[k - 1] / heun[k];
            assertTrue(re > 1.7 && re < 2.3, "Euler ratio " + re);
            assertTrue(rh > 3.0 && rh < 5.0, "Heun ratio " + rh);
        }
        assertTrue(heun[2] < euler[2] / 10, "Heun beats Euler at equal steps");
    }

    /** diffusers' tables: shift 1 gives linspace(1, 1/T, n) then 0, and timesteps sigma * T; the shift formula. */
    @Test
    void sigmaTablesAsDiffusers() {
        FlowMatchEulerScheduler e = new FlowMatchEulerScheduler(1000, 1.0);
        e.setTimesteps(4);
        assertArrayEquals(new double[] {1.0, 0.667, 0.334, 0.001, 0.0}, e.sigmas(), 1e-12);
        assertEquals(667f, e.modelTimestep(e.timesteps()[1]), 1e-3f);
        // SD3's shift 3: sigma' = 3 s / (1 + 2 s); the grid shifts the already shifted extremes' linspace again
        FlowMatchEulerScheduler sd3 = new FlowMatchEulerScheduler(1000, 3.0);
        sd3.setTimesteps(2);
        double min = 3 * 0.001 / (1 + 2 * 0.001);
        assertArrayEquals(new double[] {1.0, 3 * min / (1 + 2 * min), 0.0}, sd3.sigmas(), 1e-12);
        FlowMatchHeunScheduler h = new FlowMatchHeunScheduler(1000, 1.0);
        h.setTimesteps(3);
        assertEquals(5, h.timesteps().length, "2n - 1 evaluations");
        float[] mt = new float[5];
        for (int k = 0; k < 5; k++) mt[k] = h.modelTimestep(h.timesteps()[k]);
        assertArrayEquals(new float[] {1000f, 500.5f, 500.5f, 1f, 1f}, mt, 1e-3f);
    }
}
