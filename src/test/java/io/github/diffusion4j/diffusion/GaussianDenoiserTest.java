package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The analytic-denoiser test. Data x0 ~ N(mu, s^2) i.i.d. per pixel has the exact optimal predictors
 * <pre>
 *   eps*(x_t, t) = sqrt(1 - abar)(x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar),  x0* = (x_t - sqrt(1-abar) eps*) / sqrt(abar)
 * </pre>
 * so every sampler step is affine in x_t plus independent Gaussian noise. The test propagates the exact (mean,
 * variance) of the sampler's output through the same recursion in double precision, written here from the
 * papers' formulas (and diffusers' timestep rules) independently of the schedulers, and requires the empirical
 * mean and std over 65536 i.i.d. pixels to match within 5 standard errors. Deterministic samplers are further
 * checked pixel by pixel: their output must be the affine map A x_T + B of the known initial noise.
 */
class GaussianDenoiserTest {
    static final int T = 1000;
    static final double MU = 0.4, S = 0.5;
    static final int H = 256, W = 256, PIXELS = H * W;
    static final long SEED = Long.getLong("diffusion4j.test.seed", 20240611L);
    static final double[] ABAR = new double[T];
    static final Backend B = CpuBackend.get();

    @BeforeAll
    static void schedule() {
        double prod = 1;
        for (int t = 0; t < T; t++) {
            double beta = 1e-4 + (0.02 - 1e-4) * t / (T - 1);
            prod *= 1 - beta;
            ABAR[t] = prod;
        }
    }

    // ------------------------------------------------------------------ the optimal model

    /** eps*(x) = p x + q at timestep t. */
    static double[] epsAffine(int t) {
        double a = ABAR[t], d = a * S * S + 1 - a;
        return new double[] {Math.sqrt(1 - a) / d, -Math.sqrt(1 - a) * Math.sqrt(a) * MU / d};
    }

    /** The optimal predictor of the given type, evaluated on the host (test code). */
    static Denoiser optimal(PredictionType type) {
        return (xt, ts, labels) -> {
            float[] x = xt.toArray();
            int t = (int) ts.toArray()[0];
            double a = ABAR[t];
            double[] pq = epsAffine(t);
            float[] out = new float[x.length];
            for (int i = 0; i < x.length; i++) {
                double eps = pq[0] * x[i] + pq[1];
                double x0 = (x[i] - Math.sqrt(1 - a) * eps) / Math.sqrt(a);
                out[i] = (float) switch (type) {
                    case EPSILON -> eps;
                    case SAMPLE -> x0;
                    case V_PREDICTION -> Math.sqrt(a) * eps - Math.sqrt(1 - a) * x0;
                };
            }
            return B.fromArray(out, xt.shape());
        };
    }

    // ------------------------------------------------------------------ exact recursions (double)

    /** x0*(x) = X0a x + X0b at t. */
    static double[] x0Affine(int t) {
        double a = ABAR[t];
        double[] pq = epsAffine(t);
        return new double[] {(1 - Math.sqrt(1 - a) * pq[0]) / Math.sqrt(a), -Math.sqrt(1 - a) * pq[1] / Math.sqrt(a)};
    }

    /** DDPM (Ho et al. eq. 6-7 with the respaced beta): returns {mean, variance}. */
    static double[] ddpmExact(int[] ts, boolean fixedLarge) {
        double m = 0, v = 1;
        for (int k = 0; k < ts.length; k++) {
            int t = ts[k], tp = k + 1 < ts.length ? ts[k + 1] : -1;
            double a = ABAR[t], ap = tp >= 0 ? ABAR[tp] : 1, beta = 1 - a / ap;
            double c1 = Math.sqrt(ap) * beta / (1 - a), c2 = Math.sqrt(1 - beta) * (1 - ap) / (1 - a);
            double[] x0 = x0Affine(t);
            double slope = c1 * x0[0] + c2, icpt = c1 * x0[1];
            double var = t > 0 ? (fixedLarge ? beta : (1 - ap) / (1 - a) * beta) : 0;
            m = slope * m + icpt;
            v = slope * slope * v + var;
        }
        return new double[] {m, v};
    }

