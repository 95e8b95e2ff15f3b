package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The training objective: forward process, targets, weights, loss and gradient, quartiles. */
class TrainingObjectiveTest {
    static final Backend B = CpuBackend.get();
    static final NoiseSchedule S = NoiseSchedule.linear();
    static final int N = 16, C = 3, H = 4, W = 4, P = C * H * W;

    static Tensor x0() {
        float[] x = new float[N * P];
        Philox.fillUniform(x, 0, 11, 0, 0, x.length);
        for (int i = 0; i < x.length; i++) x[i] = 2 * x[i] - 1;
        return B.fromArray(x, N, C, H, W);
    }

    /** The documented Philox layout: timesteps of step k from a stream at k 2^40 + 2^39. */
    static int[] expectedTimesteps(long seed, long step, int n) {
        Philox.Stream s = new Philox.Stream(seed, step * (1L << 40) + (1L << 39));
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = s.nextInt(1000);
        return t;
    }

    @Test
    void prepareFormsXtAndEveryTarget() {
        Tensor x0 = x0();
        float[] xs = x0.toArray();
        long seed = 99, step = 7, base = step << 40;
        for (PredictionType p : PredictionType.values()) {
            try (TrainingObjective obj = TrainingObjective.builder(S).predictionType(p).build()) {
                TrainingObjective.Batch b = obj.prepare(x0, null, seed, step);
                assertArrayEquals(expectedTimesteps(seed, step, N), b.t());
                float[] tt = b.timesteps().toArray(), xt = b.xt().toArray(), tg = b.target().toArray();
                double worst = 0;
                for (int i = 0; i < N * P; i++) {
                    int n = i / P, t = b.t()[n];
                    assertEquals(t, tt[n]);
                    double a = S.alphaBar(t), eps = Philox.normal(seed, base + i);
                    double expXt = Math.sqrt(a) * xs[i] + Math.sqrt(1 - a) * eps;
                    double expTarget = switch (p) {
                        case EPSILON -> eps;
                        case SAMPLE -> xs[i];
                        case V_PREDICTION -> Math.sqrt(a) * eps - Math.sqrt(1 - a) * xs[i];
                    };
                    worst = Math.max(worst, Math.max(Math.abs(xt[i] - expXt), Math.abs(tg[i] - expTarget)));
                }
                System.out.printf("prepare %-12s x_t and target vs closed form: max |err| %.2e%n", p, worst);
                assertTrue(worst < 1e-6);
                assertNull(b.labels());
            }
        }
    }

    @Test
    void lossAndGradientMatchDirectComputation() {
        Tensor x0 = x0();
        try (TrainingObjective obj = TrainingObjective.builder(S).minSnrWeighting(5).build()) {
            TrainingObjective.Batch b = obj.prepare(x0, null, 5, 0);
            float[] out = new float[N * P];
            Philox.fillNormal(out, 0, 6, 0, 0, out.length);
            float[] target = b.target().toArray();
            TrainingObjective.LossResult r = obj.loss(b, B.fromArray(out, N, C, H, W));
            double[] mse = new double[N];
            for (int i = 0; i < N * P; i++) mse[i / P] += Math.pow(out[i] - target[i], 2) / P;
            double loss = 0;
            for (int n = 0; n < N; n++) {
                double snr = S.snr(b.t()[n]);
                double w = Math.min(snr, 5) / snr;                       // epsilon-prediction min-SNR weight
                assertEquals(w, b.weights()[n], 1e-6 * Math.max(1, w));
                assertEquals(mse[n], r.perSampleMse()[n], 1e-5 * mse[n]);
                loss += w * mse[n] / N;
            }
            assertEquals(loss, r.loss(), 1e-5 * loss);
            // gradient: analytic per element, and central differences of the loss (computed in double)
            float[] g = r.dOut().toArray();
            double worst = 0;
            for (int i = 0; i < N * P; i++) {
                double expect = b.weights()[i / P] * 2.0 * (out[i] - target[i]) / (P * (double) N);
                worst = Math.max(worst, Math.abs(g[i] - expect) / Math.max(1e-6, Math.abs(expect)));
            }
            double fdWorst = 0;
            for (int i = 0; i < N * P; i += 37) {
                double h = 1e-3, lp = 0, lm = 0;
                for (int n = 0; n < N; n++) {
                    double sp = 0, sm = 0;
                    for (int j = n * P; j < (n + 1) * P; j++) {
                        double d = out[j] - target[j];
                        double dp = j == i ? d + h : d, dm = j == i ? d - h : d;
                        sp += dp * dp / P;
                        sm += dm * dm / P;
                    }
                    lp += b.weights()[n] * sp / N;
                    lm += b.weights()[n] * sm / N;
                }
                double fd = (lp - lm) / (2 * h);
                fdWorst = Math.max(fdWorst, Math.abs(g[i] - fd) / Math.max(1e-6, Math.abs(fd)));
            }
            System.out.printf("loss %.6f (direct %.6f); dLoss/dOut max rel err %.2e (analytic), %.2e (finite differences)%n",
                    r.loss(), loss, worst, fdWorst);
            assertTrue(worst < 1e-5 && fdWorst < 1e-4);
        }
    }

