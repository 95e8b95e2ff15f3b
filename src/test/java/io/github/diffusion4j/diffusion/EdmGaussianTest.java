package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sigma-space sampler ({@link EdmScheduler}) with the exact denoiser of Gaussian data x0 ~ N(mu, s^2) per element:
 * for x = x0 + sigma eps, {@code D(x; sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu)}, and the probability-flow ODE
 * carries x(sigma_max) to {@code mu + s (x(sigma_max) - mu) / sqrt(s^2 + sigma_max^2)}. The model is written here
 * in each parameterisation's own terms (EDM's F with c_skip, c_out, c_in and timestep 250 ln sigma; a VP model's
 * epsilon or v at the VP sample and its fractional timestep), so a wrong coefficient anywhere shows.
 */
class EdmGaussianTest {
    static final double MU = 0.3, S = 0.5;
    static final Shape SHAPE = Shape.of(8, 1, 16, 16);
    static final long SEED = 13;

    /** The exact D at level sigma. */
    static double denoised(double x, double sigma) {
        return MU + S * S / (S * S + sigma * sigma) * (x - MU);
    }

    /** EDM's network F for the exact D: input c_in x, timestep 250 ln sigma. */
    static Denoiser edmModel(double sd) {
        return (in, ts, labels) -> {
            float[] x = in.toArray(), t = ts.toArray();
            int per = x.length / t.length;
            float[] out = new float[x.length];
            for (int i = 0; i < x.length; i++) {
                double sigma = Math.exp(t[i / per] / 250.0);
                double r = Math.sqrt(sigma * sigma + sd * sd);
                double xv = x[i] * r;                               // the sample: input / c_in
                double cSkip = sd * sd / (r * r), cOut = sigma * sd / r;
                out[i] = (float) ((denoised(xv, sigma) - cSkip * xv) / cOut);
            }
            return in.backend().fromArray(out, in.shape());
        };
    }

    /** A VP model's exact epsilon or v prediction at the VP sample x / sqrt(sigma^2 + 1), timestep from the table. */
    static Denoiser vpModel(PredictionType type, double[] logSigmas) {
        return (in, ts, labels) -> {
            float[] x = in.toArray(), t = ts.toArray();
            int per = x.length / t.length;
            float[] out = new float[x.length];
            for (int i = 0; i < x.length; i++) {
                double sigma = Sigmas.fromTimestep(t[i / per], logSigmas);
                double sa = 1 / Math.sqrt(sigma * sigma + 1), sb = sigma * sa;   // sqrt(abar), sqrt(1 - abar)
                double xv = x[i] / sa;                                           // back to x0 + sigma eps
                double x0 = denoised(xv, sigma), eps = (xv - x0) / sigma;
                out[i] = (float) (type == PredictionType.EPSILON ? eps : sa * eps - sb * x0);
            }
            return in.backend().fromArray(out, in.shape());
        };
    }

    static float[] run(EdmScheduler sch, Denoiser model, int steps) {
        sch.setTimesteps(steps);
        try (Tensor x = new Sampler(sch, model).seed(SEED).sample(CpuBackend.get(), SHAPE)) {
            return x.toArray();
        }
    }

    /** The largest error against the exact ODE end point of each sample's initial noise (sigma_0 z). */
    static double odeError(EdmScheduler sch, Denoiser model, int steps) {
        float[] out = run(sch, model, steps);
        double s0 = sch.sigmas()[0];
        float[] z = new float[out.length];
        Philox.fillNormal(z, 0, SEED, 0, 0, z.length);
        double e = 0;
        for (int i = 0; i < out.length; i++) {
            double exact = MU + S * (s0 * z[i] - MU) / Math.sqrt(S * S + s0 * s0);
            e = Math.max(e, Math.abs(out[i] - exact));
        }
        return e;
    }

    static void assertLands(float[] v, String what) {
        assertMoments(v, MU, S, what);
    }

