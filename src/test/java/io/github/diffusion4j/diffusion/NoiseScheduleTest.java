package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Schedule tables against closed forms computed here in double precision. */
class NoiseScheduleTest {
    static final int T = 1000;

    /** |actual - expected| within float rounding of the expected value (plus an absolute floor). */
    static void close(double expected, float actual, double rel, String what) {
        double tol = Math.abs(expected) * rel + 1e-30;
        if (!(Math.abs(actual - expected) <= tol)) {
            throw new AssertionError(what + ": expected " + expected + " got " + actual + " (tol " + tol + ")");
        }
    }

    /** Checks every derived table against its definition, from the given betas (double). */
    static double checkDerived(NoiseSchedule s, double[] betas, String name) {
        double prod = 1, worst = 0;
        float[] ab = s.alphasCumprod(), abPrev = s.alphasCumprodPrev(), sab = s.sqrtAlphasCumprod(),
                s1m = s.sqrtOneMinusAlphasCumprod(), rab = s.sqrtRecipAlphasCumprod(), rm1 = s.sqrtRecipm1AlphasCumprod(),
                pv = s.posteriorVariance(), plv = s.posteriorLogVarianceClipped(), c1 = s.posteriorMeanCoef1(),
                c2 = s.posteriorMeanCoef2(), snr = s.snr(), fl = s.fixedLargeVariance(), bf = s.betas();
        double pv1 = betas[1] * (1 - (1 - betas[0])) / (1 - (1 - betas[0]) * (1 - betas[1]));
        for (int t = 0; t < betas.length; t++) {
            double prev = prod;
            prod *= 1 - betas[t];
            double post = betas[t] * (1 - prev) / (1 - prod);
            close(betas[t], bf[t], 1e-7, name + " beta " + t);
            close(prod, ab[t], 1e-6, name + " abar " + t);
            close(prev, abPrev[t], 1e-6, name + " abar_prev " + t);
            close(Math.sqrt(prod), sab[t], 1e-6, name + " sqrt abar " + t);
            close(Math.sqrt(1 - prod), s1m[t], 1e-6, name + " sqrt(1-abar) " + t);
            close(1 / Math.sqrt(prod), rab[t], 1e-6, name + " 1/sqrt abar " + t);
            close(Math.sqrt(1 / prod - 1), rm1[t], 1e-6, name + " sqrt(1/abar-1) " + t);
            close(post, pv[t], 1e-6, name + " posterior variance " + t);
            close(Math.log(t == 0 ? pv1 : post), plv[t], 1e-6, name + " clipped log variance " + t);
            close(t == 0 ? pv1 : betas[t], fl[t], 1e-6, name + " fixed large " + t);
            close(betas[t] * Math.sqrt(prev) / (1 - prod), c1[t], 1e-6, name + " coef1 " + t);
            close((1 - prev) * Math.sqrt(1 - betas[t]) / (1 - prod), c2[t], 1e-6, name + " coef2 " + t);
            close(prod / (1 - prod), snr[t], 1e-6, name + " snr " + t);
            worst = Math.max(worst, Math.abs(ab[t] - prod) / prod);
        }
        assertEquals(0f, pv[0], name + ": posterior variance at t=0 must be exactly 0");
        System.out.printf("%-18s abar_0 %.8f abar_T-1 %.3e  posterior var(0) = %s  max rel err abar %.2e%n", name, ab[0],
                ab[betas.length - 1], pv[0], worst);
        return worst;
    }

    @Test
    void linear() {
        double[] b = new double[T];
        for (int t = 0; t < T; t++) b[t] = 1e-4 + t * (0.02 - 1e-4) / (T - 1);
        NoiseSchedule s = NoiseSchedule.linear();
        checkDerived(s, b, "linear");
        // Ho et al.: abar_T for the linear schedule is about 4.0e-5
        assertEquals(4.0358e-5, s.alphaBar(T - 1), 1e-8);
    }

