package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DPM-Solver++'s {@code lambda_min_clipped} on the cosine schedule: the grid diffusers' formula gives, the default
 * a run's sampler takes (-5.1 for epsilon only), and why: an epsilon model with a 1 % error, sampled from Gaussian
 * data, lands far off the data without it (its first x0^ divides by alpha = 4.9e-5) and near it with it.
 */
class DpmSolverLambdaClipTest {
    static final int T = 1000;
    static final Backend B = CpuBackend.get();

    /** Improved DDPM's cosine schedule, computed here from its definition (s = 0.008, betas capped at 0.999). */
    static double[] cosineAlphaBar() {
        double s = 0.008, prod = 1;
        double[] abar = new double[T];
        for (int t = 0; t < T; t++) {
            double f1 = Math.pow(Math.cos((t / (double) T + s) / (1 + s) * Math.PI / 2), 2);
            double f2 = Math.pow(Math.cos(((t + 1) / (double) T + s) / (1 + s) * Math.PI / 2), 2);
            prod *= 1 - Math.min(1 - f2 / f1, 0.999);
            abar[t] = prod;
        }
        return abar;
    }

    static SchedulerConfig.Builder cosine(PredictionType p) {
        return DpmSolverMultistepScheduler.defaults().betaSchedule(BetaSchedule.SQUAREDCOS_CAP_V2).predictionType(p);
    }

    @Test void gridStartsBelowTheClippedTimestepsAsDiffusers() {
        double[] abar = cosineAlphaBar();
        int below = 0;
        for (int t = 0; t < T; t++) if (0.5 * Math.log(abar[t] / (1 - abar[t])) < -5.1) below++;
        assertEquals(4, below, "the cosine schedule's timesteps with lambda < -5.1");
        DpmSolverMultistepScheduler s = new DpmSolverMultistepScheduler(cosine(PredictionType.EPSILON).lambdaMinClipped(-5.1).build());
        assertEquals(below, s.clippedTimesteps());
        s.setTimesteps(20);
        // diffusers: last = T - clipped; linspace(0, last - 1, n + 1).round()[::-1][:-1]
        int last = T - below;
        for (int k = 0; k < 20; k++) assertEquals((int) Math.rint((20 - k) * (last - 1.0) / 20), s.timesteps()[k]);
        assertEquals(995, s.timesteps()[0]);
        // trailing: arange(last, 0, -T/n).round() - 1; leading: (n - k) * (last // (n + 1))
        assertArrayEquals(new int[] {995, 945, 895}, java.util.Arrays.copyOf(
                Timesteps.dpmSolver(TimestepSpacing.TRAILING, T, 20, 0, last), 3));
        assertEquals(20, Timesteps.dpmSolver(TimestepSpacing.TRAILING, T, 20, 0, last).length);
        assertArrayEquals(new int[] {940, 893}, java.util.Arrays.copyOf(Timesteps.dpmSolver(TimestepSpacing.LEADING, T, 20, 0, last), 2));
        // none clipped: the grid of before
        DpmSolverMultistepScheduler none = new DpmSolverMultistepScheduler(cosine(PredictionType.EPSILON).build());
        none.setTimesteps(20);
        assertEquals(999, none.timesteps()[0]);
        assertThrows(IllegalArgumentException.class,
                () -> new DpmSolverMultistepScheduler(cosine(PredictionType.EPSILON).lambdaMinClipped(50).build()).setTimesteps(20));
        assertThrows(IllegalArgumentException.class, () -> cosine(PredictionType.EPSILON).lambdaMinClipped(Double.NaN).build());
    }

