package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Rounding;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * bf16 tensors on the CPU backend: storage that holds bfloat16 values only, float32 arithmetic rounded once at the
 * store, and each op's bf16 result against its float32 result within a bound derived from bf16's 8-bit significand.
 *
 * <p>The bounds: bf16 keeps 8 significant bits, so rounding to nearest has a relative error of at most u = 2^-8.
 * A product of sums over rounded operands, sum a_i b_i with a_i(1 + d_i), b_i(1 + e_i), |d|, |e| <= u, is off by at
 * most (2u + u^2) sum |a_i b_i|, which the same op computes when given |a| and |b|; storing the result in bf16 adds
 * u |y|. A small float32 term (1e-5 of the scale) covers the float32 arithmetic both sides do in another order.
 */
class CpuBf16Test {
    private static final CpuBackend BE = CpuBackend.get();
    private static final double U = 0x1p-8;
    private final SplittableRandom rng = new SplittableRandom(11);

    // ------------------------------------------------------------------ storage

    @Test void bf16TensorsHoldOnlyBf16ValuesAndConvertOnCopies() {
        float[] x = random(4099, 3);
        Tensor f = BE.fromArray(x, x.length);
        Tensor h = BE.zeros(Shape.of(x.length), DType.BF16);
        assertEquals(DType.BF16, h.dtype());
        assertEquals(2L * x.length, h.storage().bytes());
        BE.copy(h, f);
        float[] back = BE.toHost(h);
        for (int i = 0; i < x.length; i++) assertEquals(Rounding.bf16(x[i]), back[i], 0f, "copy f32 -> bf16 rounds");
        Tensor f2 = BE.zeros(x.length);
        BE.copy(f2, h);
        assertArrayEqualsBits(back, BE.toHost(f2), "copy bf16 -> f32 is exact");
        Tensor h2 = BE.zeros(Shape.of(x.length), DType.BF16);
        BE.copyFromHost(h2, x, 0);
        assertArrayEqualsBits(back, BE.toHost(h2), "copyFromHost rounds to the tensor's dtype");
        // a view reads rounded values too, and a view's write leaves the rest alone
        Tensor v = h2.view(100, Shape.of(50));
        BE.fill(v, 1.0078125f + 0x1p-10f);   // between bf16 neighbours 1.0078125 and 1.015625: rounds down
        float[] all = BE.toHost(h2);
        for (int i = 0; i < x.length; i++) {
            float want = i >= 100 && i < 150 ? 1.0078125f : back[i];
            assertEquals(want, all[i], 0f, "element " + i);
        }
    }