    @Test
    void scaledLinearAndSigmoid() {
        double[] sl = new double[T], sg = new double[T];
        for (int t = 0; t < T; t++) {
            double r = Math.sqrt(0.00085) + t * (Math.sqrt(0.012) - Math.sqrt(0.00085)) / (T - 1);
            sl[t] = r * r;
            double x = -6 + 12.0 * t / (T - 1);
            sg[t] = (0.02 - 1e-4) / (1 + Math.exp(-x)) + 1e-4;
        }
        checkDerived(NoiseSchedule.create(BetaSchedule.SCALED_LINEAR, T, 0.00085, 0.012, false), sl, "scaled_linear");
        checkDerived(NoiseSchedule.create(BetaSchedule.SIGMOID, T, 1e-4, 0.02, false), sg, "sigmoid");
    }

    @Test
    void cosineMatchesImprovedDdpmFormula() {
        NoiseSchedule s = NoiseSchedule.create(BetaSchedule.SQUAREDCOS_CAP_V2, T, 1e-4, 0.02, false);
        double[] b = new double[T];
        for (int t = 0; t < T; t++) {
            double f1 = Math.pow(Math.cos((t / (double) T + 0.008) / 1.008 * Math.PI / 2), 2);
            double f2 = Math.pow(Math.cos(((t + 1) / (double) T + 0.008) / 1.008 * Math.PI / 2), 2);
            b[t] = Math.min(1 - f2 / f1, 0.999);
        }
        checkDerived(s, b, "squaredcos_cap_v2");
        // where no beta was capped, the product telescopes: abar_t = f((t+1)/T) / f(0)
        double f0 = Math.pow(Math.cos(0.008 / 1.008 * Math.PI / 2), 2);
        float[] ab = s.alphasCumprod();
        int checked = 0;
        for (int t = 0; t < T && b[t] < 0.999; t++, checked++) {
            double f = Math.pow(Math.cos(((t + 1) / (double) T + 0.008) / 1.008 * Math.PI / 2), 2);
            close(f / f0, ab[t], 2e-6, "cosine abar " + t);
        }
        System.out.println("cosine: abar_t = f((t+1)/T)/f(0) verified for t < " + checked + "; beta_T-1 = " + s.beta(T - 1));
        assertTrue(checked > 990);
        assertEquals(0.999, s.beta(T - 1), 0, "the last cosine beta is capped");
    }

    @Test
    void zeroTerminalSnrRescaling() {
        NoiseSchedule base = NoiseSchedule.create(BetaSchedule.SCALED_LINEAR, T, 0.00085, 0.012, false);
        NoiseSchedule z = NoiseSchedule.create(BetaSchedule.SCALED_LINEAR, T, 0.00085, 0.012, true);
        double s0 = Math.sqrt(base.alphaBar(0)), sT = Math.sqrt(base.alphaBar(T - 1));
        for (int t = 0; t < T; t++) {
            double expect = (Math.sqrt(base.alphaBar(t)) - sT) * s0 / (s0 - sT);   // Lin et al. algorithm 1
            assertEquals(expect, Math.sqrt(z.alphaBar(t)), 1e-12, "rescaled sqrt abar at " + t);
        }
        assertEquals(0.0, z.alphaBar(T - 1), 0.0);
        assertEquals(0.0, z.snr(T - 1), 0.0);
        assertEquals(1.0, z.beta(T - 1), 1e-15);
        assertEquals(base.alphaBar(0), z.alphaBar(0), 1e-15);
        System.out.printf("zero-SNR: sqrt abar_0 %.6f kept, abar_T-1 %s (was %.3e)%n", Math.sqrt(z.alphaBar(0)),
                z.alphaBar(T - 1), base.alphaBar(T - 1));
    }

    @Test
    void deviceTablesAndErrors() {
        NoiseSchedule s = NoiseSchedule.linear();
        Tensor a = s.sqrtAlphasCumprodTensor(CpuBackend.get());
        assertEquals(T, a.numel());
        assertEquals(s.sqrtAlphasCumprod()[500], a.toArray()[500]);
        assertTrue(a == s.sqrtAlphasCumprodTensor(CpuBackend.get()), "uploaded once per backend");
        s.close();
        assertThrows(IllegalArgumentException.class, () -> s.alphaBar(T));
        assertThrows(IllegalArgumentException.class, () -> NoiseSchedule.create(BetaSchedule.LINEAR, 1, 1e-4, 0.02, false));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BetaSchedule.fromName("cosine"));
        assertTrue(e.getMessage().contains("squaredcos_cap_v2"), e.getMessage());
    }
}