    /** DDIM (Song et al. eq. 12), diffusers' rule prev = t - T/n, final abar 1: returns {mean, variance}. */
    static double[] ddimExact(int[] ts, double eta) {
        double m = 0, v = 1;
        for (int t : ts) {
            int tp = t - T / ts.length;
            double a = ABAR[t], ap = tp >= 0 ? ABAR[tp] : 1;
            double sigma2 = eta * eta * (1 - ap) / (1 - a) * (1 - a / ap);
            double[] x0 = x0Affine(t), eps = epsAffine(t);
            double dir = Math.sqrt(Math.max(0, 1 - ap - sigma2));
            double slope = Math.sqrt(ap) * x0[0] + dir * eps[0];
            double icpt = Math.sqrt(ap) * x0[1] + dir * eps[1];
            m = slope * m + icpt;
            v = slope * slope * v + sigma2;
        }
        return new double[] {m, v};
    }

    /**
     * DPM-Solver++(2M) (Lu et al. 2022, algorithm 2) in lambda = log(alpha_t / sigma_t), final sigma 0,
     * first-order first and last steps. Returns the affine map {A, B} of x_T.
     */
    static double[] dpmExact(int[] ts) {
        int n = ts.length;
        double[] alpha = new double[n + 1], sig = new double[n + 1];
        for (int k = 0; k < n; k++) {
            alpha[k] = Math.sqrt(ABAR[ts[k]]);
            sig[k] = Math.sqrt(1 - ABAR[ts[k]]);
        }
        alpha[n] = 1;
        sig[n] = 0;
        double xa = 1, xb = 0;            // x = xa x_T + xb
        double pa = 0, pb = 0;            // previous x0 prediction, same form
        for (int k = 0; k < n; k++) {
            double[] x0 = x0Affine(ts[k]);
            double ma = x0[0] * xa, mb = x0[0] * xb + x0[1];
            double nxa, nxb;
            if (k == n - 1) {               // to sigma = 0: x = x0 prediction
                nxa = ma;
                nxb = mb;
            } else {
                double lt = Math.log(alpha[k + 1] / sig[k + 1]), ls = Math.log(alpha[k] / sig[k]);
                double h = lt - ls, phi = -alpha[k + 1] * (Math.exp(-h) - 1), ratio = sig[k + 1] / sig[k];
                double da = ma, db = mb;
                if (k > 0) {
                    double lp = Math.log(alpha[k - 1] / sig[k - 1]), r = (ls - lp) / h;
                    da = ma + (ma - pa) / (2 * r);
                    db = mb + (mb - pb) / (2 * r);
                }
                nxa = ratio * xa + phi * da;
                nxb = ratio * xb + phi * db;
            }
            pa = ma;
            pb = mb;
            xa = nxa;
            xb = nxb;
        }
        return new double[] {xa, xb};
    }

    // ------------------------------------------------------------------ grids (diffusers' rules, written out)

    static int[] grid(String spacing, int n) {
        int[] ts = new int[n];
        for (int k = 0; k < n; k++) {
            ts[k] = switch (spacing) {
                case "leading" -> (n - 1 - k) * (T / n);
                case "trailing" -> (int) Math.rint(T - k * (double) T / n) - 1;
                default -> (int) Math.rint((n - 1 - k) * (T - 1.0) / (n - 1));
            };
        }
        return ts;
    }

    // ------------------------------------------------------------------ running and comparing

    record Stats(double mean, double std) {}

    static Stats stats(float[] x) {
        double s = 0, ss = 0;
        for (float v : x) s += v;
        double m = s / x.length;
        for (float v : x) ss += (v - m) * (v - m);
        return new Stats(m, Math.sqrt(ss / (x.length - 1)));
    }

    static float[] run(Scheduler sched, PredictionType type) {
        try (Tensor out = new Sampler(sched, optimal(type)).seed(SEED).sample(B, Shape.of(1, 1, H, W))) {
            return out.toArray();
        }
    }

    /** Compares empirical against exact (mean, variance), printing both. Returns the empirical statistics. */
    static Stats check(String name, float[] x, double exactMean, double exactVar) {
        Stats st = stats(x);
        double exactStd = Math.sqrt(exactVar);
        double seMean = exactStd / Math.sqrt(x.length), seStd = exactStd / Math.sqrt(2.0 * x.length);
        System.out.printf("%-34s mean %.5f (exact %.5f, %+.1f SE)   std %.5f (exact %.5f, %+.1f SE; data sigma %.3f, %+.2f%%)%n",
                name, st.mean(), exactMean, (st.mean() - exactMean) / seMean, st.std(), exactStd,
                (st.std() - exactStd) / seStd, S, 100 * (exactStd - S) / S);
        assertEquals(exactMean, st.mean(), 5 * seMean + 1e-4, name + ": mean");
        assertEquals(exactStd, st.std(), 5 * seStd + 1e-4, name + ": std");
        return st;
    }

