package io.github.diffusion4j.backend.cpu;

import static io.github.diffusion4j.backend.cpu.CpuBackend.GRAIN;
import static io.github.diffusion4j.backend.cpu.CpuBackend.arr;
import static io.github.diffusion4j.backend.cpu.CpuBackend.off;
import static io.github.diffusion4j.tensor.Backend.TARGET_EPSILON;
import static io.github.diffusion4j.tensor.Backend.TARGET_SAMPLE;
import static io.github.diffusion4j.tensor.Backend.TARGET_V;
import static io.github.diffusion4j.tensor.Check.sameSize;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The diffusion ops on the CPU, the reference for {@code kernels/diffusion.cu} ({@code backend/cuda/DiffusionOps}):
 * forward noising with its training target, timestep draws, the losses (MSE, the learned variance's VLB term), the
 * sampler's step, dynamic thresholding and inpainting's blend. {@link CpuBackend} dispatches here.
 */
final class CpuDiffusion {
    private CpuDiffusion() {}

    static void qSample(Tensor xt, Tensor target, Tensor x0, Tensor noise, Tensor t, Tensor sqrtAlphaBar,
                        Tensor sqrtOneMinusAlphaBar, int targetType, long seed, long offset) {
        sameSize(xt, x0);
        if (target != null) sameSize(target, x0);
        if (noise != null) sameSize(noise, x0);
        int n = t.size(), total = x0.size();
        if (n == 0 || total % n != 0) {
            throw new IllegalArgumentException("qSample: " + n + " timesteps for tensor " + x0.shape());
        }
        if (target != null && targetType != TARGET_EPSILON && targetType != TARGET_SAMPLE && targetType != TARGET_V) {
            throw new IllegalArgumentException("qSample: unknown target type " + targetType);
        }
        int per = total / n, steps = sqrtAlphaBar.size();
        if (sqrtOneMinusAlphaBar.size() != steps) throw new IllegalArgumentException("qSample: tables differ in length");
        float[] ts = arr(t), sa = arr(sqrtAlphaBar), sb = arr(sqrtOneMinusAlphaBar);
        int tso = off(t), sao = off(sqrtAlphaBar), sbo = off(sqrtOneMinusAlphaBar);
        float[] a = new float[n], b = new float[n];
        for (int s = 0; s < n; s++) {
            int step = (int) ts[tso + s];
            if (step < 0 || step >= steps) {
                throw new IllegalArgumentException("qSample: timestep " + ts[tso + s] + " outside [0, " + steps + ")");
            }
            a[s] = sa[sao + step];
            b[s] = sb[sbo + step];
        }
        float[] xo = arr(xt), x0a = arr(x0);
        float[] tg = target == null ? null : arr(target);
        float[] nz = noise == null ? null : arr(noise);
        int xoo = off(xt), x0o = off(x0), tgo = target == null ? 0 : off(target), nzo = noise == null ? 0 : off(noise);
        Parallel.forRange(total, GRAIN, (lo, hi) -> {
            float[] drawn = null;
            if (nz == null) {
                drawn = new float[hi - lo];
                Philox.fillNormal(drawn, -lo, seed, offset, lo, hi);
            }
            for (int i = lo; i < hi; i++) {
                int s = i / per;
                float eps = nz == null ? drawn[i - lo] : nz[nzo + i];
                float x = x0a[x0o + i];
                xo[xoo + i] = a[s] * x + b[s] * eps;
                if (tg != null) {
                    tg[tgo + i] = switch (targetType) {
                        case TARGET_EPSILON -> eps;
                        case TARGET_SAMPLE -> x;
                        default -> a[s] * eps - b[s] * x;
                    };
                }
            }
        });
    }

    static void drawTimesteps(Tensor t, Tensor weights, Tensor weightTable, long seed, long position) {
        Check.drawTimesteps(t, weights, weightTable);
        float[] ta = arr(t), wt = arr(weightTable), wa = weights == null ? null : arr(weights);
        int to = off(t), wto = off(weightTable), wo = weights == null ? 0 : off(weights);
        Philox.Stream rng = new Philox.Stream(seed, position);
        int bound = weightTable.size();
        for (int i = 0; i < t.size(); i++) {
            int s = rng.nextInt(bound);
            ta[to + i] = s;
            if (wa != null) wa[wo + i] = wt[wto + s];
        }
    }

    static void vlbLoss(Tensor vb, Tensor dV, Tensor x0, Tensor xt, Tensor pred, Tensor v, Tensor coefs,
                        float gradScale) {
        Check.vlbLoss(vb, dV, x0, xt, pred, v, coefs);
        int n = x0.dim(0), per = (int) (x0.numel() / n);
        float[] xa = arr(x0), ta = arr(xt), pa = arr(pred), va = arr(v), ca = arr(coefs), ba = arr(vb);
        float[] da = dV == null ? null : arr(dV);
        int xo = off(x0), to = off(xt), po = off(pred), vo = off(v), co = off(coefs), bo = off(vb), dO = dV == null ? 0 : off(dV);
        Parallel.forRange(n, 1, (s0, s1) -> {
            for (int s = s0; s < s1; s++) {
                int c = co + Backend.VLB_COEFFICIENTS * s;
                double[] out = new double[2];
                double sum = 0;
                for (int j = 0; j < per; j++) {
                    int i = s * per + j;
                    VlbTerm.at(xa[xo + i], ta[to + i], pa[po + i], va[vo + i], ca[c], ca[c + 1], ca[c + 2], ca[c + 3],
                            ca[c + 4], ca[c + 5], ca[c + 6] != 0f, out);
                    sum += out[0];
                    if (da != null) da[dO + i] = (float) (gradScale * out[1] / (per * VlbTerm.LN2));
                }
                ba[bo + s] = (float) (sum / (per * VlbTerm.LN2));
            }
        });
    }

    static void dynamicThreshold(Tensor x, float ratio, float maxValue) {
        Check.dynamicThreshold(x, ratio, maxValue);
        int n = x.dim(0), per = (int) (x.numel() / n);
        float[] a = arr(x);
        int o = off(x);
        double pos = (double) ratio * (per - 1);
        int lo = (int) Math.floor(pos), hi = Math.min(lo + 1, per - 1);
        float frac = (float) (pos - lo);
        Parallel.forRange(n, 1, (s0, s1) -> {
            float[] abs = new float[per];
            for (int s = s0; s < s1; s++) {
                int base = o + s * per;
                for (int j = 0; j < per; j++) abs[j] = Math.abs(a[base + j]);
                java.util.Arrays.sort(abs);
                float q = abs[lo] + (abs[hi] - abs[lo]) * frac;
                float t = Math.min(Math.max(q, 1f), maxValue);
                for (int j = 0; j < per; j++) a[base + j] = Math.min(Math.max(a[base + j], -t), t) / t;
            }
        });
    }

    static void diffusionStep(Tensor prev, Tensor predX0, Tensor sample, Tensor modelOut, Tensor prevX0,
                              StepCoefficients k, long seed, long offset) {
        Check.diffusionStep(prev, predX0, sample, modelOut, prevX0, k);
        float[] po = arr(prev), sa = arr(sample), mo = arr(modelOut);
        float[] xo = predX0 == null ? null : arr(predX0);
        float[] hx = prevX0 == null ? null : arr(prevX0);
        int poo = off(prev), sao = off(sample), moo = off(modelOut);
        int xoo = predX0 == null ? 0 : off(predX0), hxo = prevX0 == null ? 0 : off(prevX0);
        float fs = k.x0FromSample(), fm = k.x0FromModel(), range = k.clipRange();
        boolean clip = k.clip();
        float ka = k.a(), kb = k.b(), kc = k.c(), kd = k.d(), sigma = k.sigma();
        boolean learned = k.learnedVariance();
        float lvBase = k.lvBase(), lvScale = k.lvScale();
        int per = (int) (sample.numel() / sample.dim(0));
        Parallel.forRange(sample.size(), GRAIN, (lo, hi) -> {
            float[] z = null;
            if (k.drawsNoise()) {
                z = new float[hi - lo];
                Philox.fillNormal(z, -lo, seed, offset, lo, hi);
            }
            for (int i = lo; i < hi; i++) {
                int mi = learned ? (i / per) * 2 * per + i % per : i;
                float x = sa[sao + i], m = mo[moo + mi];
                float x0 = fs * x + fm * m;
                if (clip) x0 = Math.min(Math.max(x0, -range), range);
                float p = ka * x0 + kb * x + kc * m;
                if (hx != null) p += kd * hx[hxo + i];
                if (learned) {
                    if (z != null) p += (float) Math.exp(0.5f * (lvBase + lvScale * mo[moo + mi + per])) * z[i - lo];
                } else if (z != null) {
                    p += sigma * z[i - lo];
                }
                if (xo != null) xo[xoo + i] = x0;
                po[poo + i] = p;
            }
        });
    }

    static void repaintBlend(Tensor out, Tensor sample, Tensor original, Tensor keepMask, float sqrtAlphaBar,
                             float sqrtOneMinusAlphaBar, long seed, long offset) {
        sameSize(out, sample);
        sameSize(original, sample);
        int total = sample.size(), masks = keepMask.size();
        if (masks == 0 || total % masks != 0) {
            throw new IllegalArgumentException("repaintBlend: mask " + keepMask.shape() + " does not tile " + sample.shape());
        }
        float[] o = arr(out), sa = arr(sample), or = arr(original), mk = arr(keepMask);
        int oo = off(out), sao = off(sample), oro = off(original), mko = off(keepMask);
        float a = sqrtAlphaBar, b = sqrtOneMinusAlphaBar;
        Parallel.forRange(total, GRAIN, (lo, hi) -> {
            float[] z = null;
            if (b != 0f) {
                z = new float[hi - lo];
                Philox.fillNormal(z, -lo, seed, offset, lo, hi);
            }
            for (int i = lo; i < hi; i++) {
                float m = mk[mko + i % masks];
                float known = a * or[oro + i];
                if (z != null) known += b * z[i - lo];
                o[oo + i] = m * known + (1f - m) * sa[sao + i];
            }
        });
    }

    static void mseLoss(Tensor mse, Tensor dOut, Tensor modelOut, Tensor target, Tensor weights,
                        float gradScale) {
        sameSize(modelOut, target);
        if (dOut != null) sameSize(dOut, modelOut);
        int n = mse.size(), total = modelOut.size();
        if (n == 0 || total % n != 0) throw new IllegalArgumentException("mseLoss: " + n + " samples for " + modelOut.shape());
        if (weights != null && weights.size() != n) throw new IllegalArgumentException("mseLoss: weights " + weights.shape());
        int per = total / n;
        float[] ms = arr(mse), mo = arr(modelOut), tg = arr(target);
        float[] g = dOut == null ? null : arr(dOut);
        float[] w = weights == null ? null : arr(weights);
        int mso = off(mse), moo = off(modelOut), tgo = off(target), go = dOut == null ? 0 : off(dOut);
        int wo = weights == null ? 0 : off(weights);
        Parallel.forRange(n, Math.max(1, GRAIN / per), (lo, hi) -> {
            for (int s = lo; s < hi; s++) {
                float scale = gradScale * (w == null ? 1f : w[wo + s]) * (2f / per);
                double acc = 0;
                int base = s * per;
                for (int j = 0; j < per; j++) {
                    float diff = mo[moo + base + j] - tg[tgo + base + j];
                    acc += (double) diff * diff;
                    if (g != null) g[go + base + j] = scale * diff;
                }
                ms[mso + s] = (float) (acc / per);
            }
        });
    }
}
