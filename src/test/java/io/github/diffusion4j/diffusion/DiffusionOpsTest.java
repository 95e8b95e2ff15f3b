package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fused Backend ops against their documented per-element formulas (the reference for the CUDA kernels). */
class DiffusionOpsTest {
    static final Backend B = CpuBackend.get();
    static final int N = 70000;   // several parallel chunks

    static float[] normals(long seed) {
        float[] x = new float[N];
        Philox.fillNormal(x, 0, seed, 0, 0, N);
        return x;
    }

    @Test
    void diffusionStepFormula() {
        float[] s = normals(1), m = normals(2), h = normals(3);
        StepCoefficients k = new StepCoefficients(1.5f, -0.7f, true, 1f, 0.3f, 0.9f, -0.2f, 0.15f, 0.05f);
        Tensor prev = B.zeros(N), x0 = B.zeros(N);
        B.diffusionStep(prev, x0, B.fromArray(s, N), B.fromArray(m, N), B.fromArray(h, N), k, 5, 100);
        float[] p = prev.toArray(), x = x0.toArray();
        for (int i = 0; i < N; i++) {
            float e = Math.min(Math.max(1.5f * s[i] + -0.7f * m[i], -1f), 1f);
            float expect = 0.3f * e + 0.9f * s[i] + -0.2f * m[i] + 0.15f * h[i] + 0.05f * Philox.normal(5, 100 + i);
            assertEquals(e, x[i], 0f);
            assertEquals(expect, p[i], 1e-6f);
        }
        // in place (prev aliasing sample) gives the same values
        Tensor inPlace = B.fromArray(s, N);
        B.diffusionStep(inPlace, null, inPlace, B.fromArray(m, N), B.fromArray(h, N), k, 5, 100);
        assertArrayEquals(p, inPlace.toArray());
    }

    @Test
    void qSampleFormulaAndExplicitNoise() {
        int n = 7, per = N / 7;
        float[] x0 = normals(4);
        float[] t = {0, 999, 500, 1, 250, 750, 998};
        NoiseSchedule s = NoiseSchedule.linear();
        Tensor sa = s.sqrtAlphasCumprodTensor(B), sb = s.sqrtOneMinusAlphasCumprodTensor(B);
        Tensor xt = B.zeros(N), v = B.zeros(N), tt = B.fromArray(t, n);
        B.qSample(xt, v, B.fromArray(x0, N), null, tt, sa, sb, Backend.TARGET_V, 8, 33);
        float[] a = s.sqrtAlphasCumprod(), b = s.sqrtOneMinusAlphasCumprod(), xs = xt.toArray(), vs = v.toArray();
        for (int i = 0; i < N; i++) {
            int step = (int) t[i / per];
            float eps = Philox.normal(8, 33 + i);
            assertEquals(a[step] * x0[i] + b[step] * eps, xs[i], 0f);
            assertEquals(a[step] * eps - b[step] * x0[i], vs[i], 0f);
        }
        Tensor noise = B.zeros(N), xt2 = B.zeros(N);
        B.randn(noise, 8, 33);
        B.qSample(xt2, null, B.fromArray(x0, N), noise, tt, sa, sb, Backend.TARGET_EPSILON, 0, 0);
        assertArrayEquals(xs, xt2.toArray(), "explicit noise = in-kernel noise from the same (seed, offset)");
        assertThrows(IllegalArgumentException.class,
                () -> B.qSample(xt, null, B.fromArray(x0, N), null, B.fromArray(new float[] {1000, 0, 0, 0, 0, 0, 0}, 7),
                        sa, sb, 0, 0, 0));
    }

    @Test
    void repaintBlendTilesTheMask() {
        int hw = 100;
        float[] s = normals(5), o = normals(6), mask = new float[hw];
        for (int i = 0; i < hw; i++) mask[i] = i % 3 == 0 ? 1f : i % 3 == 1 ? 0f : 0.25f;
        Tensor out = B.zeros(N);
        B.repaintBlend(out, B.fromArray(s, N), B.fromArray(o, N), B.fromArray(mask, 10, 10), 0.8f, 0.6f, 12, 7);
        float[] r = out.toArray();
        for (int i = 0; i < N; i++) {
            float m = mask[i % hw];
            float known = 0.8f * o[i] + 0.6f * Philox.normal(12, 7 + i);
            assertEquals(m * known + (1f - m) * s[i], r[i], 0f);
        }
    }

    @Test
    void mseLossWithoutWeights() {
        float[] a = normals(9), b = normals(10);
        Tensor mse = B.zeros(10), g = B.zeros(N);
        B.mseLoss(mse, g, B.fromArray(a, N), B.fromArray(b, N), null, 0.1f);
        float[] ms = mse.toArray(), gs = g.toArray();
        int per = N / 10;
        for (int n = 0; n < 10; n++) {
            double acc = 0;
            for (int j = 0; j < per; j++) acc += Math.pow(a[n * per + j] - b[n * per + j], 2);
            assertEquals(acc / per, ms[n], 1e-6 * acc / per);
        }
        for (int i = 0; i < N; i++) assertEquals(0.1 * 2.0 / per * (a[i] - b[i]), gs[i], 1e-9);
        assertTrue(mse.numel() == 10);
    }
}
