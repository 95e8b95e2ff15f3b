package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * conv2d forward / backward-data / backward-filter and the transposed convolution against direct loops in
 * double, on both GEMM paths. The shapes cover 1x1, 3x3, 4x4, 5x5 and non-square kernels, strides 1-3,
 * odd and non-square images, and sample counts that exercise both the grouped im2col (several samples per
 * GEMM) and the in-place single-sample path.
 */
class CpuConvTest {
    private static final CpuBackend BE = CpuBackend.get();
    private final SplittableRandom rng = new SplittableRandom(99);

    /** {n, cin, cout, h, w, kh, kw, stride, pad}. */
    private static final int[][] CONV_CASES = {
            {2, 3, 5, 7, 9, 3, 3, 1, 1},     // 3x3 same, odd non-square image
            {3, 4, 6, 8, 8, 1, 1, 1, 0},     // 1x1, grouped
            {1, 4, 6, 9, 5, 1, 1, 1, 0},     // 1x1, single sample: GEMM straight on the tensors
            {2, 5, 3, 9, 7, 3, 3, 2, 1},     // 3x3 stride 2, odd image
            {2, 4, 4, 8, 8, 4, 4, 2, 1},     // 4x4 stride 2 pad 1 (the transposed convs' kernel)
            {1, 3, 2, 5, 6, 3, 3, 1, 0},     // no padding
            {2, 3, 4, 6, 5, 1, 3, 1, 1},     // non-square kernel
            {2, 2, 3, 7, 7, 5, 5, 3, 2},     // 5x5 stride 3
            {2, 6, 4, 4, 4, 3, 3, 1, 1},     // 4x4 image
            {4, 3, 5, 20, 20, 3, 3, 1, 1},   // groups of 3 samples then 1 (TARGET_COLS = 1024)
            {4, 3, 5, 20, 20, 1, 1, 1, 0},   // the same, 1x1
            {2, 2, 3, 32, 32, 3, 3, 1, 1},   // one sample per group, in place
            {3, 1, 1, 3, 3, 3, 3, 1, 2},     // padding larger than needed: border outputs see only zeros
            // the direct 3x3 path (vector kernel): 16-pixel row tiles, two-row tiles at w = 8, channel edges
            {2, 5, 13, 8, 8, 3, 3, 1, 1},    // 8x8: rows in pairs; 13 = 8 + 4 + 1 output channels
            {3, 16, 16, 16, 16, 3, 3, 1, 1}, // 16x16, whole strips
            {2, 7, 9, 6, 32, 3, 3, 1, 1},    // non-square, two tiles per row, 9 = 8 + 1 channels
            {2, 3, 6, 8, 24, 3, 3, 1, 1},    // w = 24: filter gradient direct, forward via im2col
            {2, 12, 3, 4, 8, 3, 3, 1, 1},    // 3 output channels (the U-Net's last conv), 4x8
            {3, 9, 10, 4, 12, 3, 3, 1, 1},   // shifted layout (w = 12): tiles across rows
            {2, 3, 5, 6, 4, 3, 3, 1, 1},     // 24 pixels: filter gradient shifted, the rest via im2col
            {2, 7, 16, 8, 8, 1, 1, 1, 0},    // 1x1 direct, filter gradient in input-channel triples (7 = 3+3+1)
            {3, 5, 8, 4, 6, 1, 1, 1, 0},     // 1x1, 24 pixels: filter gradient direct, the rest via GEMM
    };

