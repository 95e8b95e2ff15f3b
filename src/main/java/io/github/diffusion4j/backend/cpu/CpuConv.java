package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Tensor;

import java.util.Arrays;

import static io.github.diffusion4j.backend.cpu.CpuBackend.arr;
import static io.github.diffusion4j.backend.cpu.CpuBackend.off;

/**
 * 2-D convolution on the CPU: a direct path for the common shapes, else im2col + GEMM.
 *
 * <p>Direct path (Vector API kernel in use, see {@link VectorConv}): 3x3 / stride 1 / pad 1 convolutions and
 * 1x1 / stride 1 / pad 0 ones over whole 16-pixel tiles (8-pixel chunks for the filter gradient). The input is
 * copied once into a zero-bordered layout ({@link #PADDED}, or {@link #SHIFTED} for small images; 1x1 reads it
 * in place) and the micro-kernels read every tap straight from it: no im2col matrix, no packing of B, no copies
 * of the result. The data gradient is a convolution with flipped, transposed weights. Every output element is
 * summed in a fixed order by one accumulator, so results do not depend on the thread count.
 *
 * <p>im2col + GEMM (other shapes: strided convolutions, transposed ones, the scalar fallback). Samples are processed in groups: the im2col matrix of a group has K = Cin * kh * kw rows and
 * {@code samples * Ho * Wo} columns (sample-major), so feature maps of 4x4 or 8x8 pixels still give one GEMM
 * wide enough to amortise packing the weights and to split across threads. A group is at least
 * {@link #TARGET_COLS} columns wide, but its im2col matrix stays under {@link #MAX_COL_FLOATS}. The GEMM
 * result of a group is laid out [Cout, samples * P] and is copied into (or, for the backward passes,
 * gathered from) the NCHW tensor; a group of one sample reads and writes the tensors in place. A 1x1,
 * stride-1, unpadded convolution needs no im2col at all when a group is a single sample (its input already
 * is the column matrix). im2col, col2im and the copies are multi-threaded; the GEMMs thread themselves.
 * Scratch buffers are kept per calling thread and reused.
 */
final class CpuConv {
    /** Minimum columns (samples * Ho * Wo) of one GEMM: enough to amortise packing and to feed two cores. */
    static final int TARGET_COLS = 1024;
    /** Cap on the im2col buffer, in floats (16 MB). */
    static final int MAX_COL_FLOATS = 1 << 22;
    /** Elements per parallel chunk of the copy loops. */
    private static final int GRAIN = 1 << 13;

    /** Per-calling-thread scratch: [0] the im2col matrix, [1] a [Cout, columns] GEMM operand or result. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);
    /**
     * Direct-path input layouts. PADDED: [n, c, h+2, w+2], the input with a zero border. SHIFTED: [n, c, 3, h+2, w],
     * for each kx the zero-bordered input shifted by kx - 1 columns, so that a row is w floats and any 16
     * consecutive output pixels read 16 consecutive floats (used for small images, 4x4).
     */
    static final int PADDED = 1, SHIFTED = 2;
    /** Direct path of a 1x1, stride-1, unpadded convolution: the micro-kernel reads the input tensor in place. */
    static final int POINTWISE = 3;
    /** Per-calling-thread scratch of the direct 3x3 path: [0] the padded input, [1] the packed weights. */
    private static final ThreadLocal<float[][]> DIRECT = ThreadLocal.withInitial(() -> new float[2][0]);
    /** Per-calling-thread depth offsets of the direct 3x3 path. */
    private static final ThreadLocal<int[][]> KOFF = ThreadLocal.withInitial(() -> new int[1][0]);
    /** Per-calling-thread chunk offsets of the direct filter gradient ({@link VectorConv#chunks}). */
    private static final ThreadLocal<int[][]> CHUNKS = ThreadLocal.withInitial(() -> new int[2][0]);

    private CpuConv() {}

    /** Geometry of one convolution; x is [n, cin, h, w], w [cout, cin, kh, kw], y [n, cout, ho, wo]. */
    record Dims(int n, int cin, int h, int w, int cout, int kh, int kw, int ho, int wo, int stride, int pad) {
        /** Rows of the im2col matrix: cin * kh * kw. */
        int kk() { return cin * kh * kw; }

        /** Output pixels per channel. */
        int p() { return ho * wo; }

        boolean pointwise() { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }

