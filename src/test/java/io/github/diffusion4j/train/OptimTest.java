package io.github.diffusion4j.train;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.nn.Init;
import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.UpdateGate;
import io.github.diffusion4j.tensor.Shape;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class OptimTest {
    private static ParamStore store() {
        ParamStore s = new ParamStore();
        ParamStore.Scope r = s.root();
        r.param("w", Shape.of(5, 7), Init.normal(0.5));
        r.paramNoDecay("b", Shape.of(7), Init.normal(0.5));
        s.allocate(CpuBackend.get(), 3L);
        return s;
    }

    /** AdamW against the textbook recursion in double precision, with decay only on the weight. */
    @Test void adamwMatchesReferenceRecursion() {
        ParamStore s = store();
        AdamW.Config cfg = new AdamW.Config(0.9f, 0.99f, 1e-8f, 0.1f);
        AdamW opt = new AdamW(s, cfg);
        Param w = s.get("w"), b = s.get("b");
        int nw = (int) w.shape().numel(), nb = (int) b.shape().numel();
        double[] p = new double[nw + nb], m = new double[p.length], v = new double[p.length];
        float[] pw = w.value().toArray(), pb = b.value().toArray();
        for (int i = 0; i < nw; i++) p[i] = pw[i];
        for (int i = 0; i < nb; i++) p[nw + i] = pb[i];
        float scale = 0.5f;
        double maxErr = 0;
        for (int step = 1; step <= 20; step++) {
            float lr = 1e-2f * step / 20;
            float[] gw = new float[nw], gb = new float[nb];
            Philox.fillNormal(gw, 0, 77L, step * 1000L, 0, nw);
            Philox.fillNormal(gb, 0, 78L, step * 1000L, 0, nb);
            CpuBackend.get().copyFromHost(w.grad(), gw, 0);
            CpuBackend.get().copyFromHost(b.grad(), gb, 0);
            // 2 micro-batches, no clipping: the gradients are scaled by 1/2
            opt.update(lr, new UpdateGate(0f, 2, 0.9f, 0.99f, UpdateGate.WARMUP_NONE, 0f, 1, 1));
            double bc1 = 1 - Math.pow(0.9, step), bc2 = 1 - Math.pow(0.99, step);
            for (int i = 0; i < p.length; i++) {
                double g = (i < nw ? gw[i] : gb[i - nw]) * (double) scale;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.99 * v[i] + 0.01 * g * g;
                if (i < nw) p[i] *= 1 - lr * 0.1;
                p[i] -= lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + 1e-8);
            }
            float[] aw = w.value().toArray(), ab = b.value().toArray();
            for (int i = 0; i < p.length; i++) {
                double a = i < nw ? aw[i] : ab[i - nw];
                maxErr = Math.max(maxErr, Math.abs(a - p[i]));
            }
        }
        System.out.printf("AdamW vs double reference after 20 steps: max abs err %.2e%n", maxErr);
        assertEquals(0, maxErr, 2e-5);
        assertEquals(20, opt.step());
    }

    @Test void emaFollowsClosedForm() {
        ParamStore s = store();
        float[] start = s.values().toArray();
        Ema ema = new Ema(s, 0.999f, Ema.Warmup.DDPM);
        // hold the weights at a constant c: ema_k - c = prod(d_i) (ema_0 - c)
        float[] c = new float[start.length];
        java.util.Arrays.fill(c, 2f);
        CpuBackend.get().copyFromHost(s.values(), c, 0);
        double prod = 1;
        for (int k = 1; k <= 50; k++) {
            float d = ema.decay(k);
            float[] gate = new float[UpdateGate.SIZE];
            gate[UpdateGate.EMA_DECAY] = d;
            ema.update(CpuBackend.get().fromArray(gate, UpdateGate.SIZE));
            assertEquals(Math.min(0.999, (1.0 + k) / (10.0 + k)), d, 1e-7);
            prod *= d;
        }
        float[] e = ema.weights().toArray();
        int i = (int) s.get("w").offset() + 3;
        assertEquals(2 + prod * (start[i] - 2), e[i], 1e-5);
        assertEquals(0.999f, new Ema(s, 0.999f, Ema.Warmup.NONE).decay(1));
        assertEquals(1 - Math.pow(1 + 100, -2.0 / 3.0), new Ema(s, 0.9999f, Ema.Warmup.POWER).decay(100), 1e-6);
    }

    @Test void lrScheduleWarmupAndCosine() {
        LrSchedule s = new LrSchedule(1e-3f, 10, true, 110, 1e-5f);
        assertEquals(1e-4f, s.at(1), 1e-9);
        assertEquals(1e-3f, s.at(10), 1e-9);
        assertEquals(1e-5f + 0.5 * (1e-3 - 1e-5), s.at(60), 1e-8);
        assertEquals(1e-5f, s.at(110), 1e-9);
        assertEquals(1e-3f, new LrSchedule(1e-3f, 0, false, 100, 0).at(77), 0);
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(0f, 0, false, 1, 0));
    }
}
