package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Single scheduler steps against values computed by hand (double) from the papers' formulas. */
class SchedulerStepTest {
    static final int T = 1000;
    static final Backend B = CpuBackend.get();
    static final double[] AB = new double[T];

    static {
        double p = 1;
        for (int t = 0; t < T; t++) {
            p *= 1 - (1e-4 + (0.02 - 1e-4) * t / (T - 1));
            AB[t] = p;
        }
    }

    static final float[] X = {0.9f, -1.3f, 0.05f, 2.2f, -0.4f, 1.1f};
    static final float[] M = {0.3f, -0.8f, 1.5f, -0.2f, 0.05f, -1.1f};

    static double ab(int t) { return t < 0 ? 1 : AB[t]; }

    /** x0 from a model output of the given type at abar a. */
    static double x0Of(PredictionType p, double x, double m, double a) {
        return switch (p) {
            case EPSILON -> (x - Math.sqrt(1 - a) * m) / Math.sqrt(a);
            case SAMPLE -> m;
            case V_PREDICTION -> Math.sqrt(a) * x - Math.sqrt(1 - a) * m;
        };
    }

    static double epsOf(PredictionType p, double x, double m, double a) {
        return switch (p) {
            case EPSILON -> m;
            case SAMPLE -> (x - Math.sqrt(a) * m) / Math.sqrt(1 - a);
            case V_PREDICTION -> Math.sqrt(a) * m + Math.sqrt(1 - a) * x;
        };
    }

    static double clip(double v, boolean on) { return on ? Math.max(-1, Math.min(1, v)) : v; }