    /** For deterministic samplers: the output must be A x_T + B pixel by pixel (x_T = the sampler's first draw). */
    static void checkAffine(String name, float[] x, double a, double b) {
        float[] xT = new float[x.length];
        Philox.fillNormal(xT, 0, SEED, 0, 0, x.length);
        double maxErr = 0;
        for (int i = 0; i < x.length; i++) maxErr = Math.max(maxErr, Math.abs(x[i] - (a * xT[i] + b)));
        System.out.printf("%-34s per pixel vs A x_T + B (A %.5f, B %.5f): max |error| %.2e%n", name, a, b, maxErr);
        assertTrue(maxErr < 2e-4, name + ": per-pixel error " + maxErr);
    }

    // ------------------------------------------------------------------ the tests

    @Test
    void ddpm1000FixedSmallAndLarge() {
        int[] ts = grid("leading", T);
        for (VarianceType vt : new VarianceType[] {VarianceType.FIXED_SMALL, VarianceType.FIXED_LARGE}) {
            DdpmScheduler s = new DdpmScheduler(SchedulerConfig.builder().clipSample(false).varianceType(vt).build());
            s.setTimesteps(T);
            double[] exact = ddpmExact(ts, vt == VarianceType.FIXED_LARGE);
            Stats st = check("DDPM-1000 " + vt, run(s, PredictionType.EPSILON), exact[0], exact[1]);
            // DDPM with 1000 steps and the optimal model reproduces the data distribution to within 2%
            assertEquals(MU, st.mean(), 0.02 * S, "DDPM-1000 mean vs mu");
            assertEquals(S, st.std(), 0.02 * S, "DDPM-1000 std vs sigma");
        }
    }

    @Test
    void ddpmRespacedWithSampleAndVPrediction() {
        for (PredictionType p : new PredictionType[] {PredictionType.SAMPLE, PredictionType.V_PREDICTION}) {
            DdpmScheduler s = new DdpmScheduler(SchedulerConfig.builder().clipSample(false).predictionType(p).build());
            s.setTimesteps(100);
            double[] exact = ddpmExact(grid("leading", 100), false);
            check("DDPM-100 fixed_small " + p, run(s, p), exact[0], exact[1]);
        }
    }

    @Test
    void ddim50EveryEtaAndSpacing() {
        for (String spacing : new String[] {"leading", "trailing", "linspace"}) {
            for (double eta : new double[] {0.0, 1.0}) {
                DdimScheduler s = new DdimScheduler(SchedulerConfig.builder().clipSample(false).eta(eta)
                        .timestepSpacing(spacing).build());
                s.setTimesteps(50);
                int[] ts = grid(spacing, 50);
                assertArrayEquals(ts, s.timesteps());
                double[] exact = ddimExact(ts, eta);
                String name = "DDIM-50 eta=" + eta + " " + spacing;
                float[] x = run(s, PredictionType.EPSILON);
                check(name, x, exact[0], exact[1]);
                if (eta == 0) checkAffine(name, x, Math.sqrt(exact[1]), exact[0]);
            }
        }
    }

    @Test
    void ddimVPredictionAgreesWithEpsilon() {
        DdimScheduler s = new DdimScheduler(SchedulerConfig.builder().clipSample(false)
                .predictionType(PredictionType.V_PREDICTION).timestepSpacing("trailing").build());
        s.setTimesteps(50);
        double[] exact = ddimExact(grid("trailing", 50), 0);
        float[] x = run(s, PredictionType.V_PREDICTION);
        check("DDIM-50 eta=0 trailing v_prediction", x, exact[0], exact[1]);
        checkAffine("DDIM-50 eta=0 trailing v_prediction", x, Math.sqrt(exact[1]), exact[0]);
    }

    @Test
    void dpmSolverPlusPlus20() {
        for (PredictionType p : new PredictionType[] {PredictionType.EPSILON, PredictionType.V_PREDICTION}) {
            DpmSolverMultistepScheduler s = new DpmSolverMultistepScheduler(
                    DpmSolverMultistepScheduler.defaults().predictionType(p).build());
            s.setTimesteps(20);
            int[] ts = s.timesteps();
            // diffusers: linspace(0, T-1, n+1).round()[::-1][:-1]
            for (int k = 0; k < 20; k++) assertEquals((int) Math.rint((20 - k) * (T - 1.0) / 20), ts[k]);
            double[] ab = dpmExact(ts);
            String name = "DPM-Solver++(2M)-20 " + p;
            float[] x = run(s, p);
            check(name, x, ab[1], ab[0] * ab[0]);
            checkAffine(name, x, ab[0], ab[1]);
        }
    }

    static void assertArrayEquals(int[] expected, int[] actual) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, actual);
    }
}