        /**
         * The input layout of the direct 3x3 path for the forward pass and the data gradient: {@link #PADDED}
         * (w % 16 == 0, or w == 8 with even h), {@link #SHIFTED} (other images of whole 16-pixel tiles),
         * {@link #POINTWISE} (1x1 / stride 1 / pad 0 over whole 16-pixel tiles), or 0 when the convolution is none
         * of these, the tiles do not fit, or the vector kernel is off.
         */
        int direct() {
            if (!CpuGemm.vectorized()) return 0;
            if (pointwise()) return h * w % 16 == 0 ? POINTWISE : 0;
            if (kh != 3 || kw != 3 || stride != 1 || pad != 1) return 0;
            if (w % 16 == 0 || (w == 8 && h % 2 == 0)) return PADDED;
            return h * w % 16 == 0 ? SHIFTED : 0;
        }

        /**
         * As {@link #direct()} for the filter gradient, which works on 8-pixel chunks (for 1x1 convolutions in
         * strips of 8 output channels, on AVX-512 only).
         */
        int directFilter() {
            if (!CpuGemm.vectorized()) return 0;
            if (pointwise()) return h * w % 8 == 0 && cout % 8 == 0 && VectorConv.MR == 8 ? POINTWISE : 0;
            if (kh != 3 || kw != 3 || stride != 1 || pad != 1) return 0;
            if (w % 8 == 0) return PADDED;
            return h * w % 8 == 0 ? SHIFTED : 0;
        }

        /** Samples per GEMM group. */
        int group() {
            int s = Math.max(1, (TARGET_COLS + p() - 1) / p());
            s = Math.min(s, Math.max(1, MAX_COL_FLOATS / (kk() * p())));
            return Math.min(s, n);
        }
    }

