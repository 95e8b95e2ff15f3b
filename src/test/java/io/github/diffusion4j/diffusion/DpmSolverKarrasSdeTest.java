package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DPM-Solver++ with {@code use_karras_sigmas} and its SDE variant ({@code sde-dpmsolver++}): diffusers' tables, and
 * with the exact Gaussian denoiser of {@link GaussianDenoiserTest} (x0 ~ N(0.4, 0.5^2)) the samples land on the
 * data's mean and std.
 */
class DpmSolverKarrasSdeTest {
    static final Shape SHAPE = Shape.of(1, 1, 64, 64);

    static DpmSolverMultistepScheduler dpm(boolean karras, boolean sde, BetaSchedule schedule) {
        return new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults().betaSchedule(schedule)
                .useKarrasSigmas(karras).sde(sde).build());
    }

    static float[] sample(DpmSolverMultistepScheduler s, int steps, long seed) {
        s.setTimesteps(steps);
        try (Tensor x = new Sampler(s, GaussianDenoiserTest.optimal(PredictionType.EPSILON)).seed(seed)
                .sample(CpuBackend.get(), SHAPE)) {
            return x.toArray();
        }
    }

    static double[] moments(float[] v) {
        double m = 0, q = 0;
        for (float f : v) m += f;
        m /= v.length;
        for (float f : v) q += (f - m) * (f - m);
        return new double[] {m, Math.sqrt(q / (v.length - 1))};
    }

    /** Karras levels between sigma(0) and sigma(T - 1), timesteps rounded from them (fractional on cosine), final 0. */
    @Test
    void karrasTablesAsDiffusers() {
        GaussianDenoiserTest.schedule();
        DpmSolverMultistepScheduler s = dpm(true, false, BetaSchedule.LINEAR);
        s.setTimesteps(10);
        NoiseSchedule ns = s.schedule();
        double[] table = Sigmas.of(ns), logS = new double[table.length];
        for (int t = 0; t < table.length; t++) logS[t] = Math.log(table[t]);
        double[] expect = Sigmas.karras(table[0], table[999], 10, 7);
        double[] got = s.sigmas();
        for (int k = 0; k < 10; k++) {
            assertEquals(expect[k], got[k], 1e-12 * expect[k], "sigma " + k);
            assertEquals(Math.round(Sigmas.toTimestep(expect[k], logS)), s.timesteps()[k], "timestep " + k);
            assertEquals(s.timesteps()[k], s.modelTimestep(s.timesteps()[k]), "rounded timesteps go to the model");
        }
        assertEquals(999, s.timesteps()[0]);
        assertEquals(0, s.timesteps()[9]);
        assertEquals(0, got[10], "final_sigmas_type zero");
        DpmSolverMultistepScheduler cos = dpm(true, false, BetaSchedule.SQUAREDCOS_CAP_V2);
        cos.setTimesteps(10);
        boolean fractional = false;
        for (int k = 0; k < 10; k++) fractional |= cos.modelTimestep(cos.timesteps()[k]) != cos.timesteps()[k];
        assertTrue(fractional, "the cosine schedule gives the model fractional timesteps (diffusers does not round)");
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(new int[] {900, 500}), "use_karras_sigmas");
        // near sigma_min rounded timesteps repeat at many steps; the solver follows the grid by position
        DpmSolverMultistepScheduler many = dpm(true, false, BetaSchedule.LINEAR);
        many.setTimesteps(200);
        int[] ts = many.timesteps();
        boolean repeats = false;
        for (int k = 1; k < ts.length; k++) repeats |= ts[k] == ts[k - 1];
        assertTrue(repeats, "200 Karras steps repeat a rounded timestep");
        double[] m = moments(sample(many, 200, 3));
        assertEquals(GaussianDenoiserTest.MU, m[0], 0.03, "200 Karras steps: mean");
        assertEquals(GaussianDenoiserTest.S, m[1], 0.03, "200 Karras steps: std");
    }

    /** The ODE solver on Karras sigmas and the SDE solver on both grids land on the data distribution. */
    @Test
    void karrasAndSdeLandOnTheData() {
        GaussianDenoiserTest.schedule();
        // 4096 values: standard errors 0.008 (mean) and 0.0055 (std); the Karras grid's rounded timesteps give the
        // model a level slightly off the sample's, which the tolerance covers
        for (Object[] c : new Object[][] {{true, false, 20}, {false, true, 50}, {true, true, 50}}) {
            boolean karras = (Boolean) c[0], sde = (Boolean) c[1];
            int steps = (Integer) c[2];
            double[] m = moments(sample(dpm(karras, sde, BetaSchedule.LINEAR), steps, 5));
            String what = (sde ? "SDE-" : "") + "DPM-Solver++ " + steps + (karras ? " Karras" : "");
            assertEquals(GaussianDenoiserTest.MU, m[0], 0.035, what + " mean");
            assertEquals(GaussianDenoiserTest.S, m[1], 0.03, what + " std");
        }
    }

    /** The SDE variant draws noise every step (seeds differ, one seed repeats) where the ODE is deterministic. */
    @Test
    void sdeDrawsNoise() {
        GaussianDenoiserTest.schedule();
        float[] a = sample(dpm(false, true, BetaSchedule.LINEAR), 20, 1), b = sample(dpm(false, true, BetaSchedule.LINEAR), 20, 1);
        float[] c = sample(dpm(false, true, BetaSchedule.LINEAR), 20, 2);
        float[] ode = sample(dpm(false, false, BetaSchedule.LINEAR), 20, 1);
        double dSeed = 0, dOde = 0;
        for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], "one seed, one sample");
            dSeed = Math.max(dSeed, Math.abs(a[i] - c[i]));
            dOde = Math.max(dOde, Math.abs(a[i] - ode[i]));
        }
        assertTrue(dSeed > 0.1 && dOde > 0.1, "noise drawn: " + dSeed + ", " + dOde);
    }
}
