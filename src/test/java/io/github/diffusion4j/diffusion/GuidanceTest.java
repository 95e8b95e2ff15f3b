package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Classifier-free guidance and label dropout. */
class GuidanceTest {
    static final Backend B = CpuBackend.get();
    static final int NULL = 10;

    /** A toy conditional model: out = x * (1 + label) + t / 1000 + (label == NULL ? 0.5 : 0). Records its calls. */
    static final class ToyModel implements Denoiser {
        final List<Integer> batchSizes = new ArrayList<>();
        final List<float[]> labelsSeen = new ArrayList<>();

        @Override public Tensor predict(Tensor xt, Tensor ts, Tensor labels) {
            int n = xt.dim(0), per = xt.shape().sizeFrom(1);
            batchSizes.add(n);
            float[] x = xt.toArray(), t = ts.toArray(), l = labels.toArray();
            labelsSeen.add(l);
            float[] out = new float[x.length];
            for (int i = 0; i < x.length; i++) {
                int s = i / per;
                out[i] = x[i] * (1 + l[s]) + t[s] / 1000f + (l[s] == NULL ? 0.5f : 0f);
            }
            return B.fromArray(out, xt.shape());
        }
    }

    static float[] direct(ToyModel m, Tensor x, Tensor t, float label) {
        float[] l = new float[x.dim(0)];
        java.util.Arrays.fill(l, label);
        return m.predict(x, t, B.fromArray(l, l.length)).toArray();
    }

    @Test
    void scaleOneIsConditionalScaleZeroIsUnconditional() {
        float[] xs = new float[3 * 2 * 4 * 4];
        Philox.fillNormal(xs, 0, 1, 0, 0, xs.length);
        Tensor x = B.fromArray(xs, 3, 2, 4, 4), t = B.fromArray(new float[] {10, 500, 999}, 3);
        Tensor labels = B.fromArray(new float[] {3, 3, 3}, 3);
        ToyModel ref = new ToyModel();
        float[] cond = direct(ref, x, t, 3), uncond = direct(ref, x, t, NULL);

        ToyModel m = new ToyModel();
        float[] s1 = new ClassifierFreeGuidance(m, 1f, NULL).predict(x, t, labels).toArray();
        float[] s0 = new ClassifierFreeGuidance(m, 0f, NULL).predict(x, t, labels).toArray();
        float[] s3 = new ClassifierFreeGuidance(m, 3f, NULL).predict(x, t, labels).toArray();
        assertArrayEquals(cond, s1, "s = 1 must equal the conditional prediction exactly");
        assertArrayEquals(uncond, s0, "s = 0 must equal the unconditional prediction exactly");
        double worst = 0;
        for (int i = 0; i < cond.length; i++) {
            double expect = uncond[i] + 3.0 * (cond[i] - uncond[i]);
            worst = Math.max(worst, Math.abs(s3[i] - expect));
        }
        System.out.printf("guidance: s=1 == cond, s=0 == uncond (bitwise); s=3 max |err| %.2e vs uncond + 3 (cond - uncond)%n", worst);
        assertTrue(worst < 1e-5);
        // one batched call per prediction, [cond; uncond] with the null class in the second half
        assertEquals(List.of(6, 6, 6), m.batchSizes);
        assertArrayEquals(new float[] {3, 3, 3, NULL, NULL, NULL}, m.labelsSeen.get(0));
        assertThrows(IllegalArgumentException.class, () -> new ClassifierFreeGuidance(m, 2f, NULL).predict(x, t, null));
        assertThrows(IllegalArgumentException.class, () -> new ClassifierFreeGuidance(m, Float.NaN, NULL));
    }

    @Test
    void samplerWithGuidanceOneEqualsConditionalRun() {
        DdimScheduler s = new DdimScheduler(SchedulerConfig.builder().build());
        s.setTimesteps(5);
        Tensor labels = B.fromArray(new float[] {1, 2}, 2);
        ToyModel plain = new ToyModel(), guided = new ToyModel();
        Denoiser scaled = (x, t, l) -> {                  // keep the toy model contractive
            Tensor o = plain.predict(x, t, l);
            B.scale(o, o, 0.1f);
            return o;
        };
        Denoiser scaledG = (x, t, l) -> {
            Tensor o = guided.predict(x, t, l);
            B.scale(o, o, 0.1f);
            return o;
        };
        float[] a = new Sampler(s, scaled).seed(3).labels(labels).sample(B, io.github.diffusion4j.tensor.Shape.of(2, 1, 4, 4)).toArray();
        float[] b = new Sampler(s, scaledG).seed(3).labels(labels).guidance(0f, NULL)
                .sample(B, io.github.diffusion4j.tensor.Shape.of(2, 1, 4, 4)).toArray();
        assertEquals(List.of(2, 2, 2, 2, 2), plain.batchSizes, "no guidance: N per call");
        assertEquals(List.of(4, 4, 4, 4, 4), guided.batchSizes, "guidance: one call of 2N per step");
        assertTrue(!java.util.Arrays.equals(a, b), "s = 0 follows the unconditional model");
    }

    @Test
    void labelDropoutRate() {
        int n = 20000;
        float[] l = new float[n];
        for (int i = 0; i < n; i++) l[i] = i % 10;
        Tensor labels = B.fromArray(l, n), out = B.zeros(n);
        Philox.Stream rng = new Philox.Stream(42, 0);
        ClassifierFreeGuidance.dropLabels(out, labels, 0.1f, NULL, rng);
        float[] o = out.toArray();
        int dropped = 0;
        for (int i = 0; i < n; i++) {
            if (o[i] == NULL) dropped++;
            else assertEquals(l[i], o[i]);
            assertEquals(Philox.uniform(42, i) < 0.1f, o[i] == NULL, "sample " + i + " follows its own uniform");
        }
        double p = dropped / (double) n, se = Math.sqrt(0.1 * 0.9 / n);
        System.out.printf("label dropout p=0.1: measured %.4f (%.1f SE)%n", p, (p - 0.1) / se);
        assertEquals(0.1, p, 5 * se);
        assertEquals(n, rng.position(), "exactly one uniform per label");
    }
}
