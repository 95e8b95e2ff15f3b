package io.github.diffusion4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Direct ("implicit GEMM") 3x3, stride-1, padding-1 convolution kernels on the Vector API, for the small channel
 * counts of the CPU models, where im2col and packing cost about as much as the multiply-adds.
 *
 * <p>The input is first copied into a zero-bordered buffer of planes [(h+2) x (w+2)] (see {@link CpuConv}), so
 * every tap of the kernel is a plain unaligned load: depth index p = (ci*3 + ky)*3 + kx of the weight matrix reads
 * the padded input at {@code koff[p] = ci*(h+2)*(w+2) + ky*(w+2) + kx} plus the tile's base. A tile of C is
 * {@link #MR} (or 4) output channels x 16 output pixels (two 8-float vectors): for w >= 16 the pixels are 16
 * consecutive ones of a row, for w == 8 two consecutive rows, so the two B vectors are {@code delta} apart in the
 * padded plane (8 or w+2). The whole depth is summed in registers in a fixed order, so the result does not depend
 * on how tiles are split across threads.
 *
 * <p>This class is only loaded when the {@code jdk.incubator.vector} module is present and 256-bit vectors are
 * native (see {@link CpuGemm#vectorized()}).
 */
final class VectorConv {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
    /** Rows of the wide tile: 8 x 16 needs 16 accumulators, which only fit the 32 vector registers of AVX-512. */
    static final int MR = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 512 ? 8 : 4;

    private VectorConv() {}

    /**
     * Packs the m x k matrix {@code w} (row-major at wOff) into strips: rows [r0, r0+h) of a strip of height h (MR,
     * then 4 for the remainder, rows beyond m zero) lie at {@code r0*k + p*h + r}. When {@code flip}, the matrix
     * is instead the data gradient's weights of a [k/taps, m, kh, kw] convolution weight (taps = kh*kw = 9 or 1):
     * element (row, (co*taps + t)) = w[co][row][taps-1-t], the transpose with each 3x3 kernel turned by 180
     * degrees, which makes a 3x3 / stride 1 / pad 1 (or 1x1) convolution's data gradient a convolution.
     */
    static float[] packWeights(float[] w, int wOff, int m, int k, int taps, boolean flip, float[] dst) {
        int need = roundUp(m, 4) * k;
        if (dst == null || dst.length < need) dst = new float[need];
        for (int r0 = 0; r0 < m; ) {
            int h = m - r0 >= MR ? MR : 4;
            int base = r0 * k;
            for (int r = 0; r < h; r++) {
                int row = r0 + r;
                if (row >= m) {
                    for (int p = 0; p < k; p++) dst[base + p * h + r] = 0f;
                } else if (flip) {
                    for (int co = 0, p = 0; p < k; co++) {
                        int src = wOff + (co * m + row) * taps + taps - 1;
                        for (int t = 0; t < taps; t++, p++) dst[base + p * h + r] = w[src - t];
                    }
                } else {
                    for (int p = 0; p < k; p++) dst[base + p * h + r] = w[wOff + row * k + p];
                }
            }
            r0 += h;
        }
        return dst;
    }

    /**
     * y[co][pix] = bias[co] + sum_p W[co][p] * xp[koff[p] + base(pix)] for the pixel tiles [t0, t1) of one sample:
     * xp at xOff is the sample's padded input, y at yOff its [m, h*w] output.
     */
    static void forwardTiles(float[] ap, int m, int k, int[] koff, float[] bias, int bOff, float[] xp, int xOff,
                             boolean shifted, int w, float[] y, int yOff, int p, int t0, int t1) {
        int wp = w + 2, delta = shifted || w >= 16 ? 8 : wp;
        float[] tile = null;
        for (int t = t0; t < t1; t++) {
            int pix = t * 16, base;
            if (shifted) base = xOff + pix; // rows of w floats: 16 consecutive pixels are consecutive
            else if (w >= 16) base = xOff + (pix / w) * wp + pix % w;
            else base = xOff + (pix / w) * wp; // w == 8: rows pix/8 and pix/8 + 1
            for (int r0 = 0; r0 < m; ) {
                int h = m - r0 >= MR ? MR : 4;
                int rows = Math.min(h, m - r0);
                int ai = r0 * k, ci = yOff + r0 * p + pix;
                if (rows == h) {
                    if (h == 8) tile8(k, ap, ai, koff, xp, base, delta, bias, bOff + r0, y, ci, p);
                    else tile4(k, ap, ai, koff, xp, base, delta, bias, bOff + r0, 4, y, ci, p);
                } else {
                    if (tile == null) tile = new float[4 * 16];
                    tile4(k, ap, ai, koff, xp, base, delta, bias, bOff + r0, rows, tile, 0, 16);
                    for (int r = 0; r < rows; r++) System.arraycopy(tile, r * 16, y, ci + r * p, 16);
                }
                r0 += h;
            }
        }
    }

    private static float biasAt(float[] bias, int i, int r, int rows) {
        return bias == null || r >= rows ? 0f : bias[i + r];
    }

    private static void tile8(int k, float[] ap, int ai, int[] koff, float[] xp, int base, int delta, float[] bias,
                              int bi, float[] c, int ci, int ldc) {
        FloatVector c00 = FloatVector.broadcast(S, biasAt(bias, bi, 0, 8)), c01 = c00;
        FloatVector c10 = FloatVector.broadcast(S, biasAt(bias, bi, 1, 8)), c11 = c10;
        FloatVector c20 = FloatVector.broadcast(S, biasAt(bias, bi, 2, 8)), c21 = c20;
        FloatVector c30 = FloatVector.broadcast(S, biasAt(bias, bi, 3, 8)), c31 = c30;
        FloatVector c40 = FloatVector.broadcast(S, biasAt(bias, bi, 4, 8)), c41 = c40;
        FloatVector c50 = FloatVector.broadcast(S, biasAt(bias, bi, 5, 8)), c51 = c50;
        FloatVector c60 = FloatVector.broadcast(S, biasAt(bias, bi, 6, 8)), c61 = c60;
        FloatVector c70 = FloatVector.broadcast(S, biasAt(bias, bi, 7, 8)), c71 = c70;
        for (int q = 0; q < k; q++, ai += 8) {
            int bx = base + koff[q];
            FloatVector b0 = FloatVector.fromArray(S, xp, bx);
            FloatVector b1 = FloatVector.fromArray(S, xp, bx + delta);
            FloatVector a = FloatVector.broadcast(S, ap[ai]);
            c00 = a.fma(b0, c00);
            c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = a.fma(b0, c10);
            c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = a.fma(b0, c20);
            c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = a.fma(b0, c30);
            c31 = a.fma(b1, c31);
            a = FloatVector.broadcast(S, ap[ai + 4]);
            c40 = a.fma(b0, c40);
            c41 = a.fma(b1, c41);
            a = FloatVector.broadcast(S, ap[ai + 5]);
            c50 = a.fma(b0, c50);
            c51 = a.fma(b1, c51);
            a = FloatVector.broadcast(S, ap[ai + 6]);
            c60 = a.fma(b0, c60);
            c61 = a.fma(b1, c61);
            a = FloatVector.broadcast(S, ap[ai + 7]);
            c70 = a.fma(b0, c70);
            c71 = a.fma(b1, c71);
        }
        c00.intoArray(c, ci);
        c01.intoArray(c, ci + 8);
        c10.intoArray(c, ci + ldc);
        c11.intoArray(c, ci + ldc + 8);
        c20.intoArray(c, ci + 2 * ldc);
        c21.intoArray(c, ci + 2 * ldc + 8);
        c30.intoArray(c, ci + 3 * ldc);
        c31.intoArray(c, ci + 3 * ldc + 8);
        c40.intoArray(c, ci + 4 * ldc);
        c41.intoArray(c, ci + 4 * ldc + 8);
        c50.intoArray(c, ci + 5 * ldc);
        c51.intoArray(c, ci + 5 * ldc + 8);
        c60.intoArray(c, ci + 6 * ldc);
        c61.intoArray(c, ci + 6 * ldc + 8);
        c70.intoArray(c, ci + 7 * ldc);
        c71.intoArray(c, ci + 7 * ldc + 8);
    }

    /** As {@link #tile8} for 4 rows, of which the first {@code rows} have a bias. */
    private static void tile4(int k, float[] ap, int ai, int[] koff, float[] xp, int base, int delta, float[] bias,
                              int bi, int rows, float[] c, int ci, int ldc) {
        FloatVector c00 = FloatVector.broadcast(S, biasAt(bias, bi, 0, rows)), c01 = c00;
        FloatVector c10 = FloatVector.broadcast(S, biasAt(bias, bi, 1, rows)), c11 = c10;
        FloatVector c20 = FloatVector.broadcast(S, biasAt(bias, bi, 2, rows)), c21 = c20;
        FloatVector c30 = FloatVector.broadcast(S, biasAt(bias, bi, 3, rows)), c31 = c30;
        for (int q = 0; q < k; q++, ai += 4) {
            int bx = base + koff[q];
            FloatVector b0 = FloatVector.fromArray(S, xp, bx);
            FloatVector b1 = FloatVector.fromArray(S, xp, bx + delta);
            FloatVector a = FloatVector.broadcast(S, ap[ai]);
            c00 = a.fma(b0, c00);
            c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = a.fma(b0, c10);
            c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = a.fma(b0, c20);
            c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = a.fma(b0, c30);
            c31 = a.fma(b1, c31);
        }
        c00.intoArray(c, ci);
        c01.intoArray(c, ci + 8);
        c10.intoArray(c, ci + ldc);
        c11.intoArray(c, ci + ldc + 8);
        c20.intoArray(c, ci + 2 * ldc);
        c21.intoArray(c, ci + 2 * ldc + 8);
        c30.intoArray(c, ci + 3 * ldc);
        c31.intoArray(c, ci + 3 * ldc + 8);
    }

    /**
     * Offsets of the 8-pixel chunks of a batch for {@link #filterGrad}: chunk j (sample s, row y, column x) is at
     * {@code dyIdx[j] = s*cout*h*w + y*w + x} in dy and at {@code xIdx[j] = s*cin*(h+2)*(w+2) + y*(w+2) + x} in the
     * padded input (needs w % 8 == 0), or, in the shifted layout, at {@code s*cin*3*(h+2)*w + y*w + x}, or for a
     * 1x1 convolution (the input as it is) at {@code s*cin*h*w + y*w + x} (both need h*w % 8 == 0).
     */
    static int chunks(int n, int cout, int cin, int h, int w, int layout, int[] dyIdx, int[] xIdx) {
        int wp = w + 2, plane = (h + 2) * wp, p = h * w, j = 0;
        if (layout != CpuConv.PADDED) {
            int sp = layout == CpuConv.POINTWISE ? p : 3 * (h + 2) * w;
            for (int s = 0; s < n; s++) {
                for (int q = 0; q < p; q += 8, j++) {
                    dyIdx[j] = s * cout * p + q;
                    xIdx[j] = s * cin * sp + q;
                }
            }
            return j;
        }
        for (int s = 0; s < n; s++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x += 8, j++) {
                    dyIdx[j] = s * cout * p + y * w + x;
                    xIdx[j] = s * cin * plane + y * wp + x;
                }
            }
        }
        return j;
    }

    /**
     * Filter gradient for output channels [co0, co0+4) (rows beyond cout skipped) and input channels [ci0, ci1):
     * dw[co][(ci*3+ky)*3+kx] += sum over samples and pixels of dy[s][co][y][x] * xp[s][ci][y+ky][x+kx]. The 12
     * accumulators are one output channel quad x the three kx taps of one (ci, ky); each is summed over the
     * {@code nChunks} 8-pixel chunks of {@link #chunks} in order (one flat loop: the JDK 17 compiler keeps vectors
     * in registers only across simple loops), then reduced across lanes. Tap (ci, ky, kx) of a chunk lies at
     * {@code ci*plane + ky*kyStride + kx*kxStride} from the chunk's offset in xp.
     */
    static void filterGrad(float[] dy, int dyOff, float[] xp, int plane, int kyStride, int kxStride, int cout, int cin,
                           int p, int co0, int ci0, int ci1, int[] dyIdx, int[] xIdx, int nChunks, float[] dw,
                           int dwOff) {
        int k = cin * 9, kx2 = 2 * kxStride;
        int rows = Math.min(4, cout - co0);
        // rows beyond cout read channel co0 again (valid memory); their sums are dropped
        int d0 = dyOff + co0 * p, d1 = dyOff + (co0 + Math.min(1, rows - 1)) * p,
                d2 = dyOff + (co0 + Math.min(2, rows - 1)) * p, d3 = dyOff + (co0 + Math.min(3, rows - 1)) * p;
        for (int ci = ci0; ci < ci1; ci++) {
            for (int ky = 0; ky < 3; ky++) {
                int xb = ci * plane + ky * kyStride;
                FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
                        a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
                for (int j = 0; j < nChunks; j++) {
                    int xr = xb + xIdx[j], dr = dyIdx[j];
                    FloatVector x0 = FloatVector.fromArray(S, xp, xr);
                    FloatVector x1 = FloatVector.fromArray(S, xp, xr + kxStride);
                    FloatVector x2 = FloatVector.fromArray(S, xp, xr + kx2);
                    FloatVector g = FloatVector.fromArray(S, dy, d0 + dr);
                    a00 = g.fma(x0, a00);
                    a01 = g.fma(x1, a01);
                    a02 = g.fma(x2, a02);
                    g = FloatVector.fromArray(S, dy, d1 + dr);
                    a10 = g.fma(x0, a10);
                    a11 = g.fma(x1, a11);
                    a12 = g.fma(x2, a12);
                    g = FloatVector.fromArray(S, dy, d2 + dr);
                    a20 = g.fma(x0, a20);
                    a21 = g.fma(x1, a21);
                    a22 = g.fma(x2, a22);
                    g = FloatVector.fromArray(S, dy, d3 + dr);
                    a30 = g.fma(x0, a30);
                    a31 = g.fma(x1, a31);
                    a32 = g.fma(x2, a32);
                }
                // reduce all twelve before any branch (vectors live across a branch get boxed by C2 in JDK 17)
                float f00 = a00.reduceLanes(VectorOperators.ADD), f01 = a01.reduceLanes(VectorOperators.ADD),
                        f02 = a02.reduceLanes(VectorOperators.ADD), f10 = a10.reduceLanes(VectorOperators.ADD),
                        f11 = a11.reduceLanes(VectorOperators.ADD), f12 = a12.reduceLanes(VectorOperators.ADD),
                        f20 = a20.reduceLanes(VectorOperators.ADD), f21 = a21.reduceLanes(VectorOperators.ADD),
                        f22 = a22.reduceLanes(VectorOperators.ADD), f30 = a30.reduceLanes(VectorOperators.ADD),
                        f31 = a31.reduceLanes(VectorOperators.ADD), f32 = a32.reduceLanes(VectorOperators.ADD);
                int q = (ci * 3 + ky) * 3, o = dwOff + co0 * k + q;
                dw[o] += f00;
                dw[o + 1] += f01;
                dw[o + 2] += f02;
                if (rows > 1) {
                    dw[o + k] += f10;
                    dw[o + k + 1] += f11;
                    dw[o + k + 2] += f12;
                }
                if (rows > 2) {
                    dw[o + 2 * k] += f20;
                    dw[o + 2 * k + 1] += f21;
                    dw[o + 2 * k + 2] += f22;
                }
                if (rows > 3) {
                    dw[o + 3 * k] += f30;
                    dw[o + 3 * k + 1] += f31;
                    dw[o + 3 * k + 2] += f32;
                }
            }
        }
    }

    /**
     * As {@link #filterGrad} for the eight output channels [co0, co0+8) (all below cout): 24 accumulators, which
     * need the 32 vector registers of AVX-512 ({@link #MR} == 8). Each 8-pixel step loads 3 input and 8 gradient
     * vectors for 24 multiply-adds instead of 3 and 4 for 12.
     */
    static void filterGrad8(float[] dy, int dyOff, float[] xp, int plane, int kyStride, int kxStride, int cin, int p,
                            int co0, int ci, int[] dyIdx, int[] xIdx, int nChunks, float[] dw, int dwOff) {
        int k = cin * 9;
        int d0 = dyOff + co0 * p;
        for (int ky = 0; ky < 3; ky++) {
            int xa = ci * plane + ky * kyStride;
            strip8x3(dy, d0, p, xp, xa, xa + kxStride, xa + 2 * kxStride, dyIdx, xIdx, nChunks, dw,
                    dwOff + co0 * k + (ci * 3 + ky) * 3, k, 3);
        }
    }

    /**
     * Filter gradient of a 1x1 convolution for output channels [co0, co0+8) (all below cout) and input channels
     * [ci0, ci0+3) (those below cin): dw[co][ci] += sum over samples and pixels of dy[s][co][pix] * x[s][ci][pix],
     * with 24 accumulators as in {@link #filterGrad8} over the 8-pixel chunks of {@link #chunks} (in the
     * unpadded layout: {@code xIdx[j] = s*cin*p + pix}). Missing input channels read channel cin-1 again and are
     * dropped.
     */
    static void filterGrad1x1(float[] dy, int dyOff, float[] x, int xOff, int p, int cin, int co0, int ci0,
                              int[] dyIdx, int[] xIdx, int nChunks, float[] dw, int dwOff) {
        int xa = xOff + ci0 * p, xb = xOff + Math.min(ci0 + 1, cin - 1) * p, xc = xOff + Math.min(ci0 + 2, cin - 1) * p;
        strip8x3(dy, dyOff + co0 * p, p, x, xa, xb, xc, dyIdx, xIdx, nChunks, dw, dwOff + co0 * cin + ci0, cin,
                Math.min(3, cin - ci0));
    }

    /**
     * The 8 x 3 register block shared by {@link #filterGrad8} and {@link #filterGrad1x1}: 24 vector accumulators
     * over the chunks j, acc[r][c] += dy[d0 + r*p + dyIdx[j] ..] * x[xc_c + xIdx[j] ..] with xc_0..2 = xa, xb, xc,
     * then dw[o + r*rowStride + c] += the lane sum of acc[r][c] for c &lt; taps.
     */
    private static void strip8x3(float[] dy, int d0, int p, float[] x, int xa, int xb, int xc, int[] dyIdx, int[] xIdx,
                                 int nChunks, float[] dw, int o, int rowStride, int taps) {
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
                a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00,
                a40 = a00, a41 = a00, a42 = a00, a50 = a00, a51 = a00, a52 = a00,
                a60 = a00, a61 = a00, a62 = a00, a70 = a00, a71 = a00, a72 = a00;
        for (int j = 0; j < nChunks; j++) {
            int xr = xIdx[j], dr = d0 + dyIdx[j];
            FloatVector x0 = FloatVector.fromArray(S, x, xa + xr);
            FloatVector x1 = FloatVector.fromArray(S, x, xb + xr);
            FloatVector x2 = FloatVector.fromArray(S, x, xc + xr);
            FloatVector g = FloatVector.fromArray(S, dy, dr);
            a00 = g.fma(x0, a00);
            a01 = g.fma(x1, a01);
            a02 = g.fma(x2, a02);
            g = FloatVector.fromArray(S, dy, dr + p);
            a10 = g.fma(x0, a10);
            a11 = g.fma(x1, a11);
            a12 = g.fma(x2, a12);
            g = FloatVector.fromArray(S, dy, dr + 2 * p);
            a20 = g.fma(x0, a20);
            a21 = g.fma(x1, a21);
            a22 = g.fma(x2, a22);
            g = FloatVector.fromArray(S, dy, dr + 3 * p);
            a30 = g.fma(x0, a30);
            a31 = g.fma(x1, a31);
            a32 = g.fma(x2, a32);
            g = FloatVector.fromArray(S, dy, dr + 4 * p);
            a40 = g.fma(x0, a40);
            a41 = g.fma(x1, a41);
            a42 = g.fma(x2, a42);
            g = FloatVector.fromArray(S, dy, dr + 5 * p);
            a50 = g.fma(x0, a50);
            a51 = g.fma(x1, a51);
            a52 = g.fma(x2, a52);
            g = FloatVector.fromArray(S, dy, dr + 6 * p);
            a60 = g.fma(x0, a60);
            a61 = g.fma(x1, a61);
            a62 = g.fma(x2, a62);
            g = FloatVector.fromArray(S, dy, dr + 7 * p);
            a70 = g.fma(x0, a70);
            a71 = g.fma(x1, a71);
            a72 = g.fma(x2, a72);
        }
        float f00 = a00.reduceLanes(VectorOperators.ADD), f01 = a01.reduceLanes(VectorOperators.ADD),
                f02 = a02.reduceLanes(VectorOperators.ADD);
        float f10 = a10.reduceLanes(VectorOperators.ADD), f11 = a11.reduceLanes(VectorOperators.ADD),
                f12 = a12.reduceLanes(VectorOperators.ADD);
        float f20 = a20.reduceLanes(VectorOperators.ADD), f21 = a21.reduceLanes(VectorOperators.ADD),
                f22 = a22.reduceLanes(VectorOperators.ADD);
        float f30 = a30.reduceLanes(VectorOperators.ADD), f31 = a31.reduceLanes(VectorOperators.ADD),
                f32 = a32.reduceLanes(VectorOperators.ADD);
        float f40 = a40.reduceLanes(VectorOperators.ADD), f41 = a41.reduceLanes(VectorOperators.ADD),
                f42 = a42.reduceLanes(VectorOperators.ADD);
        float f50 = a50.reduceLanes(VectorOperators.ADD), f51 = a51.reduceLanes(VectorOperators.ADD),
                f52 = a52.reduceLanes(VectorOperators.ADD);
        float f60 = a60.reduceLanes(VectorOperators.ADD), f61 = a61.reduceLanes(VectorOperators.ADD),
                f62 = a62.reduceLanes(VectorOperators.ADD);
        float f70 = a70.reduceLanes(VectorOperators.ADD), f71 = a71.reduceLanes(VectorOperators.ADD),
                f72 = a72.reduceLanes(VectorOperators.ADD);
        dw[o] += f00;
        if (taps > 1) dw[o + 1] += f01;
        if (taps > 2) dw[o + 2] += f02;
        dw[o + rowStride] += f10;
        if (taps > 1) dw[o + rowStride + 1] += f11;
        if (taps > 2) dw[o + rowStride + 2] += f12;
        dw[o + 2 * rowStride] += f20;
        if (taps > 1) dw[o + 2 * rowStride + 1] += f21;
        if (taps > 2) dw[o + 2 * rowStride + 2] += f22;
        dw[o + 3 * rowStride] += f30;
        if (taps > 1) dw[o + 3 * rowStride + 1] += f31;
        if (taps > 2) dw[o + 3 * rowStride + 2] += f32;
        dw[o + 4 * rowStride] += f40;
        if (taps > 1) dw[o + 4 * rowStride + 1] += f41;
        if (taps > 2) dw[o + 4 * rowStride + 2] += f42;
        dw[o + 5 * rowStride] += f50;
        if (taps > 1) dw[o + 5 * rowStride + 1] += f51;
        if (taps > 2) dw[o + 5 * rowStride + 2] += f52;
        dw[o + 6 * rowStride] += f60;
        if (taps > 1) dw[o + 6 * rowStride + 1] += f61;
        if (taps > 2) dw[o + 6 * rowStride + 2] += f62;
        dw[o + 7 * rowStride] += f70;
        if (taps > 1) dw[o + 7 * rowStride + 1] += f71;
        if (taps > 2) dw[o + 7 * rowStride + 2] += f72;
    }

    private static int roundUp(int x, int multiple) { return (x + multiple - 1) / multiple * multiple; }
}
