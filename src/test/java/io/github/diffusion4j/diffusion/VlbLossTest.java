package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Improved DDPM's learned variance: {@link Backend#vlbLoss} against the Gaussian KL in its textbook form
 * (log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2) and the discretised likelihood written from its definition,
 * its gradient against central differences; the learned-range DDPM step against its formula; the hybrid loss of
 * the objective.
 */
class VlbLossTest {
    static final Backend CPU = CpuBackend.get();
    static final int N = 3, P = 10;

    static double cdf(double z) { return 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z))); }

    /** Random operands, x0 in [-1, 1] with some at the edges; sample 2 is the t = 0 decoder term. */
    static float[][] operands() {
        float[] x0 = new float[N * P], xt = new float[N * P], pred = new float[N * P], v = new float[N * P];
        Philox.fillUniform(x0, 0, 1, 0, 0, x0.length);
        Philox.fillNormal(xt, 0, 2, 0, 0, xt.length);
        Philox.fillNormal(pred, 0, 3, 0, 0, pred.length);
        Philox.fillUniform(v, 0, 4, 0, 0, v.length);
        for (int i = 0; i < x0.length; i++) {
            x0[i] = 2 * x0[i] - 1;
            v[i] = 2 * v[i] - 1;
        }
        x0[2 * P] = -1f;   // the open edge bins of the decoder
        x0[2 * P + 1] = 1f;
        float[] c = new float[7 * N];
        NoiseSchedule s = NoiseSchedule.of(SchedulerConfig.builder().build());
        int[] ts = {500, 20, 0};
        for (int n = 0; n < N; n++) {
            int t = ts[n];
            if (n == 1) {   // a nearly right epsilon at small t, so that the KL stays moderate (vb of order 1)
                double a = s.alphaBar(t);
                for (int j = 0; j < P; j++) {
                    int i = n * P + j;
                    pred[i] = (float) ((xt[i] - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a) + 0.002 * pred[i]);
                }
            }
            double[] pq = Parameterization.coefficients(PredictionType.EPSILON, PredictionType.SAMPLE, s.alphaBar(t));
            float[] row = {s.posteriorMeanCoef1()[t], s.posteriorMeanCoef2()[t], s.posteriorLogVarianceClipped()[t],
                    (float) Math.log(s.beta(t)), (float) pq[0], (float) pq[1], t == 0 ? 1f : 0f};
            System.arraycopy(row, 0, c, 7 * n, 7);
        }
        return new float[][] {x0, xt, pred, v, c};
    }

    static float[][] run(float[][] o, float gradScale) {
        try (Tensor x0 = CPU.fromArray(o[0], Shape.of(N, P)); Tensor xt = CPU.fromArray(o[1], Shape.of(N, P));
             Tensor pr = CPU.fromArray(o[2], Shape.of(N, P)); Tensor v = CPU.fromArray(o[3], Shape.of(N, P));
             Tensor c = CPU.fromArray(o[4], Shape.of(7 * N)); Tensor vb = CPU.empty(Shape.of(N)); Tensor dv = CPU.empty(Shape.of(N, P))) {
            CPU.vlbLoss(vb, dv, x0, xt, pr, v, c, gradScale);
            return new float[][] {vb.toArray(), dv.toArray()};
        }
    }

    @Test
    void klAndDecoderAsTheirDefinitions() {
        float[][] o = operands();
        float[] vb = run(o, 1f)[0];
        for (int n = 0; n < N; n++) {
            float[] c = java.util.Arrays.copyOfRange(o[4], 7 * n, 7 * n + 7);
            double sum = 0;
            for (int j = 0; j < P; j++) {
                int i = n * P + j;
                double mTrue = c[0] * o[0][i] + c[1] * o[1][i];
                double mModel = c[0] * (c[4] * o[1][i] + c[5] * o[2][i]) + c[1] * o[1][i];
                double logVar = c[2] + (o[3][i] + 1) / 2 * (c[3] - c[2]);
                double s1 = Math.exp(0.5 * c[2]), s2 = Math.exp(0.5 * logVar);
                if (c[6] == 0) {
                    sum += Math.log(s2 / s1) + (s1 * s1 + (mTrue - mModel) * (mTrue - mModel)) / (2 * s2 * s2) - 0.5;
                } else {
                    double x = o[0][i], lo = (x - 1.0 / 255 - mModel) / s2, hi = (x + 1.0 / 255 - mModel) / s2;
                    double prob = x < -0.999 ? cdf(hi) : x > 0.999 ? 1 - cdf(lo) : cdf(hi) - cdf(lo);
                    sum += -Math.log(Math.max(prob, 1e-12));
                }
            }
            double expect = sum / P / Math.log(2);
            assertEquals(expect, vb[n], 1e-5 * Math.max(1, Math.abs(expect)), "bits/dim of sample " + n);
            assertTrue(Double.isFinite(vb[n]));
        }
    }

    @Test
    void gradientMatchesCentralDifferences() {
        float[][] o = operands();
        float scale = 0.7f;
        float[][] base = run(o, scale);
        float[] dv = base[1];
        System.out.println("vlbLoss gradient check: vb per sample " + java.util.Arrays.toString(base[0]));
        double h = 0.01;   // vb is a float: its rounding (|vb| 2^-24) over 2h bounds the differences' resolution
        for (int i = 0; i < N * P; i++) {
            float keep = o[3][i];
            o[3][i] = (float) (keep + h);
            double up = run(o, scale)[0][i / P];
            o[3][i] = (float) (keep - h);
            double down = run(o, scale)[0][i / P];
            o[3][i] = keep;
            double fd = scale * (up - down) / (2 * h);
            double tol = 2e-3 * Math.max(0.05, Math.abs(fd)) + scale * 4 * Math.abs(base[0][i / P]) * 0x1p-24 / h;
            assertEquals(fd, dv[i], tol, "dL/dv " + i);
        }
    }

    /** learned_range: sigma = exp(0.5 (frac log beta' + (1 - frac) log beta~)), frac = (v + 1) / 2, per element. */
    @Test
    void learnedRangeDdpmStep() {
        DdpmScheduler s = new DdpmScheduler(SchedulerConfig.builder().varianceType(VarianceType.LEARNED_RANGE).build());
        assertTrue(s.readsVariance());
        int per = 8;
        float[] x = new float[2 * per], out = new float[2 * 2 * per];
        Philox.fillNormal(x, 0, 5, 0, 0, x.length);
        Philox.fillUniform(out, 0, 6, 0, 0, out.length);
        for (int i = 0; i < out.length; i++) out[i] = 2 * out[i] - 1;
        NoiseSchedule ns = s.schedule();
        int t = 400;
        double a = ns.alphaBar(t), ap = ns.alphaBar(t - 1), beta = 1 - a / ap;
        double small = (1 - ap) / (1 - a) * beta;
        StepCoefficients fixed = new DdpmScheduler(SchedulerConfig.builder().build()).pMeanVariance(t);
        try (Tensor xs = CPU.fromArray(x, Shape.of(2, 2, 2, 2)); Tensor os = CPU.fromArray(out, Shape.of(2, 4, 2, 2))) {
            NoiseStream rng = new NoiseStream(9);
            StepOutput r = s.step(os, t, xs, rng);
            assertEquals(x.length, rng.position(), "one draw per element");
            float[] prev = r.prevSample().toArray();
            float[] z = new float[x.length];
            Philox.fillNormal(z, 0, 9, 0, 0, z.length);
            for (int i = 0; i < x.length; i++) {
                int n = i / per, j = i % per;
                double eps = out[n * 2 * per + j], v = out[n * 2 * per + per + j];
                double x0 = Math.max(-1, Math.min(1, (x[i] - Math.sqrt(1 - a) * eps) / Math.sqrt(a)));
                double mean = fixed.a() * x0 + fixed.b() * x[i];
                double frac = (v + 1) / 2, sigma = Math.exp(0.5 * (frac * Math.log(beta) + (1 - frac) * Math.log(small)));
                assertEquals(mean + sigma * z[i], prev[i], 2e-5, "element " + i);
            }
            r.close();
            // the last step draws nothing
            NoiseStream none = new NoiseStream(9);
            s.step(os, 0, xs, none).close();
            assertEquals(0, none.position());
            // a model without the variance half is refused in one line
            try (Tensor plain = CPU.fromArray(x, Shape.of(2, 2, 2, 2))) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.step(plain, t, xs, new NoiseStream(1)));
                assertTrue(e.getMessage().contains("--learn-sigma"), e.getMessage());
            }
        }
    }

    static double part(TrainingObjective.LossResult r, boolean mseOnly) {
        return mseOnly ? r.loss() - r.metrics().get("vb") : r.loss();
    }

    /** The objective's hybrid loss: the MSE of the first half plus lambda T times vb; gradients in both halves. */
    @Test
    void hybridLossOfTheObjective() {
        NoiseSchedule s = NoiseSchedule.of(SchedulerConfig.builder().build());
        float[] x0 = new float[4 * 2 * 4 * 4];
        Philox.fillUniform(x0, 0, 8, 0, 0, x0.length);
        try (TrainingObjective obj = TrainingObjective.builder(s).learnSigma(0.001).build();
             Tensor x = CPU.fromArray(x0, Shape.of(4, 2, 4, 4));
             Tensor out = CPU.zeros(Shape.of(4, 4, 4, 4))) {
            assertTrue(obj.learnSigma());
            TrainingObjective.Batch b = obj.prepare(x, null, 1, 0);
            TrainingObjective.LossResult r = obj.loss(b, out);
            double mse = 0;
            for (float m : r.perSampleMse()) mse += m / 4;
            double vb = r.metrics().get("vb");
            assertTrue(vb > 0 && Double.isFinite(vb), "vb " + vb);
            assertEquals(mse + 1.0 * vb, r.loss(), 1e-5 * r.loss(), "loss = mse + lambda T vb (lambda T = 1)");
            float[] g = r.dOut().toArray();
            double predG = 0, varG = 0;
            for (int n = 0; n < 4; n++) {
                for (int j = 0; j < 32; j++) predG += Math.abs(g[n * 64 + j]);
                for (int j = 32; j < 64; j++) varG += Math.abs(g[n * 64 + j]);
            }
            assertTrue(predG > 0 && varG > 0, "both halves get gradients: " + predG + ", " + varG);
            assertThrows(IllegalArgumentException.class, () -> obj.loss(b, x));
            // dOut by central differences: the variance half's of the whole hybrid loss, the prediction half's of
            // its MSE part only (the mean is stop-gradient in the VLB term, as in the paper); lambda T = 1
            float[] o = new float[4 * 4 * 16];
            Philox.fillNormal(o, 0, 12, 0, 0, o.length);
            for (int i = 0; i < o.length; i++) o[i] *= 0.3f;
            float[] grad;
            try (Tensor m = CPU.fromArray(o, Shape.of(4, 4, 4, 4))) {
                grad = obj.loss(b, m).dOut().toArray();
            }
            for (int i : new int[] {0, 5, 17, 40, 63, 64 + 33, 128 + 3, 192 + 50}) {
                double h = 1e-2;
                float keep = o[i];
                o[i] = (float) (keep + h);
                double up, down;
                boolean predHalf = i % 64 < 32;
                try (Tensor m = CPU.fromArray(o, Shape.of(4, 4, 4, 4))) { up = part(obj.loss(b, m), predHalf); }
                o[i] = (float) (keep - h);
                try (Tensor m = CPU.fromArray(o, Shape.of(4, 4, 4, 4))) { down = part(obj.loss(b, m), predHalf); }
                o[i] = keep;
                double fd = (up - down) / (2 * h);
                assertEquals(fd, grad[i], 2e-3 * Math.max(1e-2, Math.abs(fd)) + 1e-6, "dLoss/dOut " + i);
            }
        } finally {
            s.close();
        }
    }
}