    static void assertClose(double[] expected, float[] actual, double tol, String what) {
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(expected[i] - actual[i]) / Math.max(1, Math.abs(expected[i]));
            worst = Math.max(worst, err);
            assertTrue(err <= tol, what + " element " + i + ": expected " + expected[i] + " got " + actual[i]);
        }
        System.out.printf("%-58s max rel err %.2e%n", what, worst);
    }

    // ------------------------------------------------------------------ DDPM

    @Test
    void ddpmStepsMatchPosteriorFormula() {
        for (PredictionType p : PredictionType.values()) {
            for (VarianceType v : new VarianceType[] {VarianceType.FIXED_SMALL, VarianceType.FIXED_LARGE}) {
                for (int n : new int[] {1000, 10}) {
                    for (boolean clip : new boolean[] {true, false}) {
                        DdpmScheduler s = new DdpmScheduler(SchedulerConfig.builder().predictionType(p).varianceType(v)
                                .clipSample(clip).build());
                        s.setTimesteps(n);
                        int t = 500, tp = n == 1000 ? 499 : 400;
                        double a = ab(t), ap = ab(tp), beta = 1 - a / ap;
                        // Ho et al. eq. 7 with the respaced beta: mean = c1 x0 + c2 x_t
                        double c1 = Math.sqrt(ap) * beta / (1 - a), c2 = Math.sqrt(1 - beta) * (1 - ap) / (1 - a);
                        double var = v == VarianceType.FIXED_SMALL ? (1 - ap) / (1 - a) * beta : beta;
                        NoiseStream rng = new NoiseStream(77, 1234);
                        double[] expPrev = new double[X.length], expX0 = new double[X.length];
                        for (int i = 0; i < X.length; i++) {
                            double x0 = clip(x0Of(p, X[i], M[i], a), clip);
                            expX0[i] = x0;
                            expPrev[i] = c1 * x0 + c2 * X[i] + Math.sqrt(var) * Philox.normal(77, 1234 + i);
                        }
                        try (StepOutput out = s.step(B.fromArray(M, 6), t, B.fromArray(X, 6), rng)) {
                            String name = "DDPM " + p + " " + v + " n=" + n + (clip ? " clip" : "");
                            assertClose(expPrev, out.prevSample().toArray(), 2e-6, name);
                            assertClose(expX0, out.predOriginalSample().toArray(), 2e-6, name + " x0");
                        }
                        assertEquals(1234 + 6, rng.position(), "one draw of 6 normals");
                    }
                }
            }
        }
    }

    @Test
    void ddpmLastStepAddsNoNoise() {
        DdpmScheduler s = new DdpmScheduler(SchedulerConfig.builder().clipSample(false)
                .varianceType(VarianceType.FIXED_LARGE).build());
        NoiseStream rng = new NoiseStream(5);
        try (StepOutput out = s.step(B.fromArray(M, 6), 0, B.fromArray(X, 6), rng)) {
            double[] exp = new double[6];
            for (int i = 0; i < 6; i++) exp[i] = x0Of(PredictionType.EPSILON, X[i], M[i], AB[0]);
            // at t = 0 the posterior mean is x0 itself (abar_prev = 1) and no noise is added
            assertClose(exp, out.prevSample().toArray(), 2e-6, "DDPM t=0 returns x0, no noise");
        }
        assertEquals(0, rng.position());
    }

    // ------------------------------------------------------------------ DDIM

    @Test
    void ddimStepsMatchEquation12() {
        for (PredictionType p : PredictionType.values()) {
            for (double eta : new double[] {0, 0.5, 1}) {
                for (boolean clipped : new boolean[] {false, true}) {
                    DdimScheduler s = new DdimScheduler(SchedulerConfig.builder().predictionType(p).eta(eta)
                            .useClippedModelOutput(clipped).build());
                    s.setTimesteps(50);
                    int t = 600, tp = 580;
                    double a = ab(t), ap = ab(tp);
                    double sigma = eta * Math.sqrt((1 - ap) / (1 - a) * (1 - a / ap));
                    double[] exp = new double[6];
                    for (int i = 0; i < 6; i++) {
                        double x0 = clip(x0Of(p, X[i], M[i], a), true);
                        double eps = clipped ? (X[i] - Math.sqrt(a) * x0) / Math.sqrt(1 - a) : epsOf(p, X[i], M[i], a);
                        exp[i] = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap - sigma * sigma) * eps
                                + (eta > 0 ? sigma * Philox.normal(9, i) : 0);
                    }
                    try (StepOutput out = s.step(B.fromArray(M, 6), t, B.fromArray(X, 6), new NoiseStream(9))) {
                        assertClose(exp, out.prevSample().toArray(), 2e-6,
                                "DDIM " + p + " eta=" + eta + (clipped ? " use_clipped_model_output" : ""));
                    }
                }
            }
        }
    }

    @Test
    void ddimFinalAlphaAndPreviousTimestep() {
        for (boolean one : new boolean[] {true, false}) {
            DdimScheduler s = new DdimScheduler(SchedulerConfig.builder().clipSample(false).setAlphaToOne(one).build());
            s.setTimesteps(10);
            assertArrayEquals(new int[] {900, 800, 700, 600, 500, 400, 300, 200, 100, 0}, s.timesteps());
            assertEquals(-100, s.previousTimestep(0));
            double ap = one ? 1 : AB[0];
            assertEquals(ap, s.outputAlphaBar(0), 0);
            double[] exp = new double[6];
            for (int i = 0; i < 6; i++) {
                double x0 = x0Of(PredictionType.EPSILON, X[i], M[i], AB[0]);
                exp[i] = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * M[i];
            }
            try (StepOutput out = s.step(B.fromArray(M, 6), 0, B.fromArray(X, 6), null)) {
                assertClose(exp, out.prevSample().toArray(), 2e-6, "DDIM last step set_alpha_to_one=" + one);
            }
        }
    }

    /**
     * With a perfect noise predictor (from the known x0), DDIM eta=0 recovers x0 to float precision whenever its
     * last step lands on abar' = 1, which diffusers' rule prev = t - T/n gives for every grid below except "trailing"
     * with 7 steps: its last timestep round(T/7) - 1 = 142 = floor(T/7) lands on t = 0. There (and as a check
     * everywhere) the expected value is eq. 12 iterated per pixel in double precision.
     */
    @Test
    void ddimRecoversX0WithPerfectPredictor() {
        int n = 4096;
        float[] x0 = new float[n], xT = new float[n];
        Philox.fillUniform(x0, 0, 3, 0, 0, n);
        for (int i = 0; i < n; i++) x0[i] = 1.8f * x0[i] - 0.9f;
        Philox.fillNormal(xT, 0, 4, 0, 0, n);
        for (TimestepSpacing spacing : TimestepSpacing.values()) {
            for (PredictionType p : PredictionType.values()) {
                for (int steps : new int[] {50, 7}) {
                    DdimScheduler s = new DdimScheduler(SchedulerConfig.builder().predictionType(p).timestepSpacing(spacing)
                            .clipSample(p != PredictionType.SAMPLE).build());
                    s.setTimesteps(steps);
                    int[] ts = s.timesteps();
                    Tensor x = B.fromArray(xT, 1, 1, 64, 64);
                    for (int t : ts) {
                        float[] xs = x.toArray(), out = new float[n];
                        double a = AB[t];
                        for (int i = 0; i < n; i++) {
                            double eps = (xs[i] - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a);
                            out[i] = (float) switch (p) {
                                case EPSILON -> eps;
                                case SAMPLE -> x0[i];
                                case V_PREDICTION -> Math.sqrt(a) * eps - Math.sqrt(1 - a) * x0[i];
                            };
                        }
                        s.step(x, null, B.fromArray(out, x.shape()), t, x, null);
                    }
                    int last = ts[ts.length - 1] - T / steps;
                    double ap = last >= 0 ? AB[last] : 1;
                    float[] r = x.toArray();
                    double worst = 0;
                    for (int i = 0; i < n; i++) {
                        double xd = xT[i];
                        for (int t : ts) {                  // eq. 12, eta = 0, perfect eps
                            int tp = t - T / steps;
                            double a = AB[t], a1 = tp >= 0 ? AB[tp] : 1;
                            double eps = (xd - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a);
                            xd = Math.sqrt(a1) * x0[i] + Math.sqrt(1 - a1) * eps;
                        }
                        worst = Math.max(worst, Math.abs(r[i] - xd));
                        if (ap == 1) assertEquals(x0[i], xd, 1e-12);
                    }
                    System.out.printf("DDIM eta=0 %-8s %-12s %2d steps: lands at t=%4d (abar' %.6f): max |x - expected| = %.2e%n",
                            spacing, p, steps, Math.max(last, -1), ap, worst);
                    assertTrue(worst < 2e-5, "recovery error " + worst);
                    if (!(spacing == TimestepSpacing.TRAILING && steps == 7)) assertEquals(1.0, ap, 0.0);
                }
            }
        }
    }

    // ------------------------------------------------------------------ DPM-Solver++(2M)

    @Test
    void dpmSolverStepsMatchAlgorithm2() {
        for (PredictionType p : PredictionType.values()) {
            DpmSolverMultistepScheduler s = new DpmSolverMultistepScheduler(
                    DpmSolverMultistepScheduler.defaults().predictionType(p).build());
            s.setTimesteps(5);
            int[] ts = s.timesteps();
            assertArrayEquals(new int[] {999, 799, 599, 400, 200}, ts);   // round(linspace(0, 999, 6))[::-1][:-1]
            double[] lam = new double[6], alpha = new double[6], sig = new double[6];
            for (int k = 0; k < 5; k++) {
                alpha[k] = Math.sqrt(AB[ts[k]]);
                sig[k] = Math.sqrt(1 - AB[ts[k]]);
                lam[k] = Math.log(alpha[k] / sig[k]);
            }
            alpha[5] = 1;
            sig[5] = 0;
            lam[5] = Double.POSITIVE_INFINITY;
            double[] x = new double[6], prevX0 = new double[6];
            float[] xf = X.clone();
            for (int i = 0; i < 6; i++) x[i] = X[i];
            for (int k = 0; k < 5; k++) {
                double[] x0 = new double[6];
                for (int i = 0; i < 6; i++) x0[i] = x0Of(p, x[i], M[i], AB[ts[k]]);
                double h = lam[k + 1] - lam[k];
                double[] next = new double[6];
                for (int i = 0; i < 6; i++) {
                    double d = x0[i];
                    if (k > 0 && k < 4) {              // 2M; first step and final (to sigma = 0) are first order
                        double r = (lam[k] - lam[k - 1]) / h;
                        d = (1 + 1 / (2 * r)) * x0[i] - 1 / (2 * r) * prevX0[i];
                    }
                    next[i] = k == 4 ? d : sig[k + 1] / sig[k] * x[i] - alpha[k + 1] * (Math.exp(-h) - 1) * d;
                }
                Tensor out = B.zeros(6), px0 = B.zeros(6);
                // the model output is fed as computed from the current (float) sample to match exactly
                s.step(out, px0, B.fromArray(M, 6), ts[k], B.fromArray(xf, 6), null);
                assertClose(next, out.toArray(), 1e-5, "DPM-Solver++ " + p + " step " + k + " (t=" + ts[k] + ")");
                assertClose(x0, px0.toArray(), 1e-5, "DPM-Solver++ " + p + " step " + k + " x0");
                xf = out.toArray();
                for (int i = 0; i < 6; i++) x[i] = xf[i];
                prevX0 = x0;
            }
            assertThrows(IllegalArgumentException.class,
                    () -> s.step(B.zeros(6), null, B.fromArray(M, 6), 999, B.fromArray(X, 6), null));
        }
    }

    @Test
    void dpmSolverLeadingAndTrailingGrids() {
        DpmSolverMultistepScheduler lead = new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults()
                .timestepSpacing("leading").stepsOffset(1).build());
        lead.setTimesteps(7);
        assertArrayEquals(new int[] {876, 751, 626, 501, 376, 251, 126}, lead.timesteps());
        DpmSolverMultistepScheduler trail = new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults()
                .timestepSpacing("trailing").build());
        trail.setTimesteps(7);
        assertArrayEquals(new int[] {999, 856, 713, 570, 428, 285, 142}, trail.timesteps());
        assertThrows(IllegalArgumentException.class,
                () -> new DpmSolverMultistepScheduler(SchedulerConfig.builder().build()), "clip_sample must be off");
    }

    @Test
    void addNoisePerSampleTimestep() {
        DdpmScheduler s = new DdpmScheduler();
        float[] x0 = {0.5f, -0.5f, 1f, -1f, 0.25f, 0f}, noise = {1f, 2f, -1f, 0.5f, -2f, 1.5f};
        Tensor out = s.addNoise(B.fromArray(x0, 3, 2), B.fromArray(noise, 3, 2), B.fromArray(new float[] {0, 500, 999}, 3));
        double[] exp = new double[6];
        int[] ts = {0, 0, 500, 500, 999, 999};
        for (int i = 0; i < 6; i++) exp[i] = Math.sqrt(AB[ts[i]]) * x0[i] + Math.sqrt(1 - AB[ts[i]]) * noise[i];
        assertClose(exp, out.toArray(), 1e-6, "addNoise with t = [0, 500, 999] per sample");
    }

    @Test
    void zeroTerminalSnrSamplesStayFinite() {
        SchedulerConfig.Builder zero = SchedulerConfig.builder().rescaleBetasZeroSnr(true).timestepSpacing("trailing")
                .clipSample(false);
        Denoiser model = (x, t, l) -> B.fromArray(new float[(int) x.numel()], x.shape());
        Scheduler ddimV = new DdimScheduler(zero.predictionType(PredictionType.V_PREDICTION).build());
        ddimV.setTimesteps(10);
        Scheduler dpmEps = new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults()
                .rescaleBetasZeroSnr(true).timestepSpacing("trailing").build());
        dpmEps.setTimesteps(10);
        for (Scheduler s : new Scheduler[] {ddimV, dpmEps}) {
            assertEquals(999, s.timesteps()[0]);
            Tensor x = new Sampler(s, model).seed(1).sample(B, io.github.diffusion4j.tensor.Shape.of(1, 1, 8, 8));
            assertTrue(B.allFinite(x), s.getClass().getSimpleName() + " at zero terminal SNR");
        }
    }
}
