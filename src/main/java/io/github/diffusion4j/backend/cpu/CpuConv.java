package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.tensor.Tensor;

import static io.github.diffusion4j.backend.cpu.CpuBackend.arr;
import static io.github.diffusion4j.backend.cpu.CpuBackend.off;

/** 2-D convolution on the CPU as im2col + GEMM, per sample. */
final class CpuConv {
    private CpuConv() {}

    record Dims(int n, int cin, int h, int w, int cout, int kh, int kw, int ho, int wo) {
        int kk() { return cin * kh * kw; }
        int p() { return ho * wo; }
    }

    static Dims dims(Tensor y, Tensor x, Tensor w, int stride, int pad) {
        if (x.rank() != 4 || w.rank() != 4 || y.rank() != 4) {
            throw new IllegalArgumentException("conv2d needs rank-4 tensors: x " + x.shape() + ", w " + w.shape() + ", y " + y.shape());
        }
        int n = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3);
        if (w.dim(1) != cin) throw new IllegalArgumentException("conv2d weight " + w.shape() + " for input " + x.shape());
        int ho = (h + 2 * pad - kh) / stride + 1, wo = (wd + 2 * pad - kw) / stride + 1;
        if (y.dim(0) != n || y.dim(1) != cout || y.dim(2) != ho || y.dim(3) != wo) {
            throw new IllegalArgumentException("conv2d output " + y.shape() + " expected [" + n + ", " + cout + ", " + ho + ", " + wo + "]");
        }
        return new Dims(n, cin, h, wd, cout, kh, kw, ho, wo);
    }

    /** col[(ci*kh+ky)*kw+kx][oy*wo+ox] = x[ci][oy*s-p+ky][ox*s-p+kx] (0 outside). */
    static void im2col(float[] x, int xo, Dims d, int stride, int pad, float[] col) {
        int p = d.p();
        Parallel.forRange(d.cin() * d.kh() * d.kw(), Math.max(1, 8192 / p), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int kx = r % d.kw(), ky = (r / d.kw()) % d.kh(), ci = r / (d.kw() * d.kh());
                int cb = xo + ci * d.h() * d.w();
                int rb = r * p;
                for (int oy = 0; oy < d.ho(); oy++) {
                    int iy = oy * stride - pad + ky;
                    int ob = rb + oy * d.wo();
                    if (iy < 0 || iy >= d.h()) {
                        java.util.Arrays.fill(col, ob, ob + d.wo(), 0f);
                        continue;
                    }
                    int ib = cb + iy * d.w();
                    for (int ox = 0; ox < d.wo(); ox++) {
                        int ix = ox * stride - pad + kx;
                        col[ob + ox] = ix >= 0 && ix < d.w() ? x[ib + ix] : 0f;
                    }
                }
            }
        });
    }

    /** x[ci][iy][ix] = sum of the col entries that im2col copied from it (x assigned). */
    static void col2im(float[] col, Dims d, int stride, int pad, float[] x, int xo) {
        int p = d.p();
        Parallel.forRange(d.cin(), 1, (lo, hi) -> {
            for (int ci = lo; ci < hi; ci++) {
                int cb = xo + ci * d.h() * d.w();
                java.util.Arrays.fill(x, cb, cb + d.h() * d.w(), 0f);
                for (int ky = 0; ky < d.kh(); ky++) {
                    for (int kx = 0; kx < d.kw(); kx++) {
                        int rb = ((ci * d.kh() + ky) * d.kw() + kx) * p;
                        for (int oy = 0; oy < d.ho(); oy++) {
                            int iy = oy * stride - pad + ky;
                            if (iy < 0 || iy >= d.h()) continue;
                            int ib = cb + iy * d.w();
                            int ob = rb + oy * d.wo();
                            for (int ox = 0; ox < d.wo(); ox++) {
                                int ix = ox * stride - pad + kx;
                                if (ix >= 0 && ix < d.w()) x[ib + ix] += col[ob + ox];
                            }
                        }
                    }
                }
            }
        });
    }

    static boolean isPointwise(Dims d, int stride, int pad) {
        return d.kh() == 1 && d.kw() == 1 && stride == 1 && pad == 0;
    }

    static void forward(Tensor y, Tensor x, Tensor w, Tensor bias, int stride, int pad) {
        Dims d = dims(y, x, w, stride, pad);
        float[] xa = arr(x), wa = arr(w), ya = arr(y);
        int xo = off(x), wo = off(w), yo = off(y);
        int kk = d.kk(), p = d.p();
        boolean pw = isPointwise(d, stride, pad);
        float[] col = pw ? null : new float[kk * p];
        for (int s = 0; s < d.n(); s++) {
            int xs = xo + s * d.cin() * d.h() * d.w();
            float[] src = xa;
            int srcOff = xs;
            if (!pw) {
                im2col(xa, xs, d, stride, pad, col);
                src = col;
                srcOff = 0;
            }
            CpuGemm.sgemm(false, false, d.cout(), p, kk, 1f, wa, wo, kk, src, srcOff, p, 0f, ya, yo + s * d.cout() * p, p);
        }
        if (bias != null) CpuBackend.get().addBias(y, y, bias);
    }

    static void backwardData(Tensor dx, Tensor dy, Tensor w, int stride, int pad) {
        Dims d = dims(dy, dx, w, stride, pad);
        float[] dxa = arr(dx), wa = arr(w), dya = arr(dy);
        int dxo = off(dx), wo = off(w), dyo = off(dy);
        int kk = d.kk(), p = d.p();
        boolean pw = isPointwise(d, stride, pad);
        float[] col = pw ? null : new float[kk * p];
        for (int s = 0; s < d.n(); s++) {
            int xs = dxo + s * d.cin() * d.h() * d.w();
            if (pw) {
                CpuGemm.sgemm(true, false, kk, p, d.cout(), 1f, wa, wo, kk, dya, dyo + s * d.cout() * p, p, 0f, dxa, xs, p);
            } else {
                CpuGemm.sgemm(true, false, kk, p, d.cout(), 1f, wa, wo, kk, dya, dyo + s * d.cout() * p, p, 0f, col, 0, p);
                col2im(col, d, stride, pad, dxa, xs);
            }
        }
    }

    static void backwardFilter(Tensor dw, Tensor dy, Tensor x, int stride, int pad) {
        Dims d = dims(dy, x, dw, stride, pad);
        float[] xa = arr(x), dwa = arr(dw), dya = arr(dy);
        int xo = off(x), dwo = off(dw), dyo = off(dy);
        int kk = d.kk(), p = d.p();
        boolean pw = isPointwise(d, stride, pad);
        float[] col = pw ? null : new float[kk * p];
        for (int s = 0; s < d.n(); s++) {
            int xs = xo + s * d.cin() * d.h() * d.w();
            float[] src = xa;
            int srcOff = xs;
            if (!pw) {
                im2col(xa, xs, d, stride, pad, col);
                src = col;
                srcOff = 0;
            }
            CpuGemm.sgemm(false, true, d.cout(), kk, p, 1f, dya, dyo + s * d.cout() * p, p, src, srcOff, p, 1f, dwa, dwo, kk);
        }
    }
}