    /**
     * Min-SNR-gamma weights make the three parameterizations the same objective: for one model (its output
     * converted between epsilon, x0 and v at each sample's t) the weighted per-sample losses agree, because
     * |d eps|^2 = SNR |d x0|^2 and |d v|^2 = (SNR + 1) |d x0|^2 at fixed x_t.
     */
    @Test
    void minSnrWeightsAgreeAcrossParameterizations() {
        Tensor x0 = x0();
        float[] epsOut = new float[N * P];
        Philox.fillNormal(epsOut, 0, 8, 0, 0, epsOut.length);
        float[][] losses = new float[3][];
        int k = 0;
        for (PredictionType p : PredictionType.values()) {
            try (TrainingObjective obj = TrainingObjective.builder(S).predictionType(p).minSnrWeighting(5).build()) {
                TrainingObjective.Batch b = obj.prepare(x0, null, 21, 3);
                Tensor eps = B.fromArray(epsOut, N, C, H, W), out = B.zeros(N, C, H, W);
                for (int n = 0; n < N; n++) {
                    Parameterization.convert(out.narrow0(n, n + 1), b.xt().narrow0(n, n + 1), eps.narrow0(n, n + 1),
                            PredictionType.EPSILON, p, S.alphaBar(b.t()[n]));
                }
                losses[k++] = obj.loss(b, out).perSampleLoss();
            }
        }
        double worst = 0;
        for (int n = 0; n < N; n++) {
            worst = Math.max(worst, Math.abs(losses[1][n] - losses[0][n]) / losses[0][n]);
            worst = Math.max(worst, Math.abs(losses[2][n] - losses[0][n]) / losses[0][n]);
        }
        System.out.printf("min-SNR-5 weighted loss, epsilon vs x0 vs v parameterization: max rel diff %.2e%n", worst);
        assertTrue(worst < 2e-3, "weighted losses differ by " + worst);
    }

    @Test
    void quartilesAndUniformTimesteps() {
        int n = 4096;
        Tensor x0 = B.zeros(n, 1, 1, 1);
        try (TrainingObjective obj = TrainingObjective.builder(S).build()) {
            TrainingObjective.Batch b = obj.prepare(x0, null, 1, 0);
            float[] out = new float[n];
            java.util.Arrays.fill(out, 0.25f);
            TrainingObjective.LossResult r = obj.loss(b, B.fromArray(out, n, 1, 1, 1));
            double tMean = 0;
            double[] ql = new double[4];
            int[] qc = new int[4];
            for (int i = 0; i < n; i++) {
                int t = b.t()[i];
                assertTrue(t >= 0 && t < 1000);
                tMean += t / (double) n;
                int q = t < 250 ? 0 : t < 500 ? 1 : t < 750 ? 2 : 3;
                qc[q]++;
                ql[q] += r.perSampleLoss()[i];
            }
            assertArrayEquals(qc, r.quartileCount());
            for (int q = 0; q < 4; q++) {
                assertEquals(ql[q] / qc[q], r.quartileLoss()[q], 1e-6);
                assertEquals(n / 4.0, qc[q], 5 * Math.sqrt(n * 0.25 * 0.75), "quartile " + q + " count");
            }
            double se = Math.sqrt((1000.0 * 1000 - 1) / 12 / n);
            System.out.printf("timesteps: mean %.1f (uniform: 499.5, %+.1f SE); quartile counts %s; %s%n", tMean,
                    (tMean - 499.5) / se, java.util.Arrays.toString(qc), r.metrics());
            assertEquals(499.5, tMean, 5 * se);
            assertTrue(r.metrics().containsKey("loss_q3"));
        }
    }

    @Test
    void offsetNoiseLabelsAndDeterminism() {
        Tensor x0 = x0();
        long seed = 4, step = 2, base = step << 40;
        try (TrainingObjective obj = TrainingObjective.builder(S).offsetNoise(0.1f).labelDropout(1f, 10).build()) {
            Tensor labels = B.fromArray(new float[N], N);
            TrainingObjective.Batch b = obj.prepare(x0, labels, seed, step);
            float[] tg = b.target().toArray();
            double worst = 0;
            for (int i = 0; i < N * P; i++) {
                int n = i / P, c = (i % P) / (H * W);
                double expect = Philox.normal(seed, base + i) + 0.1 * Philox.normal(seed, base + (1L << 38) + n * C + c);
                worst = Math.max(worst, Math.abs(tg[i] - expect));
            }
            System.out.printf("offset noise 0.1: target vs eps + 0.1 z[n,c]: max |err| %.2e%n", worst);
            assertTrue(worst < 1e-6);
            for (float l : b.labels().toArray()) assertEquals(10f, l, "p = 1 drops every label");
        }
        try (TrainingObjective obj = TrainingObjective.builder(S).build()) {
            Tensor labels = B.fromArray(new float[N], N);
            float[] a = obj.prepare(x0, labels, 1, 5).xt().toArray();
            TrainingObjective.Batch again = obj.prepare(x0, labels, 1, 5);
            assertArrayEquals(a, again.xt().toArray(), "same (seed, step), same batch");
            assertSame(labels, again.labels());
            assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(obj.prepare(x0, null, 1, 6).xt().toArray()));
        }
    }

    @Test
    void parameterizationConversionsRoundTrip() {
        double a = 0.37, sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
        double x0 = 0.8, eps = -1.3, xt = sa * x0 + sb * eps, v = sa * eps - sb * x0;
        double[] byType = {eps, x0, v};
        PredictionType[] types = PredictionType.values();
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                double[] c = Parameterization.coefficients(types[i], types[j], a);
                assertEquals(byType[j], c[0] * xt + c[1] * byType[i], 1e-12, types[i] + " -> " + types[j]);
            }
        }
    }
}
