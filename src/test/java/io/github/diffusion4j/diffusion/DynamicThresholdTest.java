package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Imagen's dynamic thresholding: the op against torch.quantile's definition computed here in double (linear
 * interpolation between order statistics), and the DDPM/DDIM/DPM-Solver++ steps with {@code thresholding} against
 * the step written out by hand from the thresholded x0.
 */
class DynamicThresholdTest {
    static final Backend CPU = CpuBackend.get();

    /** The expected result for one sample, in double from a sorted copy. */
    static double[] expected(float[] x, double ratio, double maxValue) {
        double[] abs = new double[x.length];
        for (int i = 0; i < x.length; i++) abs[i] = Math.abs(x[i]);
        Arrays.sort(abs);
        double pos = ratio * (x.length - 1);
        int lo = (int) Math.floor(pos), hi = Math.min(lo + 1, x.length - 1);
        double q = abs[lo] + (abs[hi] - abs[lo]) * (pos - lo);
        double t = Math.min(Math.max(q, 1), maxValue);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = Math.min(Math.max(x[i], -t), t) / t;
        return out;
    }

    static float[] data(int n, int per, long seed, float scale) {
        float[] v = new float[n * per];
        Philox.fillNormal(v, 0, seed, 0, 0, v.length);
        for (int i = 0; i < v.length; i++) v[i] *= scale * (1 + i / per);   // samples of growing spread
        return v;
    }

    @Test
    void quantileClampAndScaleAsTorch() {
        for (int per : new int[] {1, 2, 7, 300, 3 * 16 * 16}) {
            for (double[] rm : new double[][] {{0.995, 1e9}, {0.5, 1e9}, {1.0, 1e9}, {0.9, 1.5}, {0.995, 1.0}}) {
                int n = 3;
                float[] v = data(n, per, per, 1.5f);
                try (Tensor x = CPU.fromArray(v, Shape.of(n, per))) {
                    CPU.dynamicThreshold(x, (float) rm[0], (float) rm[1]);
                    float[] got = x.toArray();
                    for (int s = 0; s < n; s++) {
                        double[] e = expected(Arrays.copyOfRange(v, s * per, (s + 1) * per), (float) rm[0], (float) rm[1]);
                        for (int j = 0; j < per; j++) {
                            assertEquals(e[j], got[s * per + j], 2e-6, "per " + per + " ratio " + rm[0] + " sample " + s);
                        }
                    }
                }
            }
        }
        // within [-1, 1] nothing changes (the threshold is at least 1); ties and zeros are fine
        float[] small = {0.5f, -0.25f, 0f, 0f, 1f, -1f};
        try (Tensor x = CPU.fromArray(small, Shape.of(1, 6))) {
            CPU.dynamicThreshold(x, 0.995f, 1e9f);
            assertArrayEquals(small, x.toArray());
        }
        try (Tensor x = CPU.zeros(Shape.of(1, 4))) {
            assertThrows(IllegalArgumentException.class, () -> CPU.dynamicThreshold(x, 1.5f, 2f));
            assertThrows(IllegalArgumentException.class, () -> CPU.dynamicThreshold(x, 0.9f, 0.5f));
        }
    }