    @AfterEach void restoreDefaultPath() { GemmPaths.restoreDefault(); }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {true, false})
    void conv2dForwardAndBackwardMatchDirectLoops(boolean vector) {
        GemmPaths.select(vector);
        double fwd = 0, bwdData = 0, bwdFilter = 0;
        for (int[] cs : CONV_CASES) {
            int n = cs[0], cin = cs[1], cout = cs[2], h = cs[3], w = cs[4], kh = cs[5], kw = cs[6], st = cs[7], pd = cs[8];
            int ho = (h + 2 * pd - kh) / st + 1, wo = (w + 2 * pd - kw) / st + 1;
            String label = java.util.Arrays.toString(cs);
            float[] x = random(n * cin * h * w), wt = random(cout * cin * kh * kw), bias = random(cout);
            float[] dy = random(n * cout * ho * wo), dw0 = random(cout * cin * kh * kw), db0 = random(cout);

            // direct loops over the definition y[n,co,oy,ox] = b[co] + sum x[n,ci,oy*s-p+ky,ox*s-p+kx] w[co,ci,ky,kx]
            Ref y = new Ref(n * cout * ho * wo), dx = new Ref(n * cin * h * w), dwr = new Ref(cout * cin * kh * kw);
            Ref dbr = new Ref(cout);
            for (int i = 0; i < cout * cin * kh * kw; i++) dwr.add(i, dw0[i], 1);
            for (int s = 0; s < n; s++) {
                for (int co = 0; co < cout; co++) {
                    for (int oy = 0; oy < ho; oy++) {
                        for (int ox = 0; ox < wo; ox++) {
                            int yi = ((s * cout + co) * ho + oy) * wo + ox;
                            y.add(yi, bias[co], 1);
                            dbr.add(co, dy[yi], 1);
                            for (int ci = 0; ci < cin; ci++) {
                                for (int ky = 0; ky < kh; ky++) {
                                    for (int kx = 0; kx < kw; kx++) {
                                        int iy = oy * st - pd + ky, ix = ox * st - pd + kx;
                                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                        int xi = ((s * cin + ci) * h + iy) * w + ix, wi = ((co * cin + ci) * kh + ky) * kw + kx;
                                        y.add(yi, x[xi], wt[wi]);
                                        dx.add(xi, dy[yi], wt[wi]);
                                        dwr.add(wi, dy[yi], x[xi]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Tensor tx = BE.fromArray(x, n, cin, h, w), tw = BE.fromArray(wt, cout, cin, kh, kw), tb = BE.fromArray(bias, cout);
            Tensor ty = nanTensor(n, cout, ho, wo), tdy = BE.fromArray(dy, n, cout, ho, wo), tdx = nanTensor(n, cin, h, w);
            Tensor tdw = BE.fromArray(dw0, cout, cin, kh, kw), tdb = BE.fromArray(db0, cout);
            BE.conv2d(ty, tx, tw, tb, st, pd);
            BE.conv2dBackwardData(tdx, tdy, tw, st, pd);
            BE.conv2dBackwardFilter(tdw, tdb, tdy, tx, st, pd);
            fwd = Math.max(fwd, y.check(BE.toHost(ty), "forward " + label));
            bwdData = Math.max(bwdData, dx.check(BE.toHost(tdx), "backward-data " + label));
            bwdFilter = Math.max(bwdFilter, dwr.check(BE.toHost(tdw), "backward-filter " + label));
            float[] gotDb = BE.toHost(tdb);
            for (int co = 0; co < cout; co++) dbr.add(co, db0[co], 1);
            bwdFilter = Math.max(bwdFilter, dbr.check(gotDb, "bias gradient " + label));

            // without a bias the forward pass is the bare convolution
            BE.conv2d(ty, tx, tw, null, st, pd);
            float[] noBias = BE.toHost(ty);
            for (int i = 0; i < noBias.length; i++) y.add(i, -bias[(i / (ho * wo)) % cout], 1);
            fwd = Math.max(fwd, y.check(noBias, "forward without bias " + label));
        }
        System.out.printf("conv2d vs direct loops (%s, %d shapes): max abs error forward %.3g, backward-data %.3g, backward-filter %.3g%n",
                vector ? "vector" : "scalar", CONV_CASES.length, fwd, bwdData, bwdFilter);
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {true, false})
    void transposedConvMatchesScatterLoop(boolean vector) {
        GemmPaths.select(vector);
        // {n, cin, cout, h, w, k, stride, pad, outputPadding}
        int[][] cases = {
                {2, 4, 3, 4, 4, 4, 2, 1, 0},    // the U-Net upsampler: 4x4 stride 2 pad 1 doubles the size
                {2, 3, 5, 5, 3, 3, 2, 1, 1},    // 3x3 stride 2 with output padding, non-square
                {3, 2, 2, 3, 3, 3, 1, 1, 0},    // stride 1 (a plain "same" deconvolution)
                {1, 3, 4, 6, 7, 4, 2, 1, 0},    // single sample, odd width
                {2, 5, 3, 4, 4, 1, 1, 0, 0},    // 1x1
                {5, 2, 3, 16, 16, 4, 2, 1, 0},  // output 32x32: grouped im2col over the input gradient
        };
        double fwd = 0, bwdData = 0, bwdFilter = 0;
        for (int[] cs : cases) {
            int n = cs[0], cin = cs[1], cout = cs[2], h = cs[3], w = cs[4], k = cs[5], st = cs[6], pd = cs[7], op = cs[8];
            int ho = (h - 1) * st - 2 * pd + k + op, wo = (w - 1) * st - 2 * pd + k + op;
            String label = java.util.Arrays.toString(cs);
            float[] x = random(n * cin * h * w), wt = random(cin * cout * k * k), bias = random(cout);
            float[] dy = random(n * cout * ho * wo), dw0 = random(cin * cout * k * k), db0 = random(cout);

            // scatter: every input pixel adds x * w[ci, co] into the output window it maps to
            Ref y = new Ref(n * cout * ho * wo), dx = new Ref(n * cin * h * w), dwr = new Ref(cin * cout * k * k);
            Ref dbr = new Ref(cout);
            for (int i = 0; i < dw0.length; i++) dwr.add(i, dw0[i], 1);
            for (int co = 0; co < cout; co++) dbr.add(co, db0[co], 1);
            for (int i = 0; i < y.value.length; i++) {
                y.add(i, bias[(i / (ho * wo)) % cout], 1);
                dbr.add((i / (ho * wo)) % cout, dy[i], 1);
            }
            for (int s = 0; s < n; s++) {
                for (int ci = 0; ci < cin; ci++) {
                    for (int iy = 0; iy < h; iy++) {
                        for (int ix = 0; ix < w; ix++) {
                            int xi = ((s * cin + ci) * h + iy) * w + ix;
                            for (int co = 0; co < cout; co++) {
                                for (int ky = 0; ky < k; ky++) {
                                    for (int kx = 0; kx < k; kx++) {
                                        int oy = iy * st - pd + ky, ox = ix * st - pd + kx;
                                        if (oy < 0 || oy >= ho || ox < 0 || ox >= wo) continue;
                                        int yi = ((s * cout + co) * ho + oy) * wo + ox, wi = ((ci * cout + co) * k + ky) * k + kx;
                                        y.add(yi, x[xi], wt[wi]);
                                        dx.add(xi, dy[yi], wt[wi]);
                                        dwr.add(wi, x[xi], dy[yi]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Tensor tx = BE.fromArray(x, n, cin, h, w), tw = BE.fromArray(wt, cin, cout, k, k), tb = BE.fromArray(bias, cout);
            Tensor ty = nanTensor(n, cout, ho, wo), tdy = BE.fromArray(dy, n, cout, ho, wo), tdx = nanTensor(n, cin, h, w);
            Tensor tdw = BE.fromArray(dw0, cin, cout, k, k), tdb = BE.fromArray(db0, cout);
            BE.convTranspose2d(ty, tx, tw, tb, st, pd);
            BE.convTranspose2dBackwardData(tdx, tdy, tw, st, pd);
            BE.convTranspose2dBackwardFilter(tdw, tdb, tdy, tx, st, pd);
            fwd = Math.max(fwd, y.check(BE.toHost(ty), "transposed forward " + label));
            bwdData = Math.max(bwdData, dx.check(BE.toHost(tdx), "transposed backward-data " + label));
            bwdFilter = Math.max(bwdFilter, dwr.check(BE.toHost(tdw), "transposed backward-filter " + label));
            bwdFilter = Math.max(bwdFilter, dbr.check(BE.toHost(tdb), "transposed bias gradient " + label));
        }
        System.out.printf("convTranspose2d vs scatter loops (%s, %d shapes): max abs error forward %.3g, backward-data %.3g, backward-filter %.3g%n",
                vector ? "vector" : "scalar", cases.length, fwd, bwdData, bwdFilter);
    }

    @Test void rejectsMismatchedShapes() {
        Tensor x = BE.zeros(2, 3, 8, 8), w = BE.zeros(4, 3, 3, 3);
        assertThrows(IllegalArgumentException.class, () -> BE.conv2d(BE.zeros(2, 4, 7, 8), x, w, null, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> BE.conv2d(BE.zeros(2, 4, 8, 8), x, BE.zeros(4, 2, 3, 3), null, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> BE.conv2d(BE.zeros(2, 4, 8, 8), x, w, BE.zeros(3), 1, 1));
    }

    /** A tensor filled with NaN, to show that outputs which assign never read their old contents. */
    private static Tensor nanTensor(int... dims) {
        Tensor t = BE.zeros(dims);
        BE.fill(t, Float.NaN);
        return t;
    }

    private float[] random(int size) {
        float[] v = new float[size];
        for (int i = 0; i < size; i++) v[i] = (float) (rng.nextDouble() * 2 - 1);
        return v;
    }

    /** A reference result in double with, per element, the sum of |terms| and their count for the tolerance. */
    private static final class Ref {
        final double[] value, magnitude;
        final int[] terms;

        Ref(int size) {
            value = new double[size];
            magnitude = new double[size];
            terms = new int[size];
        }

        void add(int i, double a, double b) {
            value[i] += a * b;
            magnitude[i] += Math.abs(a * b);
            terms[i]++;
        }

        /** Fails unless |got - value| is within float32 accumulation error; returns the max abs error. */
        double check(float[] got, String what) {
            double worst = 0;
            for (int i = 0; i < value.length; i++) {
                double err = Math.abs(got[i] - value[i]);
                double tol = (terms[i] + 2) * 1.2e-7 * magnitude[i] + 1e-30;
                if (!(err <= tol)) fail(String.format("%s: element %d = %s, expected %s (err %.3g > %.3g)", what, i, got[i], value[i], err, tol));
                worst = Math.max(worst, err);
            }
            return worst;
        }
    }
}
