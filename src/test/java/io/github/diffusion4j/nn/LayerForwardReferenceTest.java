package io.github.diffusion4j.nn;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static io.github.diffusion4j.nn.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Forward passes against direct loops over the definitions (PyTorch semantics). Gradient checks only show that
 * backward matches forward; these show that forward computes the intended function.
 */
class LayerForwardReferenceTest {
    private final Backend b = CpuBackend.get();

    private static void close(double[] want, float[] got, double tol, String what) {
        assertEquals(want.length, got.length, what);
        double max = 0;
        for (int i = 0; i < want.length; i++) max = Math.max(max, Math.abs(want[i] - got[i]) / (1 + Math.abs(want[i])));
        System.out.printf("reference %s: max err %.1e%n", what, max);
        assertEquals(0, max, tol, what);
    }

    @Test void conv2dIsCrossCorrelation() {
        int n = 2, ci = 3, co = 4, h = 7, w = 5, k = 3, s = 2, p = 1;
        ParamStore store = new ParamStore();
        Conv2d conv = new Conv2d(store.root(), ci, co, k, s, p);
        GradCheck.allocateRandom(store, b, 1);
        Tensor x = randn(b, 2, 1f, n, ci, h, w);
        float[] xs = b.toHost(x), wt = b.toHost(conv.weight.value()), bs = b.toHost(conv.bias.value());
        int ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
        double[] want = new double[n * co * ho * wo];
        for (int a = 0; a < n; a++)
            for (int o = 0; o < co; o++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++) {
                        double acc = bs[o];
                        for (int c = 0; c < ci; c++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++) {
                                    int y = i * s - p + u, z = j * s - p + v;
                                    if (y >= 0 && y < h && z >= 0 && z < w) {
                                        acc += wt[((o * ci + c) * k + u) * k + v] * xs[((a * ci + c) * h + y) * w + z];
                                    }
                                }
                        want[((a * co + o) * ho + i) * wo + j] = acc;
                    }
        close(want, b.toHost(conv.forward(x)), 1e-5, "conv2d 3x3 s2 p1 7x5");
    }

    @Test void convTransposeScattersTheInput() {
        int n = 2, ci = 3, co = 2, h = 3, w = 4, k = 4, s = 2, p = 1;
        ParamStore store = new ParamStore();
        ConvTranspose2d conv = new ConvTranspose2d(store.root(), ci, co, k, s, p);
        GradCheck.allocateRandom(store, b, 3);
        Tensor x = randn(b, 4, 1f, n, ci, h, w);
        float[] xs = b.toHost(x), wt = b.toHost(conv.weight.value()), bs = b.toHost(conv.bias.value());
        int ho = (h - 1) * s - 2 * p + k, wo = (w - 1) * s - 2 * p + k;
        double[] want = new double[n * co * ho * wo];
        for (int a = 0; a < n; a++)
            for (int o = 0; o < co; o++)
                for (int i = 0; i < ho * wo; i++) want[(a * co + o) * ho * wo + i] = bs[o];
        // y[a, o, i s - p + u, j s - p + v] += x[a, c, i, j] w[c, o, u, v]
        for (int a = 0; a < n; a++)
            for (int c = 0; c < ci; c++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++)
                        for (int o = 0; o < co; o++)
                            for (int u = 0; u < k; u++)
                                for (int v = 0; v < k; v++) {
                                    int y = i * s - p + u, z = j * s - p + v;
                                    if (y >= 0 && y < ho && z >= 0 && z < wo) {
                                        want[((a * co + o) * ho + y) * wo + z] += xs[((a * ci + c) * h + i) * w + j]
                                                * wt[((c * co + o) * k + u) * k + v];
                                    }
                                }
        close(want, b.toHost(conv.forward(x)), 1e-5, "convT 4x4 s2 p1 3x4");
    }

    @Test void groupNormNormalisesEachGroup() {
        int n = 2, c = 6, g = 3, sp = 5;
        ParamStore store = new ParamStore();
        GroupNorm gn = new GroupNorm(store.root(), c, g, 1e-5f);
        GradCheck.allocateRandom(store, b, 5);
        Tensor x = randn(b, 6, 2f, n, c, 1, sp);
        float[] xs = b.toHost(x), gm = b.toHost(gn.weight.value()), bt = b.toHost(gn.bias.value());
        double[] want = new double[xs.length];
        int cpg = c / g, size = cpg * sp;
        for (int a = 0; a < n; a++)
            for (int q = 0; q < g; q++) {
                int base = (a * c + q * cpg) * sp;
                double mean = 0, var = 0;
                for (int i = 0; i < size; i++) mean += xs[base + i];
                mean /= size;
                for (int i = 0; i < size; i++) var += (xs[base + i] - mean) * (xs[base + i] - mean);
                var /= size; // biased, as PyTorch
                for (int i = 0; i < size; i++) {
                    int ch = q * cpg + i / sp;
                    want[base + i] = (xs[base + i] - mean) / Math.sqrt(var + 1e-5) * gm[ch] + bt[ch];
                }
            }
        close(want, b.toHost(gn.forward(x)), 1e-5, "groupnorm C6 G3");
    }

    @Test void selfAttentionFollowsTheDefinition() {
        int n = 2, c = 8, heads = 2, d = c / heads, hw = 3 * 4;
        ParamStore store = new ParamStore();
        SelfAttention attn = new SelfAttention(store.root(), c, heads, 2);
        GradCheck.allocateRandom(store, b, 7);
        Tensor x = randn(b, 8, 1f, n, c, 3, 4);
        float[] xs = b.toHost(x);
        float[] h = b.toHost(attn.norm.forward(x)); // GroupNorm itself is checked above
        float[] wq = b.toHost(attn.qkv.weight.value()), bq = b.toHost(attn.qkv.bias.value());
        float[] wp = b.toHost(attn.proj.weight.value()), bp = b.toHost(attn.proj.bias.value());
        double[] want = new double[xs.length];
        for (int a = 0; a < n; a++) {
            double[][] qkv = new double[3 * c][hw];
            for (int o = 0; o < 3 * c; o++)
                for (int i = 0; i < hw; i++) {
                    double acc = bq[o];
                    for (int k = 0; k < c; k++) acc += wq[o * c + k] * h[(a * c + k) * hw + i];
                    qkv[o][i] = acc;
                }
            double[][] mixed = new double[c][hw];
            for (int hd = 0; hd < heads; hd++)
                for (int i = 0; i < hw; i++) {
                    double[] sc = new double[hw];
                    double mx = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < hw; j++) {
                        double dot = 0;
                        for (int e = 0; e < d; e++) dot += qkv[hd * d + e][i] * qkv[c + hd * d + e][j];
                        sc[j] = dot / Math.sqrt(d);
                        mx = Math.max(mx, sc[j]);
                    }
                    for (int j = 0; j < hw; j++) sum += sc[j] = Math.exp(sc[j] - mx);
                    for (int e = 0; e < d; e++) {
                        double acc = 0;
                        for (int j = 0; j < hw; j++) acc += sc[j] / sum * qkv[2 * c + hd * d + e][j];
                        mixed[hd * d + e][i] = acc;
                    }
                }
            for (int o = 0; o < c; o++)
                for (int i = 0; i < hw; i++) {
                    double acc = bp[o];
                    for (int k = 0; k < c; k++) acc += wp[o * c + k] * mixed[k][i];
                    want[(a * c + o) * hw + i] = xs[(a * c + o) * hw + i] + acc;
                }
        }
        close(want, b.toHost(attn.forward(x)), 1e-5, "attention C8 heads 2 3x4");
    }
}
