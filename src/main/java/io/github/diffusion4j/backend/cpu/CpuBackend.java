package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Rounding;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.tensor.UpdateGate;

import static io.github.diffusion4j.tensor.Check.sameSize;

/**
 * The pure-Java backend: float32, multi-threaded over the machine's cores, and the numerical reference for
 * every GPU kernel. Hot loops work on raw arrays and offsets (no per-element virtual calls).
 */
public final class CpuBackend implements Backend {
    private static final CpuBackend INSTANCE = new CpuBackend();

    /** The shared instance (the backend holds no state besides its thread pool). */
    public static CpuBackend get() { return INSTANCE; }

    public CpuBackend() {}

    @Override public String name() { return "cpu"; }

    /** MPI's non-blocking all-reduce over host copies ({@link CpuAllReduce}). */
    @Override public io.github.diffusion4j.dist.AllReduce allReduce(io.github.diffusion4j.dist.World world) {
        return new CpuAllReduce(world);
    }

    @Override public String description() {
        return "CPU, " + Parallel.threads() + " threads, " + (CpuGemm.vectorized() ? "Vector API GEMM" : "scalar GEMM")
                + " (" + System.getProperty("os.arch") + ", Java " + Runtime.version().feature() + ")";
    }

    // ------------------------------------------------------------------ helpers