    /** Empirical mean and std of 2048 i.i.d. values against the given ones, within 4 standard errors. */
    static void assertMoments(float[] v, double mean, double std, String what) {
        double m = 0, q = 0;
        for (float f : v) m += f;
        m /= v.length;
        for (float f : v) q += (f - m) * (f - m);
        double sd = Math.sqrt(q / (v.length - 1));
        // 2048 samples: the mean's standard error is std / 45, the std's std / 64
        assertEquals(mean, m, 4 * std / Math.sqrt(v.length), what + " mean");
        assertEquals(std, sd, 4 * std / Math.sqrt(2.0 * v.length), what + " std");
    }

    /**
     * The exact {mean, std} of the sampler's output for the Gaussian data, written from EDM's algorithm 2 (not from
     * the scheduler): with y = x - mu, D's step is linear in y, churn adds variance S_noise^2 (sigma^2 - sigma_i^2),
     * starting at step {@code first} from y of mean {@code m0} and variance {@code v0} before that step's churn.
     */
    static double[] predicted(double[] sig, double[] hat, int first, double m0, double v0, boolean heun, double sNoise) {
        double m = m0, v = v0;
        int n = hat.length;
        for (int i = first; i < n; i++) {
            double si = sig[i], sh = hat[i], sn = sig[i + 1], h = sn - sh;
            v += sNoise * sNoise * (sh * sh - si * si);
            double d = sh / (S * S + sh * sh);                       // dy/dsigma = y d
            double a = 1 + h * d;
            if (heun && sn > 0) a = 1 + h * (d + a * sn / (S * S + sn * sn)) / 2;
            m *= a;
            v *= a * a;
        }
        return new double[] {MU + m, Math.sqrt(v)};
    }

    /** Samples from noise with churn and checks them against {@link #predicted}. */
    static void assertAsPredicted(EdmScheduler sch, Denoiser model, int steps, String what) {
        float[] v = run(sch, model, steps);
        double s0 = sch.sigmas()[0];
        double[] p = predicted(sch.sigmas(), sch.churnedSigmas(), 0, -MU, s0 * s0, sch.heun(), sch.churn().sNoise());
        assertMoments(v, p[0], p[1], what);
    }

    static EdmScheduler edm(boolean heun, EdmScheduler.Churn churn) {
        return new EdmScheduler(EdmPreconditioning.of(0.5), heun, true, churn, 1000);
    }

    static VpSigmaParameterization vp(PredictionType type) {
        return new VpSigmaParameterization(NoiseSchedule.of(SchedulerConfig.builder().build()), type);
    }

    @Test
    void edmHeunAndEulerLandOnTheData() {
        assertLands(run(edm(true, EdmScheduler.Churn.NONE), edmModel(0.5), 18), "EDM Heun 18");
        assertLands(run(edm(false, EdmScheduler.Churn.NONE), edmModel(0.5), 400), "EDM Euler 400");
        // sigma_data is only a scaling: a mismatched one must still land (the model is exact either way)
        EdmScheduler other = new EdmScheduler(EdmPreconditioning.of(1.0), true, true, EdmScheduler.Churn.NONE, 1000);
        assertLands(run(other, edmModel(1.0), 18), "EDM Heun, sigma_data 1");
        // at few steps: the exact outcome of the discretisation (Euler 50 lands 5% narrow)
        assertAsPredicted(edm(false, EdmScheduler.Churn.NONE), edmModel(0.5), 50, "EDM Euler 50");
    }