    /** A DDIM step with thresholding is the DDIM update of the thresholded x0 and the raw model's epsilon. */
    @Test
    void ddimDdpmAndDpmStepsUseTheThresholdedX0() {
        int n = 2, per = 64;
        float[] x = data(n, per, 3, 1f), m = data(n, per, 4, 2f);
        SchedulerConfig base = SchedulerConfig.builder().thresholding(true).dynamicThresholdingRatio(0.9).sampleMaxValue(3).build();
        // DDIM (eta 0) at t = 500 of 10 leading steps: prev timestep 400
        DdimScheduler ddim = new DdimScheduler(base);
        ddim.setTimesteps(10);
        NoiseSchedule sch = ddim.schedule();
        double a = sch.alphaBar(500), ap = sch.alphaBar(400);
        float[] x0 = new float[x.length];
        for (int i = 0; i < x.length; i++) x0[i] = (float) ((x[i] - Math.sqrt(1 - a) * m[i]) / Math.sqrt(a));
        float[] th = x0.clone();
        for (int s = 0; s < n; s++) {
            double[] e = expected(Arrays.copyOfRange(x0, s * per, (s + 1) * per), 0.9, 3);
            for (int j = 0; j < per; j++) th[s * per + j] = (float) e[j];
        }
        boolean changed = false;
        for (int i = 0; i < x0.length; i++) changed |= Math.abs(th[i] - x0[i]) > 1e-3;
        assertTrue(changed, "the test data is thresholded");
        try (Tensor xs = CPU.fromArray(x, Shape.of(n, per)); Tensor ms = CPU.fromArray(m, Shape.of(n, per))) {
            StepOutput o = ddim.step(ms, 500, xs, null);
            float[] prev = o.prevSample().toArray(), px0 = o.predOriginalSample().toArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(th[i], px0[i], 1e-5, "x0 " + i);
                assertEquals(Math.sqrt(ap) * th[i] + Math.sqrt(1 - ap) * m[i], prev[i], 2e-5, "DDIM prev " + i);
            }
            o.prevSample().close();
            o.predOriginalSample().close();
            // DDPM (fixed_small) at t = 500 of 1000: the posterior mean of the thresholded x0
            DdpmScheduler ddpm = new DdpmScheduler(base);
            StepOutput d = ddpm.step(ms, 500, xs, new NoiseStream(1));
            double c1 = Math.sqrt(sch.alphaBar(499)) * sch.beta(500) / (1 - a);
            double c2 = Math.sqrt(1 - sch.beta(500)) * (1 - sch.alphaBar(499)) / (1 - a);
            double var = sch.beta(500) * (1 - sch.alphaBar(499)) / (1 - a);
            float[] dp = d.prevSample().toArray();
            float[] z = new float[x.length];
            Philox.fillNormal(z, 0, 1, 0, 0, z.length);
            for (int i = 0; i < x.length; i++) {
                assertEquals(c1 * th[i] + c2 * x[i] + Math.sqrt(var) * z[i], dp[i], 2e-5, "DDPM prev " + i);
            }
            d.prevSample().close();
            d.predOriginalSample().close();
            // DPM-Solver++ first step: x_{t} = (s_t/s_s) x - alpha_t (e^{-h} - 1) D with D thresholded
            DpmSolverMultistepScheduler dpm = new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults()
                    .thresholding(true).dynamicThresholdingRatio(0.9).sampleMaxValue(3).build());
            dpm.setTimesteps(10);
            int t0 = dpm.timesteps()[0];
            double[] sig = dpm.sigmas();
            double as = 1 / Math.sqrt(sig[0] * sig[0] + 1), at = 1 / Math.sqrt(sig[1] * sig[1] + 1);
            double ss = sig[0] * as, st = sig[1] * at, h = Math.log(at / st) - Math.log(as / ss);
            double ab = as * as;
            float[] x0d = new float[x.length];
            for (int i = 0; i < x.length; i++) x0d[i] = (float) ((x[i] - Math.sqrt(1 - ab) * m[i]) / Math.sqrt(ab));
            StepOutput p = dpm.step(ms, t0, xs, null);
            float[] pp = p.prevSample().toArray();
            for (int s = 0; s < n; s++) {
                double[] e = expected(Arrays.copyOfRange(x0d, s * per, (s + 1) * per), 0.9, 3);
                for (int j = 0; j < per; j++) {
                    int i = s * per + j;
                    assertEquals(st / ss * x[i] - at * Math.expm1(-h) * e[j], pp[i], 3e-4 * Math.max(1, Math.abs(pp[i])), "DPM prev " + i);
                }
            }
            p.prevSample().close();
            p.predOriginalSample().close();
            dpm.close();
            ddim.close();
            ddpm.close();
        }
    }

    /**
     * With a learned variance: where the threshold stays at 1 (|x0| within [-1, 1]) the thresholded DDPM step is the
     * clipped one, noise and all; where it exceeds 1 the mean moves and the learned noise stays.
     */
    @Test
    void learnedVarianceStepsThresholdThePredictionHalf() {
        int n = 2, c = 2, per = c * 4;
        float[] x = data(n, per, 5, 0.1f), out = new float[n * 2 * per];
        Philox.fillUniform(out, 0, 6, 0, 0, out.length);
        for (int i = 0; i < out.length; i++) out[i] = 0.2f * (2 * out[i] - 1);   // small eps and v: |x0| < 1 at t = 100
        SchedulerConfig learned = SchedulerConfig.builder().varianceType(VarianceType.LEARNED_RANGE).build();
        try (Tensor xs = CPU.fromArray(x, Shape.of(n, c, 2, 2)); Tensor os = CPU.fromArray(out, Shape.of(n, 2 * c, 2, 2));
             DdpmScheduler plain = new DdpmScheduler(learned);
             DdpmScheduler thr = new DdpmScheduler(learned.toBuilder().thresholding(true).sampleMaxValue(1e9).build())) {
            StepOutput a = plain.step(os, 100, xs, new NoiseStream(3)), b = thr.step(os, 100, xs, new NoiseStream(3));
            assertArrayEquals(a.prevSample().toArray(), b.prevSample().toArray(), "threshold 1: the clipped step");
            a.close();
            b.close();
            for (int i = 0; i < per; i++) out[i] *= 40;   // sample 0's x0 far beyond [-1, 1]
            try (Tensor big = CPU.fromArray(out, Shape.of(n, 2 * c, 2, 2))) {
                StepOutput p = plain.step(big, 100, xs, new NoiseStream(3)), q = thr.step(big, 100, xs, new NoiseStream(3));
                float[] pp = p.prevSample().toArray(), qq = q.prevSample().toArray();
                double d0 = 0, d1 = 0;
                for (int i = 0; i < per; i++) d0 = Math.max(d0, Math.abs(pp[i] - qq[i]));
                for (int i = per; i < 2 * per; i++) d1 = Math.max(d1, Math.abs(pp[i] - qq[i]));
                assertTrue(d0 > 1e-3, "sample 0 is thresholded (" + d0 + ")");
                assertEquals(0, d1, 1e-6, "sample 1 stays as clipped");
                p.close();
                q.close();
            }
        }
    }

    @Test
    void diffusersConfigKeys() {
        SchedulerConfig c = SchedulerConfig.fromDiffusersJson("""
                {"thresholding": true, "dynamic_thresholding_ratio": 0.99, "sample_max_value": 1.5}""", null);
        assertTrue(c.thresholding());
        assertEquals(0.99, c.dynamicThresholdingRatio());
        assertEquals(1.5, c.sampleMaxValue());
        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.builder().sampleMaxValue(0.5).build());
    }
}