    @Test void refusesWhatItCannotStoreAndMixedOperands() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BE.zeros(Shape.of(3), DType.F16));
        assertTrue(e.getMessage().contains("f16"), e.getMessage());
        Tensor a = BE.zeros(Shape.of(2, 3), DType.BF16), b = BE.zeros(3, 2), c = BE.zeros(2, 2);
        e = assertThrows(IllegalArgumentException.class, () -> BE.matmul(c, a, b, false, false, 1f, 0f));
        assertTrue(e.getMessage().startsWith("matmul: dtype mismatch"), e.getMessage());
        Tensor x = BE.zeros(Shape.of(1, 2, 4, 4), DType.BF16), w = BE.zeros(3, 2, 3, 3), y = BE.zeros(Shape.of(1, 3, 4, 4), DType.BF16);
        e = assertThrows(IllegalArgumentException.class, () -> BE.conv2d(y, x, w, null, 1, 1));
        assertTrue(e.getMessage().startsWith("conv2d: dtype mismatch"), e.getMessage());
        Tensor bfMean = BE.zeros(Shape.of(2), DType.BF16);
        e = assertThrows(IllegalArgumentException.class, () -> BE.groupNorm(y, bfMean, BE.zeros(2), y, BE.zeros(3), BE.zeros(3), 1, 1e-5f));
        assertTrue(e.getMessage().contains("groupNorm"), e.getMessage());
    }

    /**
     * On the CPU a bf16 op is the float32 op on the same (bf16) input values, rounded once when stored: the same
     * bits as rounding the float32 result.
     */
    @Test void anOpWithBf16OutputIsTheFloat32OpRoundedOnce() {
        int n = 3, c = 8, h = 5, w = 4;
        Shape s = Shape.of(n, c, h, w);
        float[] x = bf16(random(s.size(), 2)), y = bf16(random(s.size(), 1)), bias = random(c, 1), e = random(n * c, 1);
        float[] gamma = random(c, 1), beta = random(c, 1), wt = bf16(random(6 * c * 9, 0.2)), cb = random(6, 1);
        checkRoundedOnce("axpby", s, out -> BE.axpby(out, 0.3f, in(x, s), -1.7f, in(y, s)));
        checkRoundedOnce("mul", s, out -> BE.mul(out, in(x, s), in(y, s)));
        checkRoundedOnce("silu", s, out -> BE.silu(out, in(x, s)));
        checkRoundedOnce("siluBackward", s, out -> BE.siluBackward(out, in(y, s), in(x, s)));
        checkRoundedOnce("addBiasAdd", s, out -> BE.addBiasAdd(out, in(x, s), BE.fromArray(bias, c), in(y, s), BE.fromArray(bias, c)));
        checkRoundedOnce("addBiasPerSampleChannel", s, out -> BE.addBiasPerSampleChannel(out, in(x, s), BE.fromArray(bias, c), BE.fromArray(e, n, c)));
        checkRoundedOnce("upsampleNearest2x", Shape.of(n, c, 2 * h, 2 * w), out -> BE.upsampleNearest2x(out, in(x, s)));
        checkRoundedOnce("softmax (f32 in)", s, out -> BE.softmax(out, BE.fromArray(x, s)));
        checkRoundedOnce("groupNormSilu", s, out -> BE.groupNormSilu(out, BE.zeros(n * 2), BE.zeros(n * 2), in(x, s),
                BE.fromArray(bias, c), BE.fromArray(e, n, c), BE.fromArray(gamma, c), BE.fromArray(beta, c), 2, 1e-6f,
                0.1f, 5L, 7L));
        checkRoundedOnce("dropout", s, out -> BE.dropout(out, in(x, s), 0.2f, 3L, 9L));
        checkRoundedOnce("conv2d", Shape.of(n, 6, h, w), out -> BE.conv2d(out, in(x, s),
                in(wt, Shape.of(6, c, 3, 3)), null, 1, 1));
        // with a bias, a bf16 output is rounded twice, as the GPU's cuDNN path (convolution, then the bias kernel):
        // round(round(conv) + bias)
        Shape ys = Shape.of(n, 6, h, w);
        Tensor f = BE.zeros(ys), hb = BE.zeros(ys, DType.BF16);
        BE.conv2d(f, in(x, s), in(wt, Shape.of(6, c, 3, 3)), null, 1, 1);
        BE.conv2d(hb, in(x, s), in(wt, Shape.of(6, c, 3, 3)), BE.fromArray(cb, 6), 1, 1);
        float[] conv = BE.toHost(f), got = BE.toHost(hb);
        for (int i = 0; i < conv.length; i++) {
            float want = Rounding.bf16(Rounding.bf16(conv[i]) + cb[(i / (h * w)) % 6]);
            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got[i]), "conv2d with bias, element " + i);
        }
    }

    /** Runs {@code op} into an F32 and into a BF16 output: the bf16 result is the f32 one rounded, bit for bit. */
    private void checkRoundedOnce(String name, Shape outShape, Consumer<Tensor> op) {
        Tensor f = BE.zeros(outShape), h = BE.zeros(outShape, DType.BF16);
        op.accept(f);
        op.accept(h);
        float[] want = BE.toHost(f), got = BE.toHost(h);
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(Rounding.bf16(want[i]))) {
                fail(name + ": element " + i + " is " + got[i] + ", the float32 result " + want[i] + " rounds to "
                        + Rounding.bf16(want[i]));
            }
            if ((Float.floatToRawIntBits(got[i]) & 0xFFFF) != 0) fail(name + ": element " + i + " is not a bf16 value");
        }
    }

    // ------------------------------------------------------------------ accuracy against the float32 op

    @Test void matmulWithinTheBf16Bound() {
        int m = 37, k = 300, n = 29;
        float[] a = random(m * k, 1), b = random(k * n, 1);
        Tensor c32 = BE.zeros(m, n), cAbs = BE.zeros(m, n), c16 = BE.zeros(Shape.of(m, n), DType.BF16);
        BE.matmul(c32, BE.fromArray(a, m, k), BE.fromArray(b, k, n), false, false, 1f, 0f);
        BE.matmul(cAbs, BE.fromArray(abs(a), m, k), BE.fromArray(abs(b), k, n), false, false, 1f, 0f);
        BE.matmul(c16, in(a, Shape.of(m, k)), in(b, Shape.of(k, n)), false, false, 1f, 0f);
        withinProductBound("matmul", BE.toHost(c32), BE.toHost(c16), BE.toHost(cAbs), true);
    }

    @Test void convolutionPassesWithinTheBf16Bound() {
        int n = 2, cin = 16, cout = 12, h = 9, w = 7;
        Shape xs = Shape.of(n, cin, h, w), ws = Shape.of(cout, cin, 3, 3), ys = Shape.of(n, cout, h, w);
        float[] x = random(xs.size(), 1), wt = random(ws.size(), 0.3), dy = random(ys.size(), 1);
        // forward
        Tensor y32 = BE.zeros(ys), yAbs = BE.zeros(ys), y16 = BE.zeros(ys, DType.BF16);
        BE.conv2d(y32, BE.fromArray(x, xs), BE.fromArray(wt, ws), null, 1, 1);
        BE.conv2d(yAbs, BE.fromArray(abs(x), xs), BE.fromArray(abs(wt), ws), null, 1, 1);
        BE.conv2d(y16, in(x, xs), in(wt, ws), null, 1, 1);
        withinProductBound("conv2d", BE.toHost(y32), BE.toHost(y16), BE.toHost(yAbs), true);
        // data gradient
        Tensor dx32 = BE.zeros(xs), dxAbs = BE.zeros(xs), dx16 = BE.zeros(xs, DType.BF16);
        BE.conv2dBackwardData(dx32, BE.fromArray(dy, ys), BE.fromArray(wt, ws), 1, 1);
        BE.conv2dBackwardData(dxAbs, BE.fromArray(abs(dy), ys), BE.fromArray(abs(wt), ws), 1, 1);
        BE.conv2dBackwardData(dx16, in(dy, ys), in(wt, ws), 1, 1);
        withinProductBound("conv2dBackwardData", BE.toHost(dx32), BE.toHost(dx16), BE.toHost(dxAbs), true);
        // filter gradient: bf16 operands, accumulated into the F32 parameter gradient (no output rounding)
        Tensor dw32 = BE.zeros(ws), dwAbs = BE.zeros(ws), dw16 = BE.zeros(ws);
        BE.conv2dBackwardFilter(dw32, null, BE.fromArray(dy, ys), BE.fromArray(x, xs), 1, 1);
        BE.conv2dBackwardFilter(dwAbs, null, BE.fromArray(abs(dy), ys), BE.fromArray(abs(x), xs), 1, 1);
        BE.conv2dBackwardFilter(dw16, null, in(dy, ys), in(x, xs), 1, 1);
        withinProductBound("conv2dBackwardFilter", BE.toHost(dw32), BE.toHost(dw16), BE.toHost(dwAbs), false);
    }

    /**
     * groupNormSilu with a bf16 input and output, float32 statistics. First order in the input's rounding (x~ =
     * x(1 + d), |d| <= u): the mean moves by at most u mean|x|, the variance by at most 2u mean(|x - mu| |x|), so
     * rstd by a relative u mean(|x - mu| |x|) / (var + eps); the normalised value n = (x - mu) rstd by at most
     * u rstd (|x| + mean|x|) + |n| u mean(|x - mu||x|) / (var + eps); silu(gamma n + beta) moves by at most
     * max|silu'| (< 1.1) |gamma| times that, and storing adds u |y|. A factor 1.05 covers the second order.
     */
    @Test void groupNormSiluWithinTheBf16Bound() {
        int n = 2, c = 8, groups = 4, h = 6, w = 5, sp = h * w, cpg = c / groups;
        Shape s = Shape.of(n, c, h, w);
        float[] x = random(s.size(), 2), gamma = random(c, 1.5), beta = random(c, 1);
        for (int i = 0; i < x.length; i++) x[i] += 0.7f;   // a non-zero mean, so mean|x| matters
        Tensor y32 = BE.zeros(s), y16 = BE.zeros(s, DType.BF16);
        BE.groupNormSilu(y32, BE.zeros(n * groups), BE.zeros(n * groups), BE.fromArray(x, s), null, null,
                BE.fromArray(gamma, c), BE.fromArray(beta, c), groups, 1e-6f, 0f, 0L, 0L);
        BE.groupNormSilu(y16, BE.zeros(n * groups), BE.zeros(n * groups), in(x, s), null, null,
                BE.fromArray(gamma, c), BE.fromArray(beta, c), groups, 1e-6f, 0f, 0L, 0L);
        float[] a = BE.toHost(y32), b = BE.toHost(y16);
        double worst = 0;
        for (int sm = 0; sm < n; sm++) {
            for (int g = 0; g < groups; g++) {
                int base = (sm * c + g * cpg) * sp, m = cpg * sp;
                double mu = 0, absMean = 0;
                for (int i = 0; i < m; i++) { mu += x[base + i]; absMean += Math.abs(x[base + i]); }
                mu /= m;
                absMean /= m;
                double var = 0, cross = 0;
                for (int i = 0; i < m; i++) {
                    double d = x[base + i] - mu;
                    var += d * d;
                    cross += Math.abs(d) * Math.abs(x[base + i]);
                }
                var /= m;
                cross /= m;
                double rstd = 1 / Math.sqrt(var + 1e-6);
                for (int i = 0; i < m; i++) {
                    int idx = base + i, ch = g * cpg + i / sp;
                    double nv = (x[idx] - mu) * rstd;
                    double dn = U * rstd * (Math.abs(x[idx]) + absMean) + Math.abs(nv) * U * cross / (var + 1e-6);
                    double bound = 1.05 * 1.1 * Math.abs(gamma[ch]) * dn + U * Math.abs(a[idx]) + 1e-5;
                    double err = Math.abs(a[idx] - b[idx]);
                    worst = Math.max(worst, err / bound);
                    if (err > bound) fail("groupNormSilu element " + idx + ": |" + b[idx] + " - " + a[idx] + "| > " + bound);
                }
            }
        }
        System.out.printf("bf16 groupNormSilu: worst error %.2f of its bound%n", worst);
    }

    /** The softmax reads float32 scores and stores bf16 probabilities: only the store rounds, by at most u p. */
    @Test void softmaxOfFloat32ScoresStoredInBf16() {
        Shape s = Shape.of(6, 50);
        float[] x = random(s.size(), 4);
        Tensor p32 = BE.zeros(s), p16 = BE.zeros(s, DType.BF16);
        BE.softmax(p32, BE.fromArray(x, s));
        BE.softmax(p16, BE.fromArray(x, s));
        float[] a = BE.toHost(p32), b = BE.toHost(p16);
        for (int i = 0; i < a.length; i++) {
            assertTrue(Math.abs(a[i] - b[i]) <= U * Math.abs(a[i]), "softmax element " + i + ": " + b[i] + " vs " + a[i]);
        }
    }

    // ------------------------------------------------------------------ helpers

    /** |y16 - y32| <= (2u + u^2) abs + (output rounded ? u |y32| : 0) + 1e-5 max(abs). */
    private static void withinProductBound(String op, float[] y32, float[] y16, float[] abs, boolean outputRounded) {
        double scale = 0, worst = 0;
        for (float v : abs) scale = Math.max(scale, v);
        for (int i = 0; i < y32.length; i++) {
            double bound = (2 * U + U * U) * abs[i] + (outputRounded ? U * Math.abs(y32[i]) : 0) + 1e-5 * scale;
            double err = Math.abs(y16[i] - y32[i]);
            worst = Math.max(worst, err / bound);
            if (err > bound) fail(op + " element " + i + ": |" + y16[i] + " - " + y32[i] + "| = " + err + " > " + bound);
        }
        System.out.printf("bf16 %s: worst error %.2f of its bound%n", op, worst);
    }

    /** A bf16 tensor holding {@code v} rounded. */
    private static Tensor in(float[] v, Shape s) {
        Tensor t = BE.zeros(s, DType.BF16);
        BE.copyFromHost(t, v, 0);
        return t;
    }

    private float[] random(int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((rng.nextDouble() * 2 - 1) * scale);
        return a;
    }

    private static float[] bf16(float[] a) {
        float[] r = a.clone();
        Rounding.bf16InPlace(r, 0, r.length);
        return r;
    }

    private static float[] abs(float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) r[i] = Math.abs(a[i]);
        return r;
    }

    private static void assertArrayEqualsBits(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                fail(what + ": element " + i + " is " + got[i] + ", expected " + want[i]);
            }
        }
    }
}