    /**
     * The stochastic sampler (EDM's ImageNet churn): the output matches the exact moments of the discretised SDE
     * sampler, which approach the data's as the steps grow; the samples differ from the ODE's.
     */
    @Test
    void churnMatchesItsRecursionAndDrawsNoise() {
        EdmScheduler.Churn c = new EdmScheduler.Churn(40, 0.05, 50, 1.003);
        EdmScheduler sch = edm(true, c);
        assertAsPredicted(sch, edmModel(0.5), 18, "EDM Heun 18 with churn");
        double[] hat = sch.churnedSigmas(), sig = sch.sigmas();
        int churned = 0;
        for (int i = 0; i < hat.length; i++) {
            double g = sig[i] >= 0.05 && sig[i] <= 50 ? Math.min(40.0 / 18, Math.sqrt(2) - 1) : 0;
            assertEquals(sig[i] * (1 + g), hat[i], 1e-12, "sigma^ " + i);
            if (g > 0) churned++;
        }
        assertTrue(churned > 5 && churned < 18, churned + " steps churned");
        float[] v = run(sch, edmModel(0.5), 18);
        float[] ode = run(edm(true, EdmScheduler.Churn.NONE), edmModel(0.5), 18);
        double diff = 0;
        for (int i = 0; i < v.length; i++) diff = Math.max(diff, Math.abs(v[i] - ode[i]));
        assertTrue(diff > 0.05, "churn changes the samples (max diff " + diff + ")");
        assertAsPredicted(edm(false, c), edmModel(0.5), 50, "EDM Euler 50 with churn");
        EdmScheduler many = edm(true, c);
        assertAsPredicted(many, edmModel(0.5), 128, "EDM Heun 128 with churn");
        assertLands(run(many, edmModel(0.5), 128), "EDM Heun 128 with churn");
    }

    /** Euler's error halves with twice the steps, Heun's quarters (EDM and a VP epsilon model on Karras sigmas). */
    @Test
    void convergenceOrders() {
        int[] n = {16, 32, 64};
        VpSigmaParameterization eps = vp(PredictionType.EPSILON);
        double[] eu = new double[3], he = new double[3], vpHe = new double[3];
        for (int k = 0; k < 3; k++) {
            eu[k] = odeError(edm(false, EdmScheduler.Churn.NONE), edmModel(0.5), n[k]);
            he[k] = odeError(edm(true, EdmScheduler.Churn.NONE), edmModel(0.5), n[k]);
            vpHe[k] = odeError(new EdmScheduler(eps, true, true, EdmScheduler.Churn.NONE, 1000),
                    vpModel(PredictionType.EPSILON, eps.logSigmas()), n[k]);
        }
        System.out.printf(Locale.ROOT, "EDM Gaussian: Euler %s, Heun %s, VP-epsilon Heun (Karras) %s at %s steps%n",
                Arrays.toString(eu), Arrays.toString(he), Arrays.toString(vpHe), Arrays.toString(n));
        for (int k = 1; k < 3; k++) {
            double re = eu[k - 1] / eu[k], rh = he[k - 1] / he[k], rv = vpHe[k - 1] / vpHe[k];
            assertTrue(re > 1.6 && re < 2.4, "Euler ratio " + re);
            assertTrue(rh > 3.0 && rh < 5.0, "Heun ratio " + rh);
            assertTrue(rv > 3.0 && rv < 5.0, "VP Heun ratio " + rv);
        }
        assertTrue(he[2] < eu[2] / 10, "Heun beats Euler at equal steps");
    }

    /** diffusers' Euler/Heun discrete on a VP model: epsilon and v land, with and without Karras sigmas. */
    @Test
    void vpModelsInSigmaSpace() {
        for (PredictionType type : new PredictionType[] {PredictionType.EPSILON, PredictionType.V_PREDICTION}) {
            VpSigmaParameterization p = vp(type);
            Denoiser m = vpModel(type, p.logSigmas());
            assertLands(run(new EdmScheduler(p, true, true, EdmScheduler.Churn.NONE, 1000), m, 20), type + " Heun Karras");
            assertLands(run(new EdmScheduler(p, true, false, EdmScheduler.Churn.NONE, 1000), m, 30), type + " Heun linspace");
            assertAsPredicted(new EdmScheduler(p, false, true, EdmScheduler.Churn.NONE, 1000), m, 50, type + " Euler Karras");
            assertAsPredicted(new EdmScheduler(p, true, true, new EdmScheduler.Churn(20, 0.05, 50, 1), 1000), m, 30,
                    type + " Heun Karras with churn");
        }
    }

