package io.github.diffusion4j.backend.cpu;

import static io.github.diffusion4j.backend.cpu.CpuBackend.GRAIN;
import static io.github.diffusion4j.backend.cpu.CpuBackend.arr;
import static io.github.diffusion4j.backend.cpu.CpuBackend.off;
import static io.github.diffusion4j.backend.cpu.CpuBackend.sum;
import static io.github.diffusion4j.backend.cpu.CpuBackend.sumSquaredDeviations;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Tensor;

/**
 * GroupNorm on the CPU, the reference for {@code kernels/groupnorm.cu} ({@code backend/cuda/GroupNormOps}): the plain
 * op and its backward (statistics and gradient sums in double), and {@link io.github.diffusion4j.tensor.Backend#groupNormSilu}
 * with its backward as the composition of the ops it stands for (bias and time-embedding add, GroupNorm, SiLU,
 * dropout), so that a fused GPU kernel is checked against exactly those steps.
 */
final class CpuGroupNorm {
    private CpuGroupNorm() {}

    static void forward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups,
                        float eps) {
        normalize(y, mean, rstd, x, gamma, beta, groups, eps, false);
    }

    /**
     * y = (x - mean) * rstd * gamma + beta per group; the statistics are computed (and written) unless
     * {@code statsGiven}, when those in mean and rstd are used: the backward pass's recomputation, bitwise the forward
     * pass's output without its two statistics passes.
     */
    private static void normalize(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups,
                                  float eps, boolean statsGiven) {
        Check.groupNorm(y, mean, rstd, x, gamma, beta, groups);
        int n = x.dim(0), c = x.shape().c(), sp = x.shape().spatial();
        int cpg = c / groups, gsize = cpg * sp;
        float[] yo = arr(y), xo = arr(x), mo = arr(mean), ro = arr(rstd), ga = arr(gamma), be = arr(beta);
        int yOff = off(y), xOff = off(x), mOff = off(mean), rOff = off(rstd), gOff = off(gamma), bOff = off(beta);
        Parallel.forRange(n * groups, Math.max(1, GRAIN / gsize), (lo, hi) -> {
            for (int ng = lo; ng < hi; ng++) {
                int base = ng * gsize;
                float m, r;
                if (statsGiven) {
                    m = mo[mOff + ng];
                    r = ro[rOff + ng];
                } else {
                    double mu = sum(xo, xOff + base, gsize) / gsize;
                    double v = sumSquaredDeviations(xo, xOff + base, gsize, mu);
                    r = (float) (1.0 / Math.sqrt(v / gsize + eps));
                    m = (float) mu;
                    mo[mOff + ng] = m;
                    ro[rOff + ng] = r;
                }
                int g = ng % groups;
                for (int cc = 0; cc < cpg; cc++) {
                    int ch = g * cpg + cc;
                    float a = ga[gOff + ch] * r, b = be[bOff + ch] - m * a;
                    int cb = base + cc * sp;
                    for (int i = 0; i < sp; i++) yo[yOff + cb + i] = xo[xOff + cb + i] * a + b;
                }
            }
        });
    }

    static void backward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor mean,
                         Tensor rstd, Tensor gamma, int groups) {
        Check.groupNorm(dx, mean, rstd, x, gamma, null, groups);
        Check.sameSize(dy, x);
        int n = x.dim(0), c = x.shape().c(), sp = x.shape().spatial();
        int cpg = c / groups, gsize = cpg * sp;
        float[] dxa = arr(dx), dga = arr(dGamma), dba = arr(dBeta), dya = arr(dy), xa = arr(x), ma = arr(mean),
                ra = arr(rstd), ga = arr(gamma);
        int dxo = off(dx), dgo = off(dGamma), dbo = off(dBeta), dyo = off(dy), xo = off(x), mo = off(mean),
                ro = off(rstd), go = off(gamma);
        // One pass per (sample, group): per channel sumD = sum(dy) and sumDX = sum(dy * xhat) (in double), which give
        // both the group's input-gradient terms and, summed over the samples afterwards in a fixed order, the
        // parameter gradients; then dx = r * (g*dy - mean(g*dy) - xhat * mean(g*dy*xhat)) while dy and x are cached.
        double[] sumD = new double[n * c], sumDX = new double[n * c];
        Parallel.forRange(n * groups, Math.max(1, GRAIN / gsize), (lo, hi) -> {
            for (int ng = lo; ng < hi; ng++) {
                int s = ng / groups, gi = ng % groups;
                float m = ma[mo + ng], r = ra[ro + ng];
                int base = ng * gsize;
                double s1 = 0, s2 = 0;
                for (int cc = 0; cc < cpg; cc++) {
                    int ch = gi * cpg + cc, cb = base + cc * sp;
                    // two partial sums each (even and odd elements) break the add latency chain
                    double p0 = 0, p1 = 0, q0 = 0, q1 = 0;
                    int i = 0;
                    for (; i + 2 <= sp; i += 2) {
                        float d0 = dya[dyo + cb + i], d1 = dya[dyo + cb + i + 1];
                        p0 += d0;
                        p1 += d1;
                        q0 += d0 * (xa[xo + cb + i] - m) * r;
                        q1 += d1 * (xa[xo + cb + i + 1] - m) * r;
                    }
                    for (; i < sp; i++) {
                        float d = dya[dyo + cb + i];
                        p0 += d;
                        q0 += d * (xa[xo + cb + i] - m) * r;
                    }
                    double sd = p0 + p1, sdx = q0 + q1;
                    sumD[s * c + ch] = sd;
                    sumDX[s * c + ch] = sdx;
                    float gm = ga[go + ch];
                    s1 += gm * sd;
                    s2 += gm * sdx;
                }
                float a1 = (float) (s1 / gsize), a2 = (float) (s2 / gsize);
                for (int cc = 0; cc < cpg; cc++) {
                    float gm = ga[go + gi * cpg + cc];
                    int cb = base + cc * sp;
                    for (int i = 0; i < sp; i++) {
                        float xhat = (xa[xo + cb + i] - m) * r;
                        dxa[dxo + cb + i] = r * (gm * dya[dyo + cb + i] - a1 - xhat * a2);
                    }
                }
            }
        });
        for (int ch = 0; ch < c; ch++) {
            double accG = 0, accB = 0;
            for (int s = 0; s < n; s++) {
                accG += sumDX[s * c + ch];
                accB += sumD[s * c + ch];
            }
            dga[dgo + ch] += (float) accG;
            dba[dbo + ch] += (float) accB;
        }
    }

    static void forwardSilu(CpuBackend b, Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor xBias, Tensor xAdd,
                            Tensor gamma, Tensor beta, int groups, float eps, float p, long seed, long offset) {
        Check.dropout(p);
        Check.groupNormOffsets(x, xBias, xAdd);
        Check.groupNorm(y, mean, rstd, x, gamma, beta, groups);
        Tensor h = input(b, x, xBias, xAdd);
        // one op: float32 throughout, one rounding where y is stored (a bf16 y is no place for the normalised values)
        Tensor u = p > 0f || y.dtype() != DType.F32 ? b.scratch(x.shape()) : y;
        forward(u, mean, rstd, h, gamma, beta, groups, eps);
        b.silu(u, u);
        if (p > 0f) b.dropout(y, u, p, seed, offset);
        else if (u != y) b.copy(y, u);
    }

    static void backwardSilu(CpuBackend b, Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor xBias,
                             Tensor xAdd, Tensor mean, Tensor rstd, Tensor gamma, Tensor beta, int groups, float eps,
                             Tensor addend) {
        Check.groupNormOffsets(x, xBias, xAdd);
        Check.groupNorm(dx, mean, rstd, x, gamma, beta, groups);
        Check.sameSize(dy, x);
        if (addend != null) Check.sameSize(addend, x);
        Tensor h = input(b, x, xBias, xAdd);
        // the normalised values again, from the mean and rstd the forward pass wrote, then SiLU's gradient at them
        Tensor u = b.scratch(x.shape());
        normalize(u, mean, rstd, h, gamma, beta, groups, eps, true);
        b.siluBackward(u, dy, u);
        if (addend == null) {
            backward(dx, dGamma, dBeta, u, h, mean, rstd, gamma, groups);
        } else {
            // the gradient and the addend summed in float32 and rounded once into dx, whatever its dtype
            Tensor g = dx.dtype() == DType.F32 ? dx : b.scratch(x.shape());
            backward(g, dGamma, dBeta, u, h, mean, rstd, gamma, groups);
            b.add(dx, g, addend);
        }
    }

    /** The GroupNorm input: x, or (x + xBias[c]) + xAdd[n, c] in a scratch tensor. */
    private static Tensor input(CpuBackend b, Tensor x, Tensor xBias, Tensor xAdd) {
        if (xBias == null) return x;
        Tensor h = b.scratch(x.shape());
        b.addBiasPerSampleChannel(h, x, xBias, xAdd);
        return h;
    }
}