    static Dims dims(Tensor y, Tensor x, Tensor w, int stride, int pad) {
        if (x.rank() != 4 || w.rank() != 4 || y.rank() != 4) {
            throw new IllegalArgumentException("conv2d needs rank-4 tensors: x " + x.shape() + ", w " + w.shape() + ", y " + y.shape());
        }
        if (stride < 1 || pad < 0) throw new IllegalArgumentException("conv2d stride " + stride + ", padding " + pad);
        int n = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3);
        if (w.dim(1) != cin) throw new IllegalArgumentException("conv2d weight " + w.shape() + " for input " + x.shape());
        int ho = (h + 2 * pad - kh) / stride + 1, wo = (wd + 2 * pad - kw) / stride + 1;
        if (ho < 1 || wo < 1 || y.dim(0) != n || y.dim(1) != cout || y.dim(2) != ho || y.dim(3) != wo) {
            throw new IllegalArgumentException("conv2d output " + y.shape() + " expected [" + n + ", " + cout + ", " + ho + ", " + wo + "]");
        }
        return new Dims(n, cin, h, wd, cout, kh, kw, ho, wo, stride, pad);
    }

    // ------------------------------------------------------------------ passes

    /** y = conv2d(x, w) + bias (bias may be null). */
    static void forward(Tensor y, Tensor x, Tensor w, Tensor bias, int stride, int pad) {
        Check.convOperands("conv2d", x, w);
        if (bias != null && y.dtype() != DType.F32) {
            // a narrow output takes the bias as a second op (rounded twice), as the GPU does it: cuDNN's convolution
            // rounds into y, then the bias kernel adds to it (PyTorch's cuDNN path is the same)
            forward(y, x, w, null, stride, pad);
            ((CpuBackend) y.backend()).addBias(y, y, bias);
            return;
        }
        Dims d = dims(y, x, w, stride, pad);
        float[] xa = arr(x), wa = arr(w), ya = arr(y), ba = bias == null ? null : arr(bias);
        int xo = off(x), wo = off(w), yo = off(y), bo = bias == null ? 0 : off(bias);
        if (bias != null && bias.numel() != d.cout()) throw new IllegalArgumentException("conv2d bias " + bias.shape() + " for " + d.cout() + " channels");
        int kk = d.kk(), p = d.p(), g = d.group(), cout = d.cout();
        if (d.direct() != 0) {
            directForward(d.n(), d.cin(), d.h(), d.w(), cout, xa, xo, wa, wo, false, ba, bo, ya, yo, d.direct());
            return;
        }
        float[][] scratch = SCRATCH.get();
        for (int s0 = 0; s0 < d.n(); s0 += g) {
            int ns = Math.min(g, d.n() - s0), cols = ns * p;
            float[] b;
            int bOff, ldb;
            if (ns == 1 && d.pointwise()) {
                b = xa;
                bOff = xo + s0 * d.cin() * d.h() * d.w();
                ldb = p;
            } else {
                b = buffer(scratch, 0, kk * cols);
                bOff = 0;
                ldb = cols;
                im2col(xa, xo, d, s0, ns, b);
            }
            if (ns == 1) {
                // write the sample in place; a bias is pre-filled and the GEMM accumulates onto it
                int ys = yo + s0 * cout * p;
                if (ba != null) for (int co = 0; co < cout; co++) Arrays.fill(ya, ys + co * p, ys + (co + 1) * p, ba[bo + co]);
                CpuGemm.sgemm(false, false, cout, p, kk, 1f, wa, wo, kk, b, bOff, ldb, ba != null ? 1f : 0f, ya, ys, p);
            } else {
                float[] out = buffer(scratch, 1, cout * cols);
                CpuGemm.sgemm(false, false, cout, cols, kk, 1f, wa, wo, kk, b, bOff, ldb, 0f, out, 0, cols);
                scatter(out, d, s0, ns, cout, ba, bo, ya, yo);
            }
        }
    }

    /** dx = gradient of conv2d w.r.t. x (assigns). */
    static void backwardData(Tensor dx, Tensor dy, Tensor w, int stride, int pad) {
        Check.convOperands("conv2dBackwardData", dy, w);
        Dims d = dims(dy, dx, w, stride, pad);
        float[] dxa = arr(dx), wa = arr(w), dya = arr(dy);
        int dxo = off(dx), wo = off(w), dyo = off(dy);
        int kk = d.kk(), p = d.p(), g = d.group(), cout = d.cout();
        if (d.direct() != 0) {
            // the data gradient of a 3x3 / stride 1 / pad 1 convolution is one with flipped, transposed weights
            directForward(d.n(), cout, d.h(), d.w(), d.cin(), dya, dyo, wa, wo, true, null, 0, dxa, dxo, d.direct());
            return;
        }
        float[][] scratch = SCRATCH.get();
        for (int s0 = 0; s0 < d.n(); s0 += g) {
            int ns = Math.min(g, d.n() - s0), cols = ns * p;
            float[] b;
            int bOff;
            if (ns == 1) {
                b = dya;
                bOff = dyo + s0 * cout * p;
            } else {
                b = buffer(scratch, 1, cout * cols);
                bOff = 0;
                gather(dya, dyo, d, s0, ns, cout, b);
            }
            if (ns == 1 && d.pointwise()) {
                CpuGemm.sgemm(true, false, kk, p, cout, 1f, wa, wo, kk, b, bOff, p, 0f, dxa, dxo + s0 * kk * p, p);
            } else {
                float[] col = buffer(scratch, 0, kk * cols);
                CpuGemm.sgemm(true, false, kk, cols, cout, 1f, wa, wo, kk, b, bOff, cols, 0f, col, 0, cols);
                col2im(col, d, s0, ns, dxa, dxo);
            }
        }
    }

    /** dw += gradient of conv2d w.r.t. w. */
    static void backwardFilter(Tensor dw, Tensor dy, Tensor x, int stride, int pad) {
        Check.convOperands("conv2dBackwardFilter", dy, x);
        Dims d = dims(dy, x, dw, stride, pad);
        float[] xa = arr(x), dwa = arr(dw), dya = arr(dy);
        int xo = off(x), dwo = off(dw), dyo = off(dy);
        int kk = d.kk(), p = d.p(), g = d.group(), cout = d.cout();
        if (d.directFilter() != 0) {
            int n = d.n(), cin = d.cin(), h = d.h(), wd = d.w();
            int layout = d.directFilter();
            boolean shifted = layout == SHIFTED;
            float[][] direct = DIRECT.get();
            float[] xp = layout == POINTWISE ? xa : shifted ? padShifted(xa, xo, n, cin, h, wd, direct)
                    : pad(xa, xo, n, cin, h, wd, direct);
            int plane = shifted ? 3 * (h + 2) * wd : (h + 2) * (wd + 2), kyStride = shifted ? wd : wd + 2;
            int kxStride = shifted ? (h + 2) * wd : 1;
            int[][] idx = CHUNKS.get();
            int most = n * h * wd / 8;
            if (idx[0].length < most) {
                idx[0] = new int[most];
                idx[1] = new int[most];
            }
            int[] dyIdx = idx[0], xIdx = idx[1];
            int chunks = VectorConv.chunks(n, cout, cin, h, wd, layout, dyIdx, xIdx);
            if (layout == POINTWISE) {
                int triples = (cin + 2) / 3;
                Parallel.forRange(cout / 8 * triples, 1, (lo, hi) -> {
                    for (int t = lo; t < hi; t++) {
                        VectorConv.filterGrad1x1(dya, dyo, xa, xo, h * wd, cin, (t / triples) * 8, (t % triples) * 3,
                                dyIdx, xIdx, chunks, dwa, dwo);
                    }
                });
                return;
            }
            // strips of output channels: of 8 where AVX-512 has the registers, then of 4 (the last one partial)
            int octs = VectorConv.MR == 8 ? cout / 8 : 0, strips = octs + (cout - 8 * octs + 3) / 4;
            Parallel.forRange(strips * cin, 1, (lo, hi) -> {
                for (int t = lo; t < hi; t++) {
                    int ci = t % cin, strip = t / cin;
                    if (strip < octs) {
                        VectorConv.filterGrad8(dya, dyo, xp, plane, kyStride, kxStride, cin, h * wd, strip * 8, ci,
                                dyIdx, xIdx, chunks, dwa, dwo);
                    } else {
                        VectorConv.filterGrad(dya, dyo, xp, plane, kyStride, kxStride, cout, cin, h * wd,
                                8 * octs + (strip - octs) * 4, ci, ci + 1, dyIdx, xIdx, chunks, dwa, dwo);
                    }
                }
            });
            return;
        }
        float[][] scratch = SCRATCH.get();
        for (int s0 = 0; s0 < d.n(); s0 += g) {
            int ns = Math.min(g, d.n() - s0), cols = ns * p;
            float[] a, b;
            int aOff, bOff;
            if (ns == 1) {
                a = dya;
                aOff = dyo + s0 * cout * p;
            } else {
                a = buffer(scratch, 1, cout * cols);
                aOff = 0;
                gather(dya, dyo, d, s0, ns, cout, a);
            }
            if (ns == 1 && d.pointwise()) {
                b = xa;
                bOff = xo + s0 * kk * p;
            } else {
                b = buffer(scratch, 0, kk * cols);
                bOff = 0;
                im2col(xa, xo, d, s0, ns, b);
            }
            CpuGemm.sgemm(false, true, cout, kk, cols, 1f, a, aOff, cols, b, bOff, cols, 1f, dwa, dwo, kk);
        }
    }

    // ------------------------------------------------------------------ direct 3x3 path

    /**
     * y[n, m, h, w] = conv3x3(x[n, cin, h, w]) + bias with m x (9 cin) weights (or, when {@code flip}, the data
     * gradient's flipped transpose of [cin, m, 3, 3] weights), through {@link VectorConv}.
     */
    private static void directForward(int n, int cin, int h, int w, int m, float[] x, int xo, float[] wa, int wo,
                                      boolean flip, float[] bias, int bo, float[] y, int yo, int layout) {
        boolean pointwise = layout == POINTWISE, shifted = layout == SHIFTED || pointwise;
        int taps = pointwise ? 1 : 9, k = taps * cin, p = h * w, tiles = p / 16;
        int plane = pointwise ? p : layout == SHIFTED ? 3 * (h + 2) * w : (h + 2) * (w + 2);
        int kyStride = layout == SHIFTED ? w : w + 2, kxStride = layout == SHIFTED ? (h + 2) * w : 1;
        float[][] direct = DIRECT.get();
        float[] xp = pointwise ? x : layout == SHIFTED ? padShifted(x, xo, n, cin, h, w, direct)
                : pad(x, xo, n, cin, h, w, direct);
        int x0 = pointwise ? xo : 0;
        float[] ap = direct[1] = VectorConv.packWeights(wa, wo, m, k, taps, flip, direct[1]);
        int[][] ko = KOFF.get();
        if (ko[0].length < k) ko[0] = new int[k];
        int[] koff = ko[0];
        for (int ci = 0, q = 0; ci < cin; ci++) {
            if (pointwise) {
                koff[q++] = ci * plane;
                continue;
            }
            for (int ky = 0; ky < 3; ky++) {
                for (int kx = 0; kx < 3; kx++) koff[q++] = ci * plane + ky * kyStride + kx * kxStride;
            }
        }
        long fmasPerTile = 16L * m * k;
        int grain = (int) Math.max(1, (1L << 17) / fmasPerTile);
        Parallel.forRange(n * tiles, grain, (lo, hi) -> {
            for (int t = lo; t < hi; ) {
                int s = t / tiles, t0 = t % tiles, t1 = Math.min(tiles, t0 + (hi - t));
                VectorConv.forwardTiles(ap, m, k, koff, bias, bo, xp, x0 + s * cin * plane, shifted, w, y,
                        yo + s * m * p, p, t0, t1);
                t += t1 - t0;
            }
        });
    }

    /** The samples of x [n, c, h, w] with a zero border of one pixel, as [n, c, h+2, w+2] in direct[0]. */
    private static float[] pad(float[] x, int xo, int n, int c, int h, int w, float[][] direct) {
        int wp = w + 2, plane = (h + 2) * wp, size = n * c * plane;
        if (direct[0].length < size) direct[0] = new float[size];
        float[] xp = direct[0];
        Parallel.forRange(n * c, Math.max(1, GRAIN / plane), (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int dst = t * plane, src = xo + t * h * w;
                Arrays.fill(xp, dst, dst + wp + 1, 0f);
                for (int y = 0; y < h; y++) {
                    int o = dst + (y + 1) * wp + 1;
                    System.arraycopy(x, src + y * w, xp, o, w);
                    xp[o + w] = 0f;
                    xp[o + w + 1] = 0f;
                }
                Arrays.fill(xp, dst + (h + 1) * wp + 1, dst + plane, 0f);
            }
        });
        return xp;
    }

    /**
     * The samples of x [n, c, h, w] in the SHIFTED layout [n, c, 3, h+2, w] in direct[0]: element (kx, yy, xx) of a
     * channel is x[yy-1][xx+kx-1], zero outside the image.
     */
    private static float[] padShifted(float[] x, int xo, int n, int c, int h, int w, float[][] direct) {
        int rows = h + 2, plane = 3 * rows * w, size = n * c * plane;
        if (direct[0].length < size) direct[0] = new float[size];
        float[] xp = direct[0];
        Parallel.forRange(n * c, Math.max(1, GRAIN / plane), (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int src = xo + t * h * w;
                for (int kx = 0; kx < 3; kx++) {
                    int dst = t * plane + kx * rows * w;
                    Arrays.fill(xp, dst, dst + w, 0f);
                    Arrays.fill(xp, dst + (h + 1) * w, dst + rows * w, 0f);
                    for (int yy = 1; yy <= h; yy++) {
                        int o = dst + yy * w, i = src + (yy - 1) * w;
                        // xp[o + xx] = x[i + xx + kx - 1], zero where that column is outside the image
                        if (kx == 0) {
                            xp[o] = 0f;
                            System.arraycopy(x, i, xp, o + 1, w - 1);
                        } else if (kx == 1) {
                            System.arraycopy(x, i, xp, o, w);
                        } else {
                            System.arraycopy(x, i + 1, xp, o, w - 1);
                            xp[o + w - 1] = 0f;
                        }
                    }
                }
            }
        });
        return xp;
    }

    // ------------------------------------------------------------------ data movement

    /** scratch[i], grown to at least {@code size} floats (contents unspecified). */
    private static float[] buffer(float[][] scratch, int i, int size) {
        if (scratch[i].length < size) scratch[i] = new float[size];
        return scratch[i];
    }

    /**
     * im2col of samples [s0, s0+ns): col[(ci*kh+ky)*kw+kx][s*P + oy*wo+ox] = x[s0+s][ci][oy*st-pad+ky][ox*st-pad+kx]
     * (0 outside the image), a row of ns * P columns.
     */
    static void im2col(float[] x, int xo, Dims d, int s0, int ns, float[] col) {
        int kk = d.kk(), p = d.p(), cols = ns * p, plane = d.h() * d.w();
        Parallel.forRange(ns * kk, Math.max(1, GRAIN / p), (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int s = t / kk, r = t % kk;
                int kx = r % d.kw(), ky = (r / d.kw()) % d.kh(), ci = r / (d.kw() * d.kh());
                int src = xo + ((s0 + s) * d.cin() + ci) * plane, dst = r * cols + s * p;
                if (d.pointwise()) {
                    System.arraycopy(x, src, col, dst, p);
                    continue;
                }
                int oxLo = firstInside(kx, d.stride(), d.pad()), oxHi = endInside(kx, d.w(), d.wo(), d.stride(), d.pad());
                for (int oy = 0; oy < d.ho(); oy++) {
                    int iy = oy * d.stride() - d.pad() + ky, o = dst + oy * d.wo();
                    if (iy < 0 || iy >= d.h() || oxLo >= oxHi) {
                        Arrays.fill(col, o, o + d.wo(), 0f);
                        continue;
                    }
                    Arrays.fill(col, o, o + oxLo, 0f);
                    int ib = src + iy * d.w() - d.pad() + kx;
                    if (d.stride() == 1) {
                        System.arraycopy(x, ib + oxLo, col, o + oxLo, oxHi - oxLo);
                    } else {
                        for (int ox = oxLo; ox < oxHi; ox++) col[o + ox] = x[ib + ox * d.stride()];
                    }
                    Arrays.fill(col, o + oxHi, o + d.wo(), 0f);
                }
            }
        });
    }

    /** Adjoint of {@link #im2col}: dx[s0+s][ci] = sum of the col entries copied from each pixel (assigns). */
    static void col2im(float[] col, Dims d, int s0, int ns, float[] x, int xo) {
        int p = d.p(), cols = ns * p, plane = d.h() * d.w();
        Parallel.forRange(ns * d.cin(), Math.max(1, GRAIN / (d.kh() * d.kw() * p)), (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int s = t / d.cin(), ci = t % d.cin();
                int dst = xo + ((s0 + s) * d.cin() + ci) * plane;
                Arrays.fill(x, dst, dst + plane, 0f);
                for (int ky = 0; ky < d.kh(); ky++) {
                    for (int kx = 0; kx < d.kw(); kx++) {
                        int src = ((ci * d.kh() + ky) * d.kw() + kx) * cols + s * p;
                        int oxLo = firstInside(kx, d.stride(), d.pad()), oxHi = endInside(kx, d.w(), d.wo(), d.stride(), d.pad());
                        for (int oy = 0; oy < d.ho(); oy++) {
                            int iy = oy * d.stride() - d.pad() + ky;
                            if (iy < 0 || iy >= d.h()) continue;
                            int ib = dst + iy * d.w() - d.pad() + kx, o = src + oy * d.wo();
                            if (d.stride() == 1) {
                                for (int ox = oxLo; ox < oxHi; ox++) x[ib + ox] += col[o + ox];
                            } else {
                                for (int ox = oxLo; ox < oxHi; ox++) x[ib + ox * d.stride()] += col[o + ox];
                            }
                        }
                    }
                }
            }
        });
    }

    /** First output column ox whose input column ox*stride - pad + kx is >= 0. */
    private static int firstInside(int kx, int stride, int pad) {
        return pad > kx ? (pad - kx + stride - 1) / stride : 0;
    }

    /** One past the last output column ox whose input column ox*stride - pad + kx is < w (at most wo). */
    private static int endInside(int kx, int w, int wo, int stride, int pad) {
        int last = w - 1 + pad - kx; // ox * stride <= last
        return last < 0 ? 0 : Math.min(wo, last / stride + 1);
    }

    /** y[s0+s][co][.] = out[co][s*P ..] + bias[co] for a group's GEMM result out [cout, ns*P]. */
    private static void scatter(float[] out, Dims d, int s0, int ns, int cout, float[] bias, int bo, float[] y, int yo) {
        int p = d.p(), cols = ns * p;
        Parallel.forRange(ns * cout, Math.max(1, GRAIN / p), (lo, hi) -> {
            for (int t = lo; t < hi; t++) {
                int s = t / cout, co = t % cout;
                int src = co * cols + s * p, dst = yo + ((s0 + s) * cout + co) * p;
                if (bias == null) {
                    System.arraycopy(out, src, y, dst, p);
                } else {
                    float bv = bias[bo + co];
                    for (int i = 0; i < p; i++) y[dst + i] = out[src + i] + bv;
                }
            }
        });
    }

    /** g[c][s*P ..] = t[s0+s][c][.]: a group of an NCHW tensor with {@code channels} channels as [channels, ns*P]. */
    private static void gather(float[] t, int to, Dims d, int s0, int ns, int channels, float[] g) {
        int p = d.p(), cols = ns * p;
        Parallel.forRange(ns * channels, Math.max(1, GRAIN / p), (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int s = i / channels, c = i % channels;
                System.arraycopy(t, to + ((s0 + s) * channels + c) * p, g, c * cols + s * p, p);
            }
        });
    }
}