    @Test void runsClipOnlyWhereTheModelDividesByAlpha() {
        assertEquals(-5.1, DpmSolverMultistepScheduler.lambdaMinClippedFor(cosine(PredictionType.EPSILON).build()));
        assertEquals(Double.NEGATIVE_INFINITY, DpmSolverMultistepScheduler.lambdaMinClippedFor(cosine(PredictionType.V_PREDICTION).build()));
        assertEquals(Double.NEGATIVE_INFINITY, DpmSolverMultistepScheduler.lambdaMinClippedFor(cosine(PredictionType.SAMPLE).build()));
        assertEquals(Double.NEGATIVE_INFINITY, DpmSolverMultistepScheduler.lambdaMinClippedFor(
                DpmSolverMultistepScheduler.defaults().predictionType(PredictionType.EPSILON).build()), "the linear schedule");
        assertEquals(-3.0, DpmSolverMultistepScheduler.lambdaMinClippedFor(cosine(PredictionType.V_PREDICTION).lambdaMinClipped(-3).build()),
                "a configured value is kept");
        // the scheduler of a run (sample, evaluate, the trainer's previews) takes the default
        Scheduler eps = io.github.diffusion4j.eval.ModelSamples.scheduler("dpmpp", cosine(PredictionType.EPSILON).build(), 20);
        Scheduler v = io.github.diffusion4j.eval.ModelSamples.scheduler("dpmpp", cosine(PredictionType.V_PREDICTION).build(), 20);
        assertEquals(995, eps.timesteps()[0]);
        assertEquals(999, v.timesteps()[0]);
        eps.close();
        v.close();
    }

    @Test void aOnePercentEpsilonErrorStaysSmallOnlyWithTheClip() {
        double mu = 0.4, sd = 0.5;
        double[] exact = sampleStats(new DpmSolverMultistepScheduler(cosine(PredictionType.EPSILON).lambdaMinClipped(-5.1).build()),
                model(1.0, mu, sd));
        double[] clipped = sampleStats(new DpmSolverMultistepScheduler(cosine(PredictionType.EPSILON).lambdaMinClipped(-5.1).build()),
                model(1.01, mu, sd));
        double[] unclipped = sampleStats(new DpmSolverMultistepScheduler(cosine(PredictionType.EPSILON).build()), model(1.01, mu, sd));
        System.out.printf("DPM++-20, cosine, data N(%.1f, %.1f^2): the optimal eps, lambda_min_clipped -5.1: mean %.4f std %.4f; "
                + "eps 1 %% off: mean %.4f std %.4f, unclipped: mean %.4f std %.4f%n", mu, sd, exact[0], exact[1],
                clipped[0], clipped[1], unclipped[0], unclipped[1]);
        // measured: the 1 % error takes 14 % off the clipped samples' std (the first x0^ still divides by alpha = 0.0062);
        // unclipped (alpha = 4.9e-5) it multiplies the std by 13
        assertEquals(exact[0], clipped[0], 0.02, "clipped: mean");
        assertEquals(exact[1], clipped[1], 0.25 * sd, "clipped: std");
        assertTrue(unclipped[1] > 3 * sd, "unclipped: std " + unclipped[1] + " should be far off the data's " + sd);
    }

    /** eps^ = factor * eps*(x), eps* the optimal predictor for data N(mu, sd^2) per pixel (factor 1.01: a model 1 % off). */
    private static Denoiser model(double factor, double mu, double sd) {
        double[] abar = cosineAlphaBar();
        return (xt, ts, labels) -> {
            float[] x = xt.toArray();
            double a = abar[(int) ts.toArray()[0]], d = a * sd * sd + 1 - a;
            float[] out = new float[x.length];
            for (int i = 0; i < x.length; i++) out[i] = (float) (factor * Math.sqrt(1 - a) * (x[i] - Math.sqrt(a) * mu) / d);
            return B.fromArray(out, xt.shape());
        };
    }

    private static double[] sampleStats(Scheduler s, Denoiser d) {
        s.setTimesteps(20);
        try (Tensor x = new Sampler(s, d).seed(7).sample(B, Shape.of(1, 1, 64, 64))) {
            float[] v = x.toArray();
            double m = 0, q = 0;
            for (float f : v) m += f;
            m /= v.length;
            for (float f : v) q += (f - m) * (f - m);
            return new double[] {m, Math.sqrt(q / v.length)};
        } finally {
            s.close();
        }
    }
}