    /**
     * The array behind a tensor, for reading and writing it: every op reaches memory only through here. For a BF16
     * tensor the viewed elements are first rounded to bfloat16 (nearest-even) in place: what an earlier op wrote
     * there in float32 becomes a bfloat16 value before anything reads it, which is rounding on every write as a
     * reader can observe it, done in one place instead of in each op. Rounding is idempotent, so an op that only
     * reads a bf16 tensor changes nothing, and one that writes it rounds old contents it then overwrites.
     */
    static float[] arr(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s)) {
            throw new IllegalArgumentException("tensor " + t + " does not live on the CPU backend");
        }
        float[] a = s.data();
        switch (t.dtype()) {
            case F32 -> { }
            case BF16 -> Rounding.bf16InPlace(a, (int) t.offset(), t.size());
            default -> Check.supported(t.backend(), t.dtype());
        }
        return a;
    }

    static int off(Tensor t) { return (int) t.offset(); }

    static final int GRAIN = 1 << 14;

    // ------------------------------------------------------------------ memory

    @Override public Tensor zeros(Shape shape) {
        return new Tensor(new CpuStorage(this, new float[shape.size()]), 0, shape, true);
    }

    private static final java.util.Set<DType> DTYPES = java.util.Collections.unmodifiableSet(
            java.util.EnumSet.of(DType.F32, DType.BF16));

    /** F32, and BF16 stored as bfloat16 values in float arrays (see {@link CpuStorage}). */
    @Override public java.util.Set<DType> dtypes() { return DTYPES; }

    @Override public Tensor zeros(Shape shape, DType dtype) {
        Check.supported(this, dtype);
        return new Tensor(new CpuStorage(this, new float[shape.size()], dtype), 0, shape, true);
    }

    @Override public Tensor scratch(Shape shape, DType dtype) { return zeros(shape, dtype); }

    @Override public Tensor fromArray(float[] data, Shape shape) {
        if (data.length != shape.numel()) {
            throw new IllegalArgumentException(data.length + " values for shape " + shape);
        }
        return new Tensor(new CpuStorage(this, data.clone()), 0, shape, true);
    }

    @Override public void copyFromHost(Tensor dst, float[] src, int srcOffset) {
        System.arraycopy(src, srcOffset, arr(dst), off(dst), dst.size());
    }

    @Override public float[] toHost(Tensor t) {
        float[] out = new float[t.size()];
        copyToHost(out, 0, t);
        return out;
    }

    @Override public void copyToHost(float[] dst, int dstOffset, Tensor t) {
        System.arraycopy(arr(t), off(t), dst, dstOffset, t.size());
    }

    // ------------------------------------------------------------------ elementwise

    @Override public void fill(Tensor out, float value) {
        float[] o = arr(out);
        int oo = off(out);
        java.util.Arrays.fill(o, oo, oo + out.size(), value);
    }

    @Override public void copy(Tensor out, Tensor in) {
        sameSize(out, in);
        System.arraycopy(arr(in), off(in), arr(out), off(out), in.size());
    }

    @Override public void axpby(Tensor out, float alpha, Tensor a, float beta, Tensor b) {
        sameSize(out, a);
        sameSize(out, b);
        float[] o = arr(out), x = arr(a), y = arr(b);
        int oo = off(out), xo = off(a), yo = off(b);
        Parallel.forRange(out.size(), GRAIN, (lo, hi) -> {
            for (int i = lo; i < hi; i++) o[oo + i] = alpha * x[xo + i] + beta * y[yo + i];
        });
    }

    @Override public void scale(Tensor out, Tensor a, float s) {
        sameSize(out, a);
        float[] o = arr(out), x = arr(a);
        int oo = off(out), xo = off(a);
        Parallel.forRange(out.size(), GRAIN, (lo, hi) -> {
            for (int i = lo; i < hi; i++) o[oo + i] = s * x[xo + i];
        });
    }

    @Override public void mul(Tensor out, Tensor a, Tensor b) {
        sameSize(out, a);
        sameSize(out, b);
        float[] o = arr(out), x = arr(a), y = arr(b);
        int oo = off(out), xo = off(a), yo = off(b);
        Parallel.forRange(out.size(), GRAIN, (lo, hi) -> {
            for (int i = lo; i < hi; i++) o[oo + i] = x[xo + i] * y[yo + i];
        });
    }

    @Override public void clamp(Tensor out, Tensor a, float lo0, float hi0) {
        sameSize(out, a);
        float[] o = arr(out), x = arr(a);
        int oo = off(out), xo = off(a);
        Parallel.forRange(out.size(), GRAIN, (lo, hi) -> {
            for (int i = lo; i < hi; i++) o[oo + i] = Math.max(lo0, Math.min(hi0, x[xo + i]));
        });
    }

    // ------------------------------------------------------------------ reductions

    @Override public double sum(Tensor x) {
        float[] a = arr(x);
        int o = off(x), n = x.size();
        double s = 0;
        for (int i = 0; i < n; i++) s += a[o + i];
        return s;
    }

    @Override public double sumSquares(Tensor x) {
        float[] a = arr(x);
        int o = off(x), n = x.size();
        return sumSquaredDeviations(a, o, n, 0);
    }

    @Override public boolean allFinite(Tensor x) {
        float[] a = arr(x);
        int o = off(x), n = x.size();
        for (int i = 0; i < n; i++) if (!Float.isFinite(a[o + i])) return false;
        return true;
    }

    @Override public void sumPerSample(Tensor out, Tensor x) {
        int n = x.dim(0), per = x.shape().sizeFrom(1);
        if (out.numel() != n) throw new IllegalArgumentException("sumPerSample: out " + out.shape() + " for " + x.shape());
        float[] a = arr(x), o = arr(out);
        int xo = off(x), oo = off(out);
        for (int s = 0; s < n; s++) {
            double acc = 0;
            for (int i = 0; i < per; i++) acc += a[xo + s * per + i];
            o[oo + s] = (float) acc;
        }
    }

    // ------------------------------------------------------------------ bias and broadcasts

    @Override public void addBias(Tensor out, Tensor in, Tensor bias) {
        sameSize(out, in);
        int n = in.dim(0), c = in.shape().c(), sp = in.shape().spatial();
        if (bias.numel() != c) throw new IllegalArgumentException("bias " + bias.shape() + " for " + in.shape());
        float[] o = arr(out), x = arr(in), b = arr(bias);
        int oo = off(out), xo = off(in), bo = off(bias);
        Parallel.forRange(n * c, Math.max(1, GRAIN / sp), (lo, hi) -> {
            for (int nc = lo; nc < hi; nc++) {
                float bv = b[bo + nc % c];
                int base = nc * sp;
                for (int i = 0; i < sp; i++) o[oo + base + i] = x[xo + base + i] + bv;
            }
        });
    }

    @Override public void biasGrad(Tensor dBias, Tensor dOut) {
        int n = dOut.dim(0), c = dOut.shape().c(), sp = dOut.shape().spatial();
        if (dBias.numel() != c) throw new IllegalArgumentException("bias grad " + dBias.shape() + " for " + dOut.shape());
        float[] g = arr(dBias), d = arr(dOut);
        int go = off(dBias), dO = off(dOut);
        Parallel.forRange(c, Math.max(1, GRAIN / (n * sp)), (lo, hi) -> {
            for (int ch = lo; ch < hi; ch++) {
                double acc = 0;
                for (int s = 0; s < n; s++) acc += sum(d, dO + (s * c + ch) * sp, sp);
                g[go + ch] += (float) acc;
            }
        });
    }

    @Override public void addPerSampleChannel(Tensor out, Tensor in, Tensor v) {
        sameSize(out, in);
        int nc = in.dim(0) * in.shape().c(), sp = in.shape().spatial();
        if (v.numel() != nc) throw new IllegalArgumentException("per-channel vector " + v.shape() + " for " + in.shape());
        float[] o = arr(out), x = arr(in), b = arr(v);
        int oo = off(out), xo = off(in), bo = off(v);
        Parallel.forRange(nc, Math.max(1, GRAIN / sp), (lo, hi) -> {
            for (int k = lo; k < hi; k++) {
                float bv = b[bo + k];
                int base = k * sp;
                for (int i = 0; i < sp; i++) o[oo + base + i] = x[xo + base + i] + bv;
            }
        });
    }

    @Override public void addBiasAdd(Tensor out, Tensor in, Tensor bias, Tensor other, Tensor otherBias) {
        sameSize(out, in);
        sameSize(other, in);
        Check.channelVector("bias", bias, in);
        if (otherBias != null) Check.channelVector("bias", otherBias, other);
        int n = in.dim(0), c = in.shape().c(), sp = in.shape().spatial();
        float[] o = arr(out), x = arr(in), b = arr(bias), r = arr(other), rb = otherBias == null ? null : arr(otherBias);
        int oo = off(out), xo = off(in), bo = off(bias), ro = off(other), rbo = otherBias == null ? 0 : off(otherBias);
        Parallel.forRange(n * c, Math.max(1, GRAIN / Math.max(1, sp)), (lo, hi) -> {
            for (int nc = lo; nc < hi; nc++) {
                float bv = b[bo + nc % c];
                int base = nc * sp;
                if (rb == null) {
                    for (int i = 0; i < sp; i++) o[oo + base + i] = (x[xo + base + i] + bv) + r[ro + base + i];
                } else {
                    float rv = rb[rbo + nc % c];
                    for (int i = 0; i < sp; i++) o[oo + base + i] = (x[xo + base + i] + bv) + (r[ro + base + i] + rv);
                }
            }
        });
    }

    @Override public void addBiasPerSampleChannel(Tensor out, Tensor in, Tensor bias, Tensor v) {
        sameSize(out, in);
        Check.channelVector("bias", bias, in);
        Check.perSampleChannel("per-sample-channel values", v, in);
        int n = in.dim(0), c = in.shape().c(), sp = in.shape().spatial();
        float[] o = arr(out), x = arr(in), b = arr(bias), e = arr(v);
        int oo = off(out), xo = off(in), bo = off(bias), eo = off(v);
        Parallel.forRange(n * c, Math.max(1, GRAIN / Math.max(1, sp)), (lo, hi) -> {
            for (int nc = lo; nc < hi; nc++) {
                float bv = b[bo + nc % c], ev = e[eo + nc];
                int base = nc * sp;
                for (int i = 0; i < sp; i++) o[oo + base + i] = (x[xo + base + i] + bv) + ev;
            }
        });
    }

    @Override public void perSampleChannelSum(Tensor dv, Tensor dOut) {
        int nc = dOut.dim(0) * dOut.shape().c(), sp = dOut.shape().spatial();
        if (dv.numel() != nc) throw new IllegalArgumentException("per-channel grad " + dv.shape() + " for " + dOut.shape());
        float[] g = arr(dv), d = arr(dOut);
        int go = off(dv), dO = off(dOut);
        Parallel.forRange(nc, Math.max(1, GRAIN / sp), (lo, hi) -> {
            for (int k = lo; k < hi; k++) {
                g[go + k] = (float) sum(d, dO + k * sp, sp);
            }
        });
    }

    @Override public void scaleShift(Tensor out, Tensor in, Tensor scale, Tensor shift) {
        sameSize(out, in);
        int nc = in.dim(0) * in.shape().c(), sp = in.shape().spatial();
        if (scale.numel() != nc || shift.numel() != nc) {
            throw new IllegalArgumentException("scale/shift " + scale.shape() + " for " + in.shape());
        }
        float[] o = arr(out), x = arr(in), sc = arr(scale), sh = arr(shift);
        int oo = off(out), xo = off(in), sco = off(scale), sho = off(shift);
        Parallel.forRange(nc, Math.max(1, GRAIN / sp), (lo, hi) -> {
            for (int k = lo; k < hi; k++) {
                float a = 1f + sc[sco + k], b = sh[sho + k];
                int base = k * sp;
                for (int i = 0; i < sp; i++) o[oo + base + i] = x[xo + base + i] * a + b;
            }
        });
    }

    @Override public void scaleShiftBackward(Tensor dIn, Tensor dScale, Tensor dShift, Tensor dOut, Tensor in,
                                             Tensor scale) {
        int nc = in.dim(0) * in.shape().c(), sp = in.shape().spatial();
        float[] dx = arr(dIn), dsc = arr(dScale), dsh = arr(dShift), dy = arr(dOut), x = arr(in), sc = arr(scale);
        int dxo = off(dIn), dsco = off(dScale), dsho = off(dShift), dyo = off(dOut), xo = off(in), sco = off(scale);
        Parallel.forRange(nc, Math.max(1, GRAIN / sp), (lo, hi) -> {
            for (int k = lo; k < hi; k++) {
                float a = 1f + sc[sco + k];
                double accS = 0, accB = 0;
                int base = k * sp;
                for (int i = 0; i < sp; i++) {
                    float g = dy[dyo + base + i];
                    accS += g * x[xo + base + i];
                    accB += g;
                    dx[dxo + base + i] = g * a;
                }
                dsc[dsco + k] = (float) accS;
                dsh[dsho + k] = (float) accB;
            }
        });
    }

    // ------------------------------------------------------------------ matrix products

    @Override public void matmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha,
                                 float beta) {
        Check.Gemm g = Check.matmul(c, a, b, transA, transB);
        int m = g.m(), n = g.n(), k = g.k(), ac = a.dim(-1), bc = b.dim(-1);
        CpuGemm.sgemm(transA, transB, m, n, k, alpha, arr(a), off(a), ac, arr(b), off(b), bc, beta, arr(c), off(c), n);
    }

    @Override public void batchedMatmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha,
                                        float beta) {
        Check.Gemm g = Check.batchedMatmul(c, a, b, transA, transB);
        int batch = g.batch(), m = g.m(), n = g.n(), k = g.k(), ar = a.dim(1), ac = a.dim(2), br = b.dim(1), bc = b.dim(2);
        CpuGemm.sgemmBatched(batch, transA, transB, m, n, k, alpha, arr(a), off(a), ar * ac, ac, arr(b), off(b), br * bc, bc,
                beta, arr(c), off(c), m * n, n);
    }

    @Override public void stridedBatchedMatmul(Tensor c, long strideC, Tensor a, long strideA, Tensor b, long strideB,
                                               int batch, int m, int n, int k, boolean transA, boolean transB, float alpha,
                                               float beta) {
        io.github.diffusion4j.tensor.StridedMatmul.check(c, strideC, a, strideA, b, strideB, batch, m, n, k);
        if (batch == 0) return;
        // the kernel and per-matrix order of batchedMatmul, so the values are the same as on copied-out matrices
        CpuGemm.sgemmBatched(batch, transA, transB, m, n, k, alpha, arr(a), off(a), Math.toIntExact(strideA), transA ? m : k,
                arr(b), off(b), Math.toIntExact(strideB), transB ? k : n, beta, arr(c), off(c), Math.toIntExact(strideC), n);
    }

    // ------------------------------------------------------------------ convolutions

    @Override public void conv2d(Tensor y, Tensor x, Tensor w, Tensor bias, int stride, int pad) {
        CpuConv.forward(y, x, w, bias, stride, pad);
    }

    @Override public void conv2dBackwardData(Tensor dx, Tensor dy, Tensor w, int stride, int pad) {
        CpuConv.backwardData(dx, dy, w, stride, pad);
    }

    @Override public void conv2dBackwardFilter(Tensor dw, Tensor dBias, Tensor dy, Tensor x, int stride, int pad) {
        if (dw.dtype() != x.dtype() && dw.dtype() == DType.F32) {
            // float32 gradients of narrow data: the gradient in the data's dtype, then added in float32 (the GPU's
            // cuDNN gives the filter gradient the data's type; PyTorch's autocast accumulates it the same way)
            Tensor g = zeros(dw.shape(), x.dtype());
            CpuConv.backwardFilter(g, dy, x, stride, pad);
            axpby(dw, 1f, dw, 1f, g);
            g.close();
        } else {
            CpuConv.backwardFilter(dw, dy, x, stride, pad);
        }
        if (dBias != null) biasGrad(dBias, dy);
    }

    // ------------------------------------------------------------------ normalisation and activations

    /**
     * Sum of a[off, off+len) in double, in four interleaved partial sums (elements i mod 4) added at the end: a
     * fixed order, about four times the throughput of one dependent chain of additions.
     */
    static double sum(float[] a, int off, int len) {
        if (CpuGemm.vectorized()) return VectorOps.sum(a, off, len);
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= len; i += 4) {
            s0 += a[off + i];
            s1 += a[off + i + 1];
            s2 += a[off + i + 2];
            s3 += a[off + i + 3];
        }
        for (; i < len; i++) s0 += a[off + i];
        return (s0 + s1) + (s2 + s3);
    }

    /** Sum of (a[i] - mu)^2 over [off, off+len), in double, as {@link #sum}. */
    static double sumSquaredDeviations(float[] a, int off, int len, double mu) {
        if (CpuGemm.vectorized()) return VectorOps.sumSquaredDeviations(a, off, len, mu);
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= len; i += 4) {
            double d0 = a[off + i] - mu, d1 = a[off + i + 1] - mu, d2 = a[off + i + 2] - mu, d3 = a[off + i + 3] - mu;
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
        }
        for (; i < len; i++) {
            double d = a[off + i] - mu;
            s0 += d * d;
        }
        return (s0 + s1) + (s2 + s3);
    }

    @Override public void groupNorm(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups,
                                    float eps) {
        CpuGroupNorm.forward(y, mean, rstd, x, gamma, beta, groups, eps);
    }

    @Override public void groupNormBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor mean,
                                            Tensor rstd, Tensor gamma, int groups) {
        CpuGroupNorm.backward(dx, dGamma, dBeta, dy, x, mean, rstd, gamma, groups);
    }

    @Override public void groupNormSilu(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor xBias, Tensor xAdd,
                                        Tensor gamma, Tensor beta, int groups, float eps, float p, long seed,
                                        long offset) {
        CpuGroupNorm.forwardSilu(this, y, mean, rstd, x, xBias, xAdd, gamma, beta, groups, eps, p, seed, offset);
    }

    @Override public void groupNormSiluBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x,
                                                Tensor xBias, Tensor xAdd, Tensor mean, Tensor rstd, Tensor gamma,
                                                Tensor beta, int groups, float eps, Tensor addend) {
        CpuGroupNorm.backwardSilu(this, dx, dGamma, dBeta, dy, x, xBias, xAdd, mean, rstd, gamma, beta, groups, eps,
                addend);
    }

    @Override public void silu(Tensor y, Tensor x) {
        sameSize(y, x);
        float[] o = arr(y), a = arr(x);
        int oo = off(y), ao = off(x);
        if (CpuGemm.vectorized()) {
            Parallel.forRange(x.size(), GRAIN, (lo, hi) -> VectorOps.silu(a, ao, o, oo, lo, hi));
            return;
        }
        Parallel.forRange(x.size(), GRAIN, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                float v = a[ao + i];
                o[oo + i] = v / (1f + (float) Math.exp(-v));
            }
        });
    }

    @Override public void siluBackward(Tensor dx, Tensor dy, Tensor x) {
        sameSize(dx, x);
        float[] o = arr(dx), g = arr(dy), a = arr(x);
        int oo = off(dx), go = off(dy), ao = off(x);
        if (CpuGemm.vectorized()) {
            Parallel.forRange(x.size(), GRAIN, (lo, hi) -> VectorOps.siluBackward(a, ao, g, go, o, oo, lo, hi));
            return;
        }
        Parallel.forRange(x.size(), GRAIN, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                float v = a[ao + i];
                float s = 1f / (1f + (float) Math.exp(-v));
                o[oo + i] = g[go + i] * s * (1f + v * (1f - s));
            }
        });
    }

    @Override public void softmax(Tensor y, Tensor x) {
        sameSize(y, x);
        int cols = x.dim(-1), rows = x.size() / cols;
        float[] o = arr(y), a = arr(x);
        int oo = off(y), ao = off(x);
        Parallel.forRange(rows, Math.max(1, GRAIN / cols), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int b = r * cols;
                float mx = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < cols; j++) mx = Math.max(mx, a[ao + b + j]);
                double s;
                if (CpuGemm.vectorized()) {
                    VectorOps.expShifted(a, ao + b, o, oo + b, cols, mx);
                    s = VectorOps.sum(o, oo + b, cols);
                } else {
                    s = 0;
                    for (int j = 0; j < cols; j++) {
                        float e = (float) Math.exp(a[ao + b + j] - mx);
                        o[oo + b + j] = e;
                        s += e;
                    }
                }
                float inv = (float) (1.0 / s);
                for (int j = 0; j < cols; j++) o[oo + b + j] *= inv;
            }
        });
    }

    @Override public void softmaxBackward(Tensor dx, Tensor dy, Tensor y) {
        sameSize(dx, y);
        int cols = y.dim(-1), rows = y.size() / cols;
        float[] o = arr(dx), g = arr(dy), p = arr(y);
        int oo = off(dx), go = off(dy), po = off(y);
        Parallel.forRange(rows, Math.max(1, GRAIN / cols), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int b = r * cols;
                double dot = 0;
                for (int j = 0; j < cols; j++) dot += g[go + b + j] * p[po + b + j];
                float d = (float) dot;
                for (int j = 0; j < cols; j++) o[oo + b + j] = p[po + b + j] * (g[go + b + j] - d);
            }
        });
    }

    @Override public void dropout(Tensor y, Tensor x, float p, long seed, long offset) {
        dropoutApply(y, x, p, seed, offset);
    }

    @Override public void dropoutBackward(Tensor dx, Tensor dy, float p, long seed, long offset) {
        dropoutApply(dx, dy, p, seed, offset);
    }

    private void dropoutApply(Tensor out, Tensor in, float p, long seed, long offset) {
        sameSize(out, in);
        if (p < 0f || p >= 1f) throw new IllegalArgumentException("dropout probability must be in [0, 1): " + p);
        float[] o = arr(out), a = arr(in);
        int oo = off(out), ao = off(in);
        float keep = 1f / (1f - p);
        Parallel.forRange(in.size(), GRAIN, (lo, hi) -> {
            float[] u = new float[hi - lo];
            Philox.fillUniform(u, -lo, seed, offset, lo, hi);
            for (int i = lo; i < hi; i++) o[oo + i] = u[i - lo] >= p ? a[ao + i] * keep : 0f;
        });
    }

    // ------------------------------------------------------------------ reshaping

    @Override public void upsampleNearest2x(Tensor y, Tensor x) {
        int nc = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
        if (y.numel() != 4L * x.numel()) throw new IllegalArgumentException("upsample output " + y.shape() + " for " + x.shape());
        float[] o = arr(y), a = arr(x);
        int oo = off(y), ao = off(x);
        int w2 = 2 * w;
        Parallel.forRange(nc, Math.max(1, GRAIN / (h * w * 4)), (lo, hi) -> {
            for (int k = lo; k < hi; k++) {
                int ib = ao + k * h * w, ob = oo + k * 4 * h * w;
                for (int i = 0; i < h; i++) {
                    int r0 = ob + (2 * i) * w2, r1 = r0 + w2;
                    for (int j = 0; j < w; j++) {
                        float v = a[ib + i * w + j];
                        o[r0 + 2 * j] = v;
                        o[r0 + 2 * j + 1] = v;
                        o[r1 + 2 * j] = v;
                        o[r1 + 2 * j + 1] = v;
                    }
                }
            }
        });
    }

    @Override public void upsampleNearest2xBackward(Tensor dx, Tensor dy) {
        int nc = dx.dim(0) * dx.dim(1), h = dx.dim(2), w = dx.dim(3);
        float[] o = arr(dx), g = arr(dy);
        int oo = off(dx), go = off(dy);
        int w2 = 2 * w;
        Parallel.forRange(nc, Math.max(1, GRAIN / (h * w * 4)), (lo, hi) -> {
            for (int k = lo; k < hi; k++) {
                int ob = oo + k * h * w, ib = go + k * 4 * h * w;
                for (int i = 0; i < h; i++) {
                    int r0 = ib + (2 * i) * w2, r1 = r0 + w2;
                    for (int j = 0; j < w; j++) {
                        o[ob + i * w + j] = g[r0 + 2 * j] + g[r0 + 2 * j + 1] + g[r1 + 2 * j] + g[r1 + 2 * j + 1];
                    }
                }
            }
        });
    }

    @Override public void concatChannels(Tensor out, Tensor... parts) {
        int n = out.dim(0), sp = out.shape().spatial(), cOut = out.shape().c();
        int total = 0;
        for (Tensor p : parts) total += p.shape().c();
        if (total != cOut) throw new IllegalArgumentException("concat of " + total + " channels into " + out.shape());
        float[] o = arr(out);
        int oo = off(out);
        for (int s = 0; s < n; s++) {
            int c0 = 0;
            for (Tensor p : parts) {
                int pc = p.shape().c();
                System.arraycopy(arr(p), off(p) + s * pc * sp, o, oo + (s * cOut + c0) * sp, pc * sp);
                c0 += pc;
            }
        }
    }

    @Override public void splitChannels(Tensor[] parts, Tensor in) {
        int n = in.dim(0), sp = in.shape().spatial(), cIn = in.shape().c();
        float[] a = arr(in);
        int ao = off(in);
        for (int s = 0; s < n; s++) {
            int c0 = 0;
            for (Tensor p : parts) {
                int pc = p.shape().c();
                System.arraycopy(a, ao + (s * cIn + c0) * sp, arr(p), off(p) + s * pc * sp, pc * sp);
                c0 += pc;
            }
        }
    }

    @Override public void oneHot(Tensor out, Tensor ids) {
        int n = out.dim(0), k = out.dim(1);
        if (ids.numel() != n) throw new IllegalArgumentException("oneHot: ids " + ids.shape() + " for " + out.shape());
        float[] o = arr(out), id = arr(ids);
        int oo = off(out), io = off(ids);
        java.util.Arrays.fill(o, oo, oo + n * k, 0f);
        for (int s = 0; s < n; s++) {
            float v = id[io + s];
            int c = (int) v;
            if (c != v || c < 0 || c >= k) throw new IllegalArgumentException("class id " + v + " outside [0, " + k + ")");
            o[oo + s * k + c] = 1f;
        }
    }

    // ------------------------------------------------------------------ optimiser

    @Override public void updateGate(Tensor gate, Tensor grads, UpdateGate g) {
        Check.updateGate(gate, grads);
        g.decide(arr(gate), off(gate), sumSquares(grads));
    }

    @Override public void adamw(Tensor params, Tensor paramsCopy, Tensor grads, Tensor m, Tensor v, Tensor decayMask,
                                float lr, float beta1, float beta2, float eps, float weightDecay, Tensor gate) {
        Check.adamw(params, paramsCopy, grads, m, v, decayMask, gate);
        float[] gs = arr(gate);
        int gso = off(gate);
        if (gs[gso + UpdateGate.SKIP] != 0f) {
            if (paramsCopy != null) copy(paramsCopy, params);   // the copy is the masters' after every call
            return;
        }
        float gradScale = gs[gso + UpdateGate.SCALE], bc1 = gs[gso + UpdateGate.BC1], bc2 = gs[gso + UpdateGate.BC2];
        float[] p = arr(params), g = arr(grads), ma = arr(m), va = arr(v), dm = decayMask == null ? null : arr(decayMask);
        int po = off(params), go = off(grads), mo = off(m), vo = off(v), dmo = decayMask == null ? 0 : off(decayMask);
        float stepSize = lr / bc1, sqrtBc2 = (float) Math.sqrt(bc2), decay = lr * weightDecay;
        float ob1 = 1f - beta1, ob2 = 1f - beta2;
        if (CpuGemm.vectorized()) {
            Parallel.forRange(params.size(), GRAIN, (lo, hi) -> VectorOps.adamw(p, po, g, go, ma, mo, va, vo, dm, dmo,
                    gradScale, beta1, beta2, ob1, ob2, decay, stepSize, sqrtBc2, eps, lo, hi));
        } else {
            Parallel.forRange(params.size(), GRAIN, (lo, hi) -> adamwScalar(p, po, g, go, ma, mo, va, vo, dm, dmo,
                    gradScale, beta1, beta2, ob1, ob2, decay, stepSize, sqrtBc2, eps, lo, hi));
        }
        if (paramsCopy != null) copy(paramsCopy, params);   // rounded to the copy's dtype as it is read (arr)
    }

    @Override public void emaUpdate(Tensor shadow, Tensor params, Tensor gate) {
        Check.emaUpdate(shadow, params, gate);
        float[] gs = arr(gate);
        if (gs[off(gate) + UpdateGate.SKIP] != 0f) return;
        float d = gs[off(gate) + UpdateGate.EMA_DECAY];
        axpby(shadow, d, shadow, 1f - d, params);
    }


    /** The scalar AdamW loop over [lo, hi) (also the tail of {@link VectorOps#adamw}, which matches it bit for bit). */
    static void adamwScalar(float[] p, int po, float[] g, int go, float[] ma, int mo, float[] va, int vo, float[] dm,
                            int dmo, float gradScale, float beta1, float beta2, float ob1, float ob2, float decay,
                            float stepSize, float sqrtBc2, float eps, int lo, int hi) {
        for (int i = lo; i < hi; i++) {
            float gi = g[go + i] * gradScale;
            float mi = beta1 * ma[mo + i] + ob1 * gi;
            float vi = beta2 * va[vo + i] + ob2 * gi * gi;
            ma[mo + i] = mi;
            va[vo + i] = vi;
            float pi = p[po + i];
            if (dm != null) pi -= decay * dm[dmo + i] * pi;
            else pi -= decay * pi;
            p[po + i] = pi - stepSize * mi / ((float) Math.sqrt(vi) / sqrtBc2 + eps);
        }
    }

    // ------------------------------------------------------------------ random numbers and embeddings

    @Override public void randn(Tensor out, long seed, long offset) {
        float[] o = arr(out);
        int oo = off(out);
        Parallel.forRange(out.size(), GRAIN, (lo, hi) -> Philox.fillNormal(o, oo, seed, offset, lo, hi));
    }

    @Override public void rand(Tensor out, long seed, long offset) {
        float[] o = arr(out);
        int oo = off(out);
        Parallel.forRange(out.size(), GRAIN, (lo, hi) -> Philox.fillUniform(o, oo, seed, offset, lo, hi));
    }

    @Override public void timestepEmbedding(Tensor out, Tensor timesteps, float maxPeriod, boolean ddpmStyle) {
        int n = out.dim(0), dim = out.dim(1), half = dim / 2;
        if (timesteps.numel() != n) throw new IllegalArgumentException("timesteps " + timesteps.shape() + " for " + out.shape());
        float[] o = arr(out), t = arr(timesteps);
        int oo = off(out), to = off(timesteps);
        double denom = half - (ddpmStyle ? 1 : 0);
        for (int s = 0; s < n; s++) {
            double tv = t[to + s];
            int row = oo + s * dim;
            for (int j = 0; j < half; j++) {
                double arg = tv * Math.exp(-Math.log(maxPeriod) * j / denom);
                o[row + j] = (float) Math.sin(arg);
                o[row + half + j] = (float) Math.cos(arg);
            }
            if ((dim & 1) == 1) o[row + dim - 1] = 0f;
        }
    }

    // ------------------------------------------------------------------ diffusion ({@link CpuDiffusion})

    @Override public void qSample(Tensor xt, Tensor target, Tensor x0, Tensor noise, Tensor t, Tensor sqrtAlphaBar,
                                  Tensor sqrtOneMinusAlphaBar, int targetType, long seed, long offset) {
        CpuDiffusion.qSample(xt, target, x0, noise, t, sqrtAlphaBar, sqrtOneMinusAlphaBar, targetType, seed, offset);
    }

    @Override public void drawTimesteps(Tensor t, Tensor weights, Tensor weightTable, long seed, long position) {
        CpuDiffusion.drawTimesteps(t, weights, weightTable, seed, position);
    }

    @Override public void vlbLoss(Tensor vb, Tensor dV, Tensor x0, Tensor xt, Tensor pred, Tensor v, Tensor coefs,
                                  float gradScale) {
        CpuDiffusion.vlbLoss(vb, dV, x0, xt, pred, v, coefs, gradScale);
    }

    @Override public void dynamicThreshold(Tensor x, float ratio, float maxValue) {
        CpuDiffusion.dynamicThreshold(x, ratio, maxValue);
    }

    @Override public void diffusionStep(Tensor prev, Tensor predX0, Tensor sample, Tensor modelOut, Tensor prevX0,
                                        StepCoefficients k, long seed, long offset) {
        CpuDiffusion.diffusionStep(prev, predX0, sample, modelOut, prevX0, k, seed, offset);
    }

    @Override public void repaintBlend(Tensor out, Tensor sample, Tensor original, Tensor keepMask, float sqrtAlphaBar,
                                       float sqrtOneMinusAlphaBar, long seed, long offset) {
        CpuDiffusion.repaintBlend(out, sample, original, keepMask, sqrtAlphaBar, sqrtOneMinusAlphaBar, seed, offset);
    }

    @Override public void mseLoss(Tensor mse, Tensor dOut, Tensor modelOut, Tensor target, Tensor weights,
                                  float gradScale) {
        CpuDiffusion.mseLoss(mse, dOut, modelOut, target, weights, gradScale);
    }
}