    /** diffusers' tables: Karras levels, the interleaved Heun evaluations, linspace sigmas by interpolation. */
    @Test
    void tablesAsDiffusers() {
        VpSigmaParameterization p = vp(PredictionType.EPSILON);
        double[] logS = p.logSigmas();
        EdmScheduler k = new EdmScheduler(p, true, true, EdmScheduler.Churn.NONE, 1000);
        k.setTimesteps(4);
        double[] s = k.sigmas();
        double lo = Math.pow(Math.exp(logS[0]), 1 / 7.0), hi = Math.pow(Math.exp(logS[999]), 1 / 7.0);
        for (int i = 0; i < 4; i++) assertEquals(Math.pow(hi + i / 3.0 * (lo - hi), 7), s[i], 1e-9 * s[i], "Karras sigma " + i);
        assertEquals(0, s[4]);
        assertEquals(7, k.timesteps().length, "2n - 1 evaluations");
        float[] mt = new float[7];
        for (int e = 0; e < 7; e++) mt[e] = k.modelTimestep(k.timesteps()[e]);
        assertEquals(999f, mt[0], 1e-3f);
        assertEquals(mt[1], mt[2], "predictor and corrector of a level share its timestep");
        assertEquals((float) Sigmas.toTimestep(s[1], logS), mt[1], 1e-4f);
        assertEquals(0f, mt[6], 1e-3f, "sigma_min is timestep 0");
        assertEquals(k.sigmas()[0], k.initNoiseSigma(), 1e-3, "init noise sigma = sigma_max (linspace/Karras, as diffusers)");
        EdmScheduler lin = new EdmScheduler(p, false, false, EdmScheduler.Churn.NONE, 1000);
        lin.setTimesteps(3);   // linspace(0, 999, 3) reversed: 999, 499.5, 0
        assertEquals(499.5f, lin.modelTimestep(lin.timesteps()[1]), 1e-3f);
        assertEquals((Math.exp(logS[499]) + Math.exp(logS[500])) / 2, lin.sigmas()[1], 1e-12);
        // the table's conversions are each other's inverse
        for (double t : new double[] {0, 0.25, 17.5, 500, 998.9, 999}) {
            assertEquals(t, Sigmas.toTimestep(Sigmas.fromTimestep(t, logS), logS), 1e-9, "t " + t);
        }
    }

    /** img2img starts at a step (a predictor), as diffusers slices timesteps[t_start * order:]. */
    @Test
    void img2imgStartsAtAStep() {
        EdmScheduler sch = edm(true, EdmScheduler.Churn.NONE);
        sch.setTimesteps(10);
        int[] ts = Sampler.img2imgTimesteps(sch.timesteps(), sch.numInferenceSteps(), sch.order(), 0.5);
        assertEquals(9, ts.length, "5 steps: 4 predictor-corrector pairs and the last Euler");
        assertEquals(sch.timesteps()[10], ts[0]);
        Backend cpu = CpuBackend.get();
        float[] data = new float[(int) SHAPE.numel()];
        Philox.fillNormal(data, 0, 77, 0, 0, data.length);
        for (int i = 0; i < data.length; i++) data[i] = (float) (MU + S * data[i]);
        try (Tensor init = cpu.fromArray(data, SHAPE);
             Tensor out = new Sampler(sch, edmModel(0.5)).seed(SEED).img2img(init, 0.5)) {
            // data noised to sigma_5, then steps 5 ... 9: y starts with mean 0 and variance s^2 + sigma_5^2
            double s5 = sch.sigmas()[5];
            double[] p = predicted(sch.sigmas(), sch.churnedSigmas(), 5, 0, S * S + s5 * s5, true, 1);
            assertMoments(out.toArray(), p[0], p[1], "img2img from data");
        }
        FlowMatchHeunScheduler fh = new FlowMatchHeunScheduler(1000, 1.0);
        fh.setTimesteps(10);
        try (Tensor init = cpu.fromArray(data, SHAPE);
             Tensor out = new Sampler(fh, FlowMatchGaussianTest.analytic(1000)).seed(SEED).img2img(init, 0.5)) {
            assertEquals(data.length, out.toArray().length, "flow Heun img2img runs from a later step");
        }
        assertThrows(IllegalArgumentException.class, () -> new EdmScheduler(EdmPreconditioning.of(0.5), true, false,
                EdmScheduler.Churn.NONE, 1000), "EDM models sample on Karras sigmas");
        assertThrows(IllegalArgumentException.class, () -> new EdmScheduler.Churn(-1, 0, 1, 1));
    }
}
