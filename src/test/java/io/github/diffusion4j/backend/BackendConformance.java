package io.github.diffusion4j.backend;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.tensor.UpdateGate;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.function.Executable;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every {@link Backend} op run on a reference backend (the CPU) and on a backend under test, on the same random
 * inputs (Philox, so both see identical bits), with the outputs compared element by element. Assign-outputs start
 * as NaN (an op that leaves an element unwritten fails), accumulate-outputs start as random values.
 *
 * <p>Each comparison prints one line (max |error|, error scaled by the largest reference magnitude, mismatching
 * elements) and is bounded by the {@link Tolerance} class of the op: bitwise for plain float arithmetic written in
 * the CPU's order, small bounds for transcendental functions, re-ordered double sums, GEMMs and convolutions.
 *
 * <p>Used by the CPU self-check (two CPU backends, everything bitwise: validates this harness without a GPU) and by
 * the gpu-tagged CUDA test.
 */
public final class BackendConformance {

    /**
     * Bounds on the scaled error max|test - ref| / max|ref| per class of op (0 = bitwise equal).
     *
     * @param transcendental silu, softmax (the GPU uses expf: a few ulp)
     * @param reduction      double sums in another order, rounded to float (sum per sample, bias grads, mse)
     * @param norm           group norm forward and backward (double statistics, float outputs)
     * @param gemm           cuBLAS vs the CPU GEMM
     * @param conv           cuDNN vs the CPU im2col GEMM
     * @param philox         ops whose values come from Philox normals (Box-Muller in double, rounded: rare 1-ulp
     *                       differences are allowed by the CUDA port's documentation)
     */
    public record Tolerance(String name, double transcendental, double reduction, double norm, double gemm,
                            double conv, double philox) {
        /** Everything bitwise equal (two CPU backends). */
        public static Tolerance bitwise() { return new Tolerance("bitwise", 0, 0, 0, 0, 0, 0); }

        /** A GPU in full FP32 (no TF32) against the CPU. */
        public static Tolerance gpuFp32() { return new Tolerance("gpu-fp32", 2e-6, 2e-6, 2e-5, 2e-5, 1e-4, 1e-6); }

        /** A GPU with TF32 convolutions and GEMMs (10-bit mantissa inputs) against the CPU. */
        public static Tolerance gpuTf32() { return new Tolerance("gpu-tf32", 2e-6, 2e-6, 2e-5, 5e-3, 5e-3, 1e-6); }
    }

    private final Backend ref, test;
    private final Tolerance tol;
    private final List<String> report = new ArrayList<>();

    public BackendConformance(Backend ref, Backend test, Tolerance tol) {
        this.ref = ref;
        this.test = test;
        this.tol = tol;
    }

    /** The lines printed so far ("op  max|err| ..."). */
    public List<String> report() { return report; }

    // ------------------------------------------------------------------ paired tensors

    /** The same values on both backends. */
    public final class D {
        public final Tensor r, t;

        D(Tensor r, Tensor t) {
            this.r = r;
            this.t = t;
        }

        public Shape shape() { return r.shape(); }

        D view(long offset, Shape s) { return new D(r.view(offset, s), t.view(offset, s)); }
    }

    D host(float[] h, int... dims) {
        return new D(ref.fromArray(h, Shape.of(dims)), test.fromArray(h, Shape.of(dims)));
    }

    static float[] normals(long seed, int n, float scale) {
        float[] h = new float[n];
        Philox.fillNormal(h, 0, seed, 0, 0, n);
        for (int i = 0; i < n; i++) h[i] *= scale;
        return h;
    }

    D randn(long seed, int... dims) { return host(normals(seed, (int) Shape.of(dims).numel(), 1f), dims); }

    D uniform(long seed, float lo, float hi, int... dims) {
        int n = (int) Shape.of(dims).numel();
        float[] h = new float[n];
        Philox.fillUniform(h, 0, seed, 0, 0, n);
        for (int i = 0; i < n; i++) h[i] = lo + (hi - lo) * h[i];
        return host(h, dims);
    }

    /** An output to be assigned: NaN everywhere on both backends. */
    D out(int... dims) {
        float[] h = new float[(int) Shape.of(dims).numel()];
        java.util.Arrays.fill(h, Float.NaN);
        return host(h, dims);
    }

    // ------------------------------------------------------------------ comparison

    /** Compares test against ref; bound 0 means bitwise. Returns the scaled error. */
    public double compare(String what, Tensor r, Tensor t, double bound) {
        float[] a = r.toArray(), b = t.toArray();
        assertEquals(a.length, b.length, what + ": sizes");
        double maxAbs = 0, maxRef = 0, maxRel = 0;
        int mismatches = 0;
        for (int i = 0; i < a.length; i++) {
            boolean same = Float.floatToIntBits(a[i]) == Float.floatToIntBits(b[i]);
            if (!same) mismatches++;
            if (Float.isNaN(a[i]) != Float.isNaN(b[i])) {
                fail(what + ": element " + i + " is " + b[i] + ", reference " + a[i]);
            }
            if (Float.isNaN(a[i])) continue;
            double d = Math.abs((double) a[i] - b[i]);
            if (Double.isNaN(d)) d = a[i] == b[i] ? 0 : Double.POSITIVE_INFINITY;   // infinities
            maxAbs = Math.max(maxAbs, d);
            if (Float.isFinite(a[i])) maxRef = Math.max(maxRef, Math.abs(a[i]));
            if (a[i] != 0) maxRel = Math.max(maxRel, d / Math.abs(a[i]));
        }
        double scaled = maxAbs == 0 ? 0 : maxAbs / Math.max(maxRef, 1e-30);
        String line = String.format(Locale.ROOT, "%-44s max|err| %.2e  scaled %.2e  max rel %.2e  differing %d/%d  (bound %s)",
                what, maxAbs, scaled, maxRel, mismatches, a.length, bound == 0 ? "bitwise" : String.format(Locale.ROOT, "%.0e", bound));
        System.out.println("[" + tol.name() + "] " + line);
        report.add(line);
        if (bound == 0) {
            assertEquals(0, mismatches, what + ": " + mismatches + " of " + a.length + " elements differ bitwise (max |err| " + maxAbs + ")");
        } else {
            assertTrue(scaled <= bound, what + ": scaled error " + scaled + " above " + bound);
        }
        return scaled;
    }

    void compare(String what, D d, double bound) { compare(what, d.r, d.t, bound); }

    void compareScalar(String what, double r, double t, double relBound) {
        double err = Math.abs(r - t) / Math.max(Math.abs(r), 1e-300);
        String line = String.format(Locale.ROOT, "%-44s ref %.9g test %.9g rel err %.2e (bound %.0e)", what, r, t, err, relBound);
        System.out.println("[" + tol.name() + "] " + line);
        report.add(line);
        assertTrue(err <= relBound || r == t, what + ": " + t + " vs " + r);
    }

    // ------------------------------------------------------------------ the ops

    /** One dynamic test per op group. */
    public List<DynamicTest> tests() {
        List<DynamicTest> l = new ArrayList<>();
        add(l, "elementwise", this::elementwise);
        add(l, "reductions", this::reductions);
        add(l, "broadcasts", this::broadcasts);
        add(l, "matmul", this::matmul);
        add(l, "batchedMatmul", this::batchedMatmul);
        add(l, "conv2d", this::conv2d);
        add(l, "convTranspose2d", this::convTranspose2d);
        add(l, "groupNorm", this::groupNorm);
        add(l, "groupNormSilu", this::groupNormSilu);
        add(l, "activations", this::activations);
        add(l, "softmax", this::softmax);
        add(l, "dropout", this::dropout);
        add(l, "reshaping", this::reshaping);
        add(l, "oneHot", this::oneHot);
        add(l, "adamw", this::adamw);
        add(l, "updateGate", this::updateGate);
        add(l, "random", this::random);
        add(l, "timestepEmbedding", this::timestepEmbedding);
        add(l, "qSample", this::qSample);
        add(l, "drawTimesteps", this::drawTimesteps);
        add(l, "diffusionStep", this::diffusionStep);
        add(l, "repaintBlend", this::repaintBlend);
        add(l, "mseLoss", this::mseLoss);
        return l;
    }

    private static void add(List<DynamicTest> l, String name, Executable e) {
        l.add(DynamicTest.dynamicTest(name, e));
    }

    void elementwise() {
        int n = 10_007;
        D a = randn(1, n), b = randn(2, n);
        D o = out(n);
        ref.fill(o.r, 0.3f);
        test.fill(o.t, 0.3f);
        compare("fill", o, 0);
        D c = out(n);
        ref.copy(c.r, a.r);
        test.copy(c.t, a.t);
        compare("copy", c, 0);
        D cv = out(7, 3);   // a view copy at an odd offset
        ref.copy(cv.r, a.r.view(13, Shape.of(21)));
        test.copy(cv.t, a.t.view(13, Shape.of(21)));
        compare("copy (view at offset 13)", cv, 0);
        o = out(n);
        ref.axpby(o.r, 0.7f, a.r, -1.3f, b.r);
        test.axpby(o.t, 0.7f, a.t, -1.3f, b.t);
        compare("axpby", o, 0);
        D acc = randn(3, n);
        ref.addInPlace(acc.r, a.r);
        test.addInPlace(acc.t, a.t);
        compare("addInPlace (out aliases a)", acc, 0);
        o = out(n);
        ref.scale(o.r, a.r, 1.7f);
        test.scale(o.t, a.t, 1.7f);
        compare("scale", o, 0);
        o = out(n);
        ref.mul(o.r, a.r, b.r);
        test.mul(o.t, a.t, b.t);
        compare("mul", o, 0);
        float[] special = normals(4, n, 2f);
        special[0] = Float.NaN;
        special[1] = -0f;
        special[2] = Float.POSITIVE_INFINITY;
        special[3] = Float.NEGATIVE_INFINITY;
        D s = host(special, n);
        o = out(n);
        ref.clamp(o.r, s.r, -1f, 1f);
        test.clamp(o.t, s.t, -1f, 1f);
        compare("clamp (with NaN, -0, +-inf)", o, 0);
    }

    void reductions() {
        int n = 100_003;
        D a = randn(5, n);
        compareScalar("sum", ref.sum(a.r), test.sum(a.t), 1e-12 * n);
        compareScalar("sumSquares", ref.sumSquares(a.r), test.sumSquares(a.t), 1e-12);
        compareScalar("mean", ref.mean(a.r), test.mean(a.t), 1e-12 * n);
        assertEquals(ref.allFinite(a.r), test.allFinite(a.t));
        assertTrue(test.allFinite(a.t), "allFinite on finite data");
        float[] h = normals(6, 1000, 1f);
        h[777] = Float.POSITIVE_INFINITY;
        assertTrue(!test.allFinite(host(h, 1000).t), "allFinite sees +inf");
        h[777] = Float.NaN;
        assertTrue(!test.allFinite(host(h, 1000).t), "allFinite sees NaN");
        D x = randn(7, 6, 3, 17, 19);
        D ps = out(6);
        ref.sumPerSample(ps.r, x.r);
        test.sumPerSample(ps.t, x.t);
        compare("sumPerSample", ps, tol.reduction());
    }

    void broadcasts() {
        D x = randn(8, 4, 5, 6, 7), bias = randn(9, 5);
        D o = out(4, 5, 6, 7);
        ref.addBias(o.r, x.r, bias.r);
        test.addBias(o.t, x.t, bias.t);
        compare("addBias [N,C,H,W]", o, 0);
        D x2 = randn(10, 9, 5);
        D o2 = out(9, 5);
        ref.addBias(o2.r, x2.r, bias.r);
        test.addBias(o2.t, x2.t, bias.t);
        compare("addBias [N,C]", o2, 0);
        D g = randn(11, 5);   // accumulates onto existing values
        biasGrad("biasGrad (accumulates)", g, x);
        D v = randn(12, 4, 5);
        o = out(4, 5, 6, 7);
        ref.addPerSampleChannel(o.r, x.r, v.r);
        test.addPerSampleChannel(o.t, x.t, v.t);
        compare("addPerSampleChannel", o, 0);
        // rows whose length divides by 4: the CUDA kernels take their float4 path (42 above takes the scalar one)
        D x4 = randn(15, 3, 5, 4, 6), o4 = out(3, 5, 4, 6);
        ref.addBias(o4.r, x4.r, bias.r);
        test.addBias(o4.t, x4.t, bias.t);
        compare("addBias [N,C,H,W], H*W = 24", o4, 0);
        D v4 = randn(16, 3, 5);
        o4 = out(3, 5, 4, 6);
        ref.addPerSampleChannel(o4.r, x4.r, v4.r);
        test.addPerSampleChannel(o4.t, x4.t, v4.t);
        compare("addPerSampleChannel, H*W = 24", o4, 0);
        // the fused forms (one pass on CUDA) against addBias then add / addPerSampleChannel: the same rounding
        for (D xs : new D[] {x, x4}) {
            int[] dims = xs.r.shape().dims();
            String sp = " [" + dims[0] + "," + dims[1] + "," + dims[2] + "," + dims[3] + "]";
            D other = randn(18, dims), ob = out(dims);
            ref.addBiasAdd(ob.r, xs.r, bias.r, other.r, null);
            test.addBiasAdd(ob.t, xs.t, bias.t, other.t, null);
            compare("addBiasAdd" + sp, ob, 0);
            D obias = randn(30, dims[1]), ob2 = out(dims), otherCopy = host(other.r.toArray(), dims);
            ref.addBiasAdd(ob2.r, xs.r, bias.r, other.r, obias.r);
            test.addBiasAdd(ob2.t, xs.t, bias.t, other.t, obias.t);
            compare("addBiasAddBiased" + sp, ob2, 0);
            compare("addBiasAddBiased leaves other unchanged" + sp, otherCopy.r, other.t, 0);
            D vv = randn(19, dims[0], dims[1]), ov = out(dims);
            ref.addBiasPerSampleChannel(ov.r, xs.r, bias.r, vv.r);
            test.addBiasPerSampleChannel(ov.t, xs.t, bias.t, vv.t);
            compare("addBiasPerSampleChannel" + sp, ov, 0);
        }
        biasGrad("biasGrad, H*W = 24", randn(17, 5), x4);
        // more than 32 samples and channels: the CUDA second pass splits the channels over blocks of 32 and the
        // samples over 32 slices, with a partial last block
        biasGrad("biasGrad, N = 37, C = 70", randn(21, 70), randn(20, 37, 70, 2, 3));
        // the per-plane pass's other paths on CUDA: a thread per plane ([N, C]: one element each) and a warp per plane
        // whose lanes go round more than once (48 float4 groups)
        biasGrad("biasGrad [N,C]", randn(22, 5), x2);
        biasGrad("biasGrad, H*W = 192", randn(24, 5), randn(23, 3, 5, 12, 16));
        D dv = out(4, 5);
        ref.perSampleChannelSum(dv.r, x.r);
        test.perSampleChannelSum(dv.t, x.t);
        compare("perSampleChannelSum (assigns)", dv, tol.reduction());
        D sc = randn(13, 4, 5), sh = randn(14, 4, 5);
        o = out(4, 5, 6, 7);
        ref.scaleShift(o.r, x.r, sc.r, sh.r);
        test.scaleShift(o.t, x.t, sc.t, sh.t);
        compare("scaleShift", o, 0);
        D dy = randn(15, 4, 5, 6, 7);
        D dIn = out(4, 5, 6, 7), dSc = out(4, 5), dSh = out(4, 5);
        ref.scaleShiftBackward(dIn.r, dSc.r, dSh.r, dy.r, x.r, sc.r);
        test.scaleShiftBackward(dIn.t, dSc.t, dSh.t, dy.t, x.t, sc.t);
        compare("scaleShiftBackward dIn", dIn, 0);
        compare("scaleShiftBackward dScale", dSc, tol.reduction());
        compare("scaleShiftBackward dShift", dSh, tol.reduction());
    }

    void matmul() {
        int m = 37, k = 53, n = 29;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                D a = ta ? randn(16, k, m) : randn(16, m, k);
                D b = tb ? randn(17, n, k) : randn(17, k, n);
                D c = out(m, n);
                ref.matmul(c.r, a.r, b.r, ta, tb, 1f, 0f);
                test.matmul(c.t, a.t, b.t, ta, tb, 1f, 0f);
                compare("matmul transA=" + ta + " transB=" + tb, c, tol.gemm());
                D c2 = randn(18, m, n);   // alpha, beta
                ref.matmul(c2.r, a.r, b.r, ta, tb, 0.5f, 0.75f);
                test.matmul(c2.t, a.t, b.t, ta, tb, 0.5f, 0.75f);
                compare("matmul transA=" + ta + " transB=" + tb + " a=.5 b=.75", c2, tol.gemm());
            }
        }
        // a rank-3 operand viewed as 2-D by its last axis (Linear on [N, P, C])
        D x = randn(19, 2, 10, 24), w = randn(20, 16, 24);
        D y = out(2, 10, 16);
        ref.matmul(y.r, x.r, w.r, false, true, 1f, 0f);
        test.matmul(y.t, x.t, w.t, false, true, 1f, 0f);
        compare("matmul [2,10,24] @ [16,24]^T", y, tol.gemm());
        // an empty inner dimension: C = beta C (beta = 0 must not read C, which holds NaN in out())
        D e1 = randn(24, 6, 0), e2 = randn(25, 0, 5), ce = randn(26, 6, 5), cz = out(6, 5);
        ref.matmul(ce.r, e1.r, e2.r, false, false, 1f, 0.5f);
        test.matmul(ce.t, e1.t, e2.t, false, false, 1f, 0.5f);
        compare("matmul with k = 0, beta .5", ce, 0);
        ref.matmul(cz.r, e1.r, e2.r, false, false, 1f, 0f);
        test.matmul(cz.t, e1.t, e2.t, false, false, 1f, 0f);
        compare("matmul with k = 0, beta 0", cz, 0);
    }

    void batchedMatmul() {
        int batch = 3, m = 17, k = 31, n = 23;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                D a = ta ? randn(21, batch, k, m) : randn(21, batch, m, k);
                D b = tb ? randn(22, batch, n, k) : randn(22, batch, k, n);
                D c = randn(23, batch, m, n);
                ref.batchedMatmul(c.r, a.r, b.r, ta, tb, 0.125f, 1f);
                test.batchedMatmul(c.t, a.t, b.t, ta, tb, 0.125f, 1f);
                compare("batchedMatmul transA=" + ta + " transB=" + tb + " beta=1", c, tol.gemm());
            }
        }
        // strided: A and B are blocks inside larger per-sample rows (as attention reads q, k, v in a [N, 3C, P] tensor),
        // C has gaps between its matrices that must keep their values; against the reference and, on the tested
        // backend, against batchedMatmul on copies of the same matrices
        long sa = 3L * m * k + 5, sb = 2L * k * n + 1, scs = (long) m * n + 7;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                D a = randn(27, (int) (batch * sa)), b = randn(28, (int) (batch * sb)), c = randn(29, (int) (batch * scs));
                long aOff = m * k + 3, bOff = 1;
                ref.stridedBatchedMatmul(c.r, scs, a.r.view(aOff, Shape.of((int) (batch * sa - aOff))), sa,
                        b.r.view(bOff, Shape.of((int) (batch * sb - bOff))), sb, batch, m, n, k, ta, tb, 0.5f, 0.25f);
                test.stridedBatchedMatmul(c.t, scs, a.t.view(aOff, Shape.of((int) (batch * sa - aOff))), sa,
                        b.t.view(bOff, Shape.of((int) (batch * sb - bOff))), sb, batch, m, n, k, ta, tb, 0.5f, 0.25f);
                compare("stridedBatchedMatmul transA=" + ta + " transB=" + tb, c, tol.gemm());
                // the same matrices copied out, through batchedMatmul on the tested backend
                Tensor ac = test.empty(Shape.of(batch, ta ? k : m, ta ? m : k)), bc = test.empty(Shape.of(batch, tb ? n : k, tb ? k : n));
                Tensor cc = test.empty(Shape.of(batch, m, n)), c0 = randn(29, (int) (batch * scs)).t;
                for (int i = 0; i < batch; i++) {
                    test.copy(ac.view((long) i * m * k, Shape.of(m * k)), a.t.view(aOff + i * sa, Shape.of(m * k)));
                    test.copy(bc.view((long) i * k * n, Shape.of(k * n)), b.t.view(bOff + i * sb, Shape.of(k * n)));
                    test.copy(cc.view((long) i * m * n, Shape.of(m * n)), c0.view(i * scs, Shape.of(m * n)));
                }
                test.batchedMatmul(cc, ac, bc, ta, tb, 0.5f, 0.25f);
                Tensor strided = test.empty(Shape.of(batch, m, n));
                for (int i = 0; i < batch; i++) test.copy(strided.view((long) i * m * n, Shape.of(m * n)), c.t.view(i * scs, Shape.of(m * n)));
                // (cuBLAS may pick another kernel for the odd offsets here, so within the GEMM tolerance, not bitwise)
                compare("stridedBatchedMatmul vs batchedMatmul on copies, transA=" + ta + " transB=" + tb, cc, strided,
                        tol.gemm());
                // the gaps between the C matrices are untouched
                float[] before = randn(29, (int) (batch * scs)).t.toArray(), after = c.t.toArray();
                for (int i = 0; i < batch; i++) {
                    for (long g = i * scs + (long) m * n; g < (i + 1) * scs; g++) {
                        assertEquals(before[(int) g], after[(int) g], "stridedBatchedMatmul wrote into a gap at " + g);
                    }
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> test.stridedBatchedMatmul(test.empty(Shape.of(10)), 4,
                test.empty(Shape.of(10)), 4, test.empty(Shape.of(10)), 4, 3, 2, 2, 2, false, false, 1f, 0f), "too small");
    }

    /** conv forward, backward data and backward filter (accumulating, with a bias gradient) for several shapes. */
    void conv2d() {
        int[][] cases = {   // n, cin, h, w, cout, k, stride, pad
            {2, 3, 16, 16, 8, 3, 1, 1},
            {2, 8, 16, 16, 16, 3, 2, 1},
            {3, 16, 8, 8, 8, 1, 1, 0},
            {1, 4, 9, 7, 5, 3, 1, 0},
        };
        for (int[] cs : cases) {
            int n = cs[0], cin = cs[1], h = cs[2], w = cs[3], cout = cs[4], k = cs[5], stride = cs[6], pad = cs[7];
            int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
            String tag = String.format(Locale.ROOT, "[%d,%d,%d,%d] k%d s%d p%d", n, cin, h, w, k, stride, pad);
            D x = randn(24, n, cin, h, w), wt = randn(25, cout, cin, k, k), bias = randn(26, cout);
            D y = out(n, cout, ho, wo);
            ref.conv2d(y.r, x.r, wt.r, bias.r, stride, pad);
            test.conv2d(y.t, x.t, wt.t, bias.t, stride, pad);
            compare("conv2d " + tag, y, tol.conv());
            D dy = randn(27, n, cout, ho, wo);
            D dx = out(n, cin, h, w);
            ref.conv2dBackwardData(dx.r, dy.r, wt.r, stride, pad);
            test.conv2dBackwardData(dx.t, dy.t, wt.t, stride, pad);
            compare("conv2dBackwardData " + tag, dx, tol.conv());
            D dw = randn(28, cout, cin, k, k), db = randn(29, cout);
            ref.conv2dBackwardFilter(dw.r, db.r, dy.r, x.r, stride, pad);
            test.conv2dBackwardFilter(dw.t, db.t, dy.t, x.t, stride, pad);
            compare("conv2dBackwardFilter (accumulates) " + tag, dw, tol.conv());
            compare("conv2dBackwardFilter dBias " + tag, db, tol.reduction());
        }
    }

    void convTranspose2d() {
        // the U-Net's upsampling layer: k 4, stride 2, pad 1 doubles H and W
        int n = 2, cin = 8, cout = 4, h = 5, w = 6;
        D x = randn(30, n, cin, h, w), wt = randn(31, cin, cout, 4, 4), bias = randn(32, cout);
        D y = out(n, cout, 2 * h, 2 * w);
        ref.convTranspose2d(y.r, x.r, wt.r, bias.r, 2, 1);
        test.convTranspose2d(y.t, x.t, wt.t, bias.t, 2, 1);
        compare("convTranspose2d k4 s2 p1", y, tol.conv());
        D dy = randn(33, n, cout, 2 * h, 2 * w);
        D dx = out(n, cin, h, w);
        ref.convTranspose2dBackwardData(dx.r, dy.r, wt.r, 2, 1);
        test.convTranspose2dBackwardData(dx.t, dy.t, wt.t, 2, 1);
        compare("convTranspose2dBackwardData", dx, tol.conv());
        D dw = randn(34, cin, cout, 4, 4), db = randn(35, cout);
        ref.convTranspose2dBackwardFilter(dw.r, db.r, dy.r, x.r, 2, 1);
        test.convTranspose2dBackwardFilter(dw.t, db.t, dy.t, x.t, 2, 1);
        compare("convTranspose2dBackwardFilter (accumulates)", dw, tol.conv());
        compare("convTranspose2dBackwardFilter dBias", db, tol.reduction());
    }

    /** biasGrad of x accumulated onto g on both backends. */
    private void biasGrad(String what, D g, D x) {
        ref.biasGrad(g.r, x.r);
        test.biasGrad(g.t, x.t);
        compare(what, g, tol.reduction());
    }

    void groupNorm() {
        int n = 3, c = 12, h = 9, w = 10, groups = 4;
        D x = uniform(36, -2f, 3f, n, c, h, w), gamma = randn(37, c), beta = randn(38, c);
        D y = out(n, c, h, w), mean = out(n * groups), rstd = out(n * groups);
        ref.groupNorm(y.r, mean.r, rstd.r, x.r, gamma.r, beta.r, groups, 1e-5f);
        test.groupNorm(y.t, mean.t, rstd.t, x.t, gamma.t, beta.t, groups, 1e-5f);
        compare("groupNorm y", y, tol.norm());
        compare("groupNorm mean", mean, tol.norm());
        compare("groupNorm rstd", rstd, tol.norm());
        D dy = randn(39, n, c, h, w);
        D dx = out(n, c, h, w), dg = randn(40, c), dbt = randn(41, c);
        // both backends get the reference statistics, so only the backward pass is compared
        D meanR = host(mean.r.toArray(), n * groups), rstdR = host(rstd.r.toArray(), n * groups);
        ref.groupNormBackward(dx.r, dg.r, dbt.r, dy.r, x.r, meanR.r, rstdR.r, gamma.r, groups);
        test.groupNormBackward(dx.t, dg.t, dbt.t, dy.t, x.t, meanR.t, rstdR.t, gamma.t, groups);
        compare("groupNormBackward dx", dx, tol.norm());
        compare("groupNormBackward dGamma (accumulates)", dg, tol.norm());
        compare("groupNormBackward dBeta (accumulates)", dbt, tol.norm());
        // more than 32 samples and channels (the per-channel pass of dGamma and dBeta over several blocks)
        int ng = 35, cg = 40, gg = 8;
        D xg = uniform(42, -2f, 3f, ng, cg, 2, 3), gammag = randn(43, cg), betag = randn(44, cg);
        D yg = out(ng, cg, 2, 3), meang = out(ng * gg), rstdg = out(ng * gg);
        ref.groupNorm(yg.r, meang.r, rstdg.r, xg.r, gammag.r, betag.r, gg, 1e-5f);
        D dyg = randn(45, ng, cg, 2, 3), dxg = out(ng, cg, 2, 3), dgg = randn(46, cg), dbg = randn(47, cg);
        D meangR = host(meang.r.toArray(), ng * gg), rstdgR = host(rstdg.r.toArray(), ng * gg);
        ref.groupNormBackward(dxg.r, dgg.r, dbg.r, dyg.r, xg.r, meangR.r, rstdgR.r, gammag.r, gg);
        test.groupNormBackward(dxg.t, dgg.t, dbg.t, dyg.t, xg.t, meangR.t, rstdgR.t, gammag.t, gg);
        compare("groupNormBackward dGamma, N = 35, C = 40", dgg, tol.norm());
        compare("groupNormBackward dBeta, N = 35, C = 40", dbg, tol.norm());
        // [N, C] input (no spatial axes), one group per channel
        D x2 = randn(42, 5, 12), y2 = out(5, 12), m2 = out(5 * 12), r2 = out(5 * 12);
        ref.groupNorm(y2.r, m2.r, r2.r, x2.r, gamma.r, beta.r, 12, 1e-5f);
        test.groupNorm(y2.t, m2.t, r2.t, x2.t, gamma.t, beta.t, 12, 1e-5f);
        compare("groupNorm [N,C], groups = C", y2, tol.norm());
        // rows divisible by 4 (the CUDA kernel's float4 paths): groups of 4096 elements, held in registers (several
        // float4 per thread), and of 16384, too many to hold there (streamed three times)
        for (int[] shape : new int[][] {{2, 8, 32, 32, 2}, {2, 4, 64, 64, 1}}) {
            int vn = shape[0], gc = shape[1], gh = shape[2], gw = shape[3], vg = shape[4];
            D gx = uniform(43, -2f, 3f, vn, gc, gh, gw), ga = randn(44, gc), gb = randn(45, gc);
            D gy = out(vn, gc, gh, gw), gm = out(vn * vg), gr = out(vn * vg);
            ref.groupNorm(gy.r, gm.r, gr.r, gx.r, ga.r, gb.r, vg, 1e-5f);
            test.groupNorm(gy.t, gm.t, gr.t, gx.t, ga.t, gb.t, vg, 1e-5f);
            String what = "groupNorm, groups of " + (gc / vg * gh * gw) + " elements";
            compare(what + " y", gy, tol.norm());
            compare(what + " mean", gm, tol.norm());
            compare(what + " rstd", gr, tol.norm());
        }
        // a mean far from zero against a small spread (1000 +- 0.01): statistics taken from one read must not lose the
        // variance to cancellation (the CPU's two passes do not)
        float[] far = uniform(46, -0.01f, 0.01f, 2, 8, 8, 8).r.toArray();
        for (int i = 0; i < far.length; i++) far[i] += 1000f;
        D fx = host(far, 2, 8, 8, 8), fa = randn(47, 8), fb = randn(48, 8);
        D fy = out(2, 8, 8, 8), fm = out(2 * 2), fr = out(2 * 2);
        ref.groupNorm(fy.r, fm.r, fr.r, fx.r, fa.r, fb.r, 2, 1e-8f);
        test.groupNorm(fy.t, fm.t, fr.t, fx.t, fa.t, fb.t, 2, 1e-8f);
        compare("groupNorm of 1000 +- 0.01 y", fy, tol.norm());
        compare("groupNorm of 1000 +- 0.01 rstd", fr, tol.norm());
    }

    /**
     * GroupNorm followed by SiLU (and dropout, and input offsets), forward and backward: {@code groupNormSilu} of the
     * tested backend (on CUDA one fused kernel each way) against the reference's composition of addBiasPerSampleChannel,
     * groupNorm, silu, dropout and their backwards.
     */
    void groupNormSilu() {
        int n = 2, c = 16, h = 8, w = 6, groups = 4;
        D x = uniform(60, -3f, 3f, n, c, h, w), gamma = randn(61, c), beta = randn(62, c);
        D y = out(n, c, h, w), mean = out(n * groups), rstd = out(n * groups);
        ref.groupNormSilu(y.r, mean.r, rstd.r, x.r, null, null, gamma.r, beta.r, groups, 1e-6f, 0f, 0L, 0L);
        test.groupNormSilu(y.t, mean.t, rstd.t, x.t, null, null, gamma.t, beta.t, groups, 1e-6f, 0f, 0L, 0L);
        double t = Math.max(tol.norm(), tol.transcendental());
        compare("groupNormSilu y", y, t);
        compare("groupNormSilu mean", mean, tol.norm());
        compare("groupNormSilu rstd", rstd, tol.norm());
        D meanR = host(mean.r.toArray(), n * groups), rstdR = host(rstd.r.toArray(), n * groups);
        D dy = randn(63, n, c, h, w), dx = out(n, c, h, w), dg = randn(64, c), dbt = randn(65, c);
        ref.groupNormSiluBackward(dx.r, dg.r, dbt.r, dy.r, x.r, null, null, meanR.r, rstdR.r, gamma.r, beta.r, groups, 1e-6f, null);
        test.groupNormSiluBackward(dx.t, dg.t, dbt.t, dy.t, x.t, null, null, meanR.t, rstdR.t, gamma.t, beta.t, groups, 1e-6f, null);
        compare("groupNormSiluBackward dx", dx, t);
        compare("groupNormSiluBackward dGamma (accumulates)", dg, t);
        compare("groupNormSiluBackward dBeta (accumulates)", dbt, t);
        // with a residual branch's gradient added (ResBlock): against the reference, and bitwise against the tested
        // backend's own groupNormSiluBackward then addInPlace (a fusing backend must round the same way)
        D add = randn(66, n, c, h, w), dxa = out(n, c, h, w), dga = randn(64, c), dba = randn(65, c);
        ref.groupNormSiluBackward(dxa.r, dga.r, dba.r, dy.r, x.r, null, null, meanR.r, rstdR.r, gamma.r, beta.r, groups, 1e-6f, add.r);
        test.groupNormSiluBackward(dxa.t, dga.t, dba.t, dy.t, x.t, null, null, meanR.t, rstdR.t, gamma.t, beta.t, groups, 1e-6f, add.t);
        compare("groupNormSiluBackwardAdd dx", dxa, t);
        compare("groupNormSiluBackwardAdd dGamma (accumulates)", dga, t);
        D dxo = out(n, c, h, w), dgo = randn(64, c), dbo = randn(65, c);
        test.groupNormSiluBackward(dxo.t, dgo.t, dbo.t, dy.t, x.t, null, null, meanR.t, rstdR.t, gamma.t, beta.t, groups, 1e-6f, null);
        test.addInPlace(dxo.t, add.t);
        compare("groupNormSiluBackwardAdd dx vs backward + addInPlace", dxo.t, dxa.t, 0);
        compare("groupNormSiluBackwardAdd dBeta vs backward", dbo.t, dba.t, 0);
        // with dropout (ResBlock's second norm): groups of 45 elements and offsets that are not multiples of 4, so the
        // Philox blocks straddle groups and samples; bitwise the tested backend's own groupNormSilu then dropout
        int dn = 3, dc = 12, dh = 3, dw = 5, dgr = 4;
        D dx2 = uniform(67, -3f, 3f, dn, dc, dh, dw), dga2 = randn(68, dc), dbe2 = randn(69, dc);
        for (long offset : new long[] {6, (1L << 40) + 3}) {
            D yd = out(dn, dc, dh, dw), md = out(dn * dgr), rd = out(dn * dgr);
            ref.groupNormSilu(yd.r, md.r, rd.r, dx2.r, null, null, dga2.r, dbe2.r, dgr, 1e-6f, 0.3f, 77, offset);
            test.groupNormSilu(yd.t, md.t, rd.t, dx2.t, null, null, dga2.t, dbe2.t, dgr, 1e-6f, 0.3f, 77, offset);
            compare("groupNormSiluDropout y, offset " + offset, yd, t);
            compare("groupNormSiluDropout mean, offset " + offset, md, tol.norm());
            D yo = out(dn, dc, dh, dw), ho = out(dn, dc, dh, dw), mo = out(dn * dgr), ro = out(dn * dgr);
            test.groupNormSilu(ho.t, mo.t, ro.t, dx2.t, null, null, dga2.t, dbe2.t, dgr, 1e-6f, 0f, 0L, 0L);
            test.dropout(yo.t, ho.t, 0.3f, 77, offset);
            compare("groupNormSiluDropout vs groupNormSilu + dropout, offset " + offset, yo.t, yd.t, 0);
        }
        // rows of 16 (the CUDA kernel's float4 path): one Philox block per float4 at an offset divisible by 4, the
        // per-block path at one that is not
        D vx = uniform(70, -3f, 3f, 2, 8, 4, 4), vg = randn(71, 8), vb = randn(72, 8);
        for (long offset : new long[] {8, 6}) {
            D yd = out(2, 8, 4, 4), md = out(4), rd = out(4);
            ref.groupNormSilu(yd.r, md.r, rd.r, vx.r, null, null, vg.r, vb.r, 2, 1e-6f, 0.25f, 78, offset);
            test.groupNormSilu(yd.t, md.t, rd.t, vx.t, null, null, vg.t, vb.t, 2, 1e-6f, 0.25f, 78, offset);
            compare("groupNormSiluDropout y, H*W = 16, offset " + offset, yd, t);
            D yo = out(2, 8, 4, 4), ho = out(2, 8, 4, 4), mo = out(4), ro = out(4);
            test.groupNormSilu(ho.t, mo.t, ro.t, vx.t, null, null, vg.t, vb.t, 2, 1e-6f, 0f, 0L, 0L);
            test.dropout(yo.t, ho.t, 0.25f, 78, offset);
            compare("groupNormSiluDropout vs groupNormSilu + dropout, H*W = 16, offset " + offset, yo.t, yd.t, 0);
        }
        // the input (x + bias[c]) + v[n, c] read as needed (ResBlock's second norm): against the reference, and bitwise
        // against the tested backend's own addBiasPerSampleChannel then the plain op, forward (with and without
        // dropout, float4 rows of 16 and rows of 15) and backward
        for (int[] sh : new int[][] {{2, 8, 4, 4}, {3, 12, 3, 5}}) {
            int on = sh[0], oc = sh[1], oh = sh[2], ow = sh[3], og = 4;
            D ox = uniform(73, -3f, 3f, on, oc, oh, ow), ob = randn(74, oc), ov = randn(75, on, oc);
            D og1 = randn(76, oc), ob1 = randn(77, oc);
            String at = " [" + on + ", " + oc + ", " + oh + ", " + ow + "]";
            D oh2 = out(on, oc, oh, ow);
            test.addBiasPerSampleChannel(oh2.t, ox.t, ob.t, ov.t);
            for (float p : new float[] {0f, 0.2f}) {
                D yd = out(on, oc, oh, ow), md = out(on * og), rd = out(on * og);
                ref.groupNormSilu(yd.r, md.r, rd.r, ox.r, ob.r, ov.r, og1.r, ob1.r, og, 1e-6f, p, 79, 8);
                test.groupNormSilu(yd.t, md.t, rd.t, ox.t, ob.t, ov.t, og1.t, ob1.t, og, 1e-6f, p, 79, 8);
                compare("groupNormSiluDropoutOffset y, p " + p + at, yd, t);
                compare("groupNormSiluDropoutOffset mean, p " + p + at, md, tol.norm());
                D yo = out(on, oc, oh, ow), mo = out(on * og), ro = out(on * og);
                if (p > 0f) test.groupNormSilu(yo.t, mo.t, ro.t, oh2.t, null, null, og1.t, ob1.t, og, 1e-6f, p, 79, 8);
                else test.groupNormSilu(yo.t, mo.t, ro.t, oh2.t, null, null, og1.t, ob1.t, og, 1e-6f, 0f, 0L, 0L);
                compare("groupNormSiluDropoutOffset vs addBiasPerSampleChannel + the plain op, p " + p + at, yo.t, yd.t, 0);
                compare("groupNormSiluDropoutOffset rstd vs the plain op, p " + p + at, ro.t, rd.t, 0);
                if (p > 0f) continue;
                D mR = host(md.r.toArray(), on * og), rR = host(rd.r.toArray(), on * og);
                D ody = randn(80, on, oc, oh, ow), odx = out(on, oc, oh, ow), odg = randn(81, oc), odb = randn(82, oc);
                ref.groupNormSiluBackward(odx.r, odg.r, odb.r, ody.r, ox.r, ob.r, ov.r, mR.r, rR.r, og1.r, ob1.r, og, 1e-6f, null);
                test.groupNormSiluBackward(odx.t, odg.t, odb.t, ody.t, ox.t, ob.t, ov.t, mR.t, rR.t, og1.t, ob1.t, og, 1e-6f, null);
                compare("groupNormSiluBackwardOffset dx" + at, odx, t);
                compare("groupNormSiluBackwardOffset dGamma (accumulates)" + at, odg, t);
                compare("groupNormSiluBackwardOffset dBeta (accumulates)" + at, odb, t);
                D pdx = out(on, oc, oh, ow), pdg = randn(81, oc), pdb = randn(82, oc);
                test.groupNormSiluBackward(pdx.t, pdg.t, pdb.t, ody.t, oh2.t, null, null, mR.t, rR.t, og1.t, ob1.t, og, 1e-6f, null);
                compare("groupNormSiluBackwardOffset dx vs the plain op" + at, pdx.t, odx.t, 0);
                compare("groupNormSiluBackwardOffset dGamma vs the plain op" + at, pdg.t, odg.t, 0);
                compare("groupNormSiluBackwardOffset dBeta vs the plain op" + at, pdb.t, odb.t, 0);
            }
        }
    }

    void activations() {
        int n = 50_001;
        D x = uniform(43, -12f, 12f, n);
        D y = out(n);
        ref.silu(y.r, x.r);
        test.silu(y.t, x.t);
        compare("silu", y, tol.transcendental());
        D dy = randn(44, n), dx = out(n);
        ref.siluBackward(dx.r, dy.r, x.r);
        test.siluBackward(dx.t, dy.t, x.t);
        compare("siluBackward", dx, tol.transcendental());
    }

    void softmax() {
        for (int cols : new int[] {7, 64, 300}) {
            D x = uniform(45, -6f, 6f, 2, 33, cols);
            D y = out(2, 33, cols);
            ref.softmax(y.r, x.r);
            test.softmax(y.t, x.t);
            compare("softmax cols=" + cols, y, tol.transcendental());
            D yRef = host(y.r.toArray(), 2, 33, cols);   // both backends get the reference probabilities
            D dy = randn(46, 2, 33, cols), dx = out(2, 33, cols);
            ref.softmaxBackward(dx.r, dy.r, yRef.r);
            test.softmaxBackward(dx.t, dy.t, yRef.t);
            compare("softmaxBackward cols=" + cols, dx, tol.reduction());
        }
        D x = uniform(47, -6f, 6f, 8, 50);
        D inPlace = host(x.r.toArray(), 8, 50);
        ref.softmax(inPlace.r, inPlace.r);
        test.softmax(inPlace.t, inPlace.t);
        compare("softmax in place", inPlace, tol.transcendental());
    }

    void dropout() {
        int n = 9_999;
        D x = randn(48, n);
        for (long offset : new long[] {0, 3, 1L << 33}) {
            D y = out(n);
            ref.dropout(y.r, x.r, 0.3f, 77, offset);
            test.dropout(y.t, x.t, 0.3f, 77, offset);
            compare("dropout p=.3 offset " + offset, y, 0);
            D dx = out(n);
            ref.dropoutBackward(dx.r, x.r, 0.3f, 77, offset);
            test.dropoutBackward(dx.t, x.t, 0.3f, 77, offset);
            compare("dropoutBackward offset " + offset, dx, 0);
        }
    }

    void reshaping() {
        D x = randn(49, 2, 3, 5, 7), y = out(2, 3, 10, 14);
        ref.upsampleNearest2x(y.r, x.r);
        test.upsampleNearest2x(y.t, x.t);
        compare("upsampleNearest2x", y, 0);
        D dy = randn(50, 2, 3, 10, 14), dx = out(2, 3, 5, 7);
        ref.upsampleNearest2xBackward(dx.r, dy.r);
        test.upsampleNearest2xBackward(dx.t, dy.t);
        compare("upsampleNearest2xBackward", dx, 0);
        D p1 = randn(51, 2, 3, 4, 5), p2 = randn(52, 2, 1, 4, 5), p3 = randn(53, 2, 6, 4, 5);
        D cat = out(2, 10, 4, 5);
        concatChannels("concatChannels 3+1+6", cat, p1, p2, p3);
        splitChannels("splitChannels 4+6", cat, out(2, 4, 4, 5), out(2, 6, 4, 5));
        // rows of 8 (float4 path)
        D cat4 = out(3, 7, 2, 4);
        concatChannels("concatChannels 2+5, H*W = 8", cat4, randn(54, 3, 2, 2, 4), randn(55, 3, 5, 2, 4));
        splitChannels("splitChannels 3+4, H*W = 8", cat4, out(3, 3, 2, 4), out(3, 4, 2, 4));
    }

    /** concatChannels of the parts into cat on both backends. */
    private void concatChannels(String what, D cat, D... parts) {
        ref.concatChannels(cat.r, java.util.Arrays.stream(parts).map(d -> d.r).toArray(Tensor[]::new));
        test.concatChannels(cat.t, java.util.Arrays.stream(parts).map(d -> d.t).toArray(Tensor[]::new));
        compare(what, cat, 0);
    }

    /** splitChannels of cat into the parts on both backends, each part compared. */
    private void splitChannels(String what, D cat, D... parts) {
        ref.splitChannels(java.util.Arrays.stream(parts).map(d -> d.r).toArray(Tensor[]::new), cat.r);
        test.splitChannels(java.util.Arrays.stream(parts).map(d -> d.t).toArray(Tensor[]::new), cat.t);
        for (int i = 0; i < parts.length; i++) compare(what + " part " + (i + 1), parts[i], 0);
    }

    void oneHot() {
        D ids = host(new float[] {0, 4, 2, 2, 9}, 5);
        D o = out(5, 10);
        ref.oneHot(o.r, ids.r);
        test.oneHot(o.t, ids.t);
        compare("oneHot", o, 0);
        // an invalid id: the CPU throws at once; a GPU may report it at its next synchronisation
        D bad = host(new float[] {0, 10}, 2);
        D o2 = out(2, 10);
        assertThrows(IllegalArgumentException.class, () -> ref.oneHot(o2.r, bad.r));
        assertThrows(RuntimeException.class, () -> {
            test.oneHot(o2.t, bad.t);
            test.synchronize();
        }, "an invalid class id must be reported");
        test.synchronize();   // reported once, then cleared
    }

    /** A gate as UpdateGate.decide leaves it: scale, bias corrections of step t, EMA decay, skip flag. */
    D gate(float scale, int t, boolean skip, float emaDecay) {
        float[] g = new float[UpdateGate.SIZE];
        g[UpdateGate.SCALE] = scale;
        g[UpdateGate.BC1] = (float) (1 - Math.pow(0.9, t));
        g[UpdateGate.BC2] = (float) (1 - Math.pow(0.999, t));
        g[UpdateGate.SKIP] = skip ? 1f : 0f;
        g[UpdateGate.EMA_DECAY] = emaDecay;
        g[UpdateGate.STEP] = t;
        return host(g, UpdateGate.SIZE);
    }

    void adamw() {
        int n = 4099;
        float[] mask = new float[n];
        for (int i = 0; i < n; i++) mask[i] = i % 3 == 0 ? 0f : 1f;
        D dm = host(mask, n);
        for (boolean withMask : new boolean[] {true, false}) {
            D p = randn(54, n), g = randn(55, n), m = randn(56, n), v = uniform(57, 0f, 2f, n), copy = out(n);
            D shadow = randn(58, n);
            for (int step = 1; step <= 4; step++) {
                // the third update is skipped: nothing may change then
                D gate = gate(0.25f, step, step == 3, 0.9f + 0.01f * step);
                ref.adamw(p.r, copy.r, g.r, m.r, v.r, withMask ? dm.r : null, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, gate.r);
                test.adamw(p.t, copy.t, g.t, m.t, v.t, withMask ? dm.t : null, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, gate.t);
                ref.emaUpdate(shadow.r, p.r, gate.r);
                test.emaUpdate(shadow.t, p.t, gate.t);
            }
            String tag = withMask ? "with decay mask" : "no mask";
            compare("adamw params (4 updates, 1 skipped, " + tag + ")", p, 0);
            compare("adamw params copy (" + tag + ")", copy, 0);
            compare("adamw m (" + tag + ")", m, 0);
            compare("adamw v (" + tag + ")", v, 0);
            compare("emaUpdate (" + tag + ")", shadow, 0);
            // a skipped update still writes the copy (the unchanged params): the copy is the masters' after any call
            D fresh = out(n), skip = gate(0.25f, 5, true, 0.95f);
            ref.adamw(p.r, fresh.r, g.r, m.r, v.r, withMask ? dm.r : null, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, skip.r);
            test.adamw(p.t, fresh.t, g.t, m.t, v.t, withMask ? dm.t : null, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, skip.t);
            org.junit.jupiter.api.Assertions.assertArrayEquals(p.t.toArray(), fresh.t.toArray(), "skipped adamw writes the copy");
            compare("adamw params after a skip (" + tag + ")", p, 0);
        }
    }

    /**
     * updateGate over clipped, unclipped and non-finite gradients, for every EMA warm-up: the gates agree (the sum of
     * squares is summed in another order on a GPU, so to float rounding), and a skip leaves the step count.
     */
    void updateGate() {
        int n = 70001;
        for (int warmup : new int[] {UpdateGate.WARMUP_DDPM, UpdateGate.WARMUP_POWER, UpdateGate.WARMUP_NONE}) {
            D gate = host(new float[UpdateGate.SIZE], UpdateGate.SIZE);
            for (int k = 0; k < 4; k++) {
                float[] gh = normals(60 + k, n, k == 0 ? 1e-3f : 1f);
                if (k == 2) gh[n / 2] = Float.NaN;
                D g = host(gh, n);
                UpdateGate ug = new UpdateGate(k == 3 ? 0f : 5f, 2, 0.9f, 0.999f, warmup, 0.9999f, 2.0 / 3.0, 1.0);
                ref.updateGate(gate.r, g.r, ug);
                test.updateGate(gate.t, g.t, ug);
                compare("updateGate (warm-up " + warmup + ", update " + k + ")", gate, 1e-6);
            }
            float[] last = gate.t.toArray();
            assertEquals(3f, last[UpdateGate.STEP], "3 of 4 updates applied");
            assertEquals(1f, last[UpdateGate.CLIP], "clipping off in the last update");
        }
    }

    void random() {
        for (long offset : new long[] {0, 1, 2, 3, 5, (1L << 40) + 1}) {
            for (int n : new int[] {1, 3, 4, 1001, 65_537}) {
                D r = out(n);
                ref.randn(r.r, 1234567890123L, offset);
                test.randn(r.t, 1234567890123L, offset);
                compare("randn n=" + n + " offset=" + offset, r, tol.philox());
                D u = out(n);
                ref.rand(u.r, -5L, offset);
                test.rand(u.t, -5L, offset);
                compare("rand n=" + n + " offset=" + offset, u, 0);
            }
        }
        D big = out(1 << 20);
        ref.randn(big.r, 42, 7);
        test.randn(big.t, 42, 7);
        compare("randn 2^20 values", big, tol.philox());
    }

    void timestepEmbedding() {
        D ts = host(new float[] {0, 1, 17, 500, 999, 123456}, 6);
        for (int dim : new int[] {32, 33, 2}) {
            for (boolean ddpm : new boolean[] {true, false}) {
                if (dim == 2 && ddpm) continue;   // half - 1 = 0: division by zero on both, nothing to compare
                D o = out(6, dim);
                ref.timestepEmbedding(o.r, ts.r, 10000f, ddpm);
                test.timestepEmbedding(o.t, ts.t, 10000f, ddpm);
                compare("timestepEmbedding dim=" + dim + " ddpm=" + ddpm, o, tol.philox());
            }
        }
    }

    void qSample() {
        int n = 4, c = 3, hw = 36;
        int total = n * c * hw;
        float[] sa = new float[1000], sb = new float[1000];
        for (int i = 0; i < 1000; i++) {
            double abar = Math.exp(-i / 300.0);
            sa[i] = (float) Math.sqrt(abar);
            sb[i] = (float) Math.sqrt(1 - abar);
        }
        D tsa = host(sa, 1000), tsb = host(sb, 1000);
        D t = host(new float[] {0, 999, 3, 500}, n);
        D x0 = randn(58, n, c, 6, 6), noise = randn(59, n, c, 6, 6);
        for (int target : new int[] {Backend.TARGET_EPSILON, Backend.TARGET_SAMPLE, Backend.TARGET_V}) {
            D xt = out(n, c, 6, 6), tg = out(n, c, 6, 6);
            ref.qSample(xt.r, tg.r, x0.r, null, t.r, tsa.r, tsb.r, target, 99, 12345);
            test.qSample(xt.t, tg.t, x0.t, null, t.t, tsa.t, tsb.t, target, 99, 12345);
            compare("qSample drawn noise, target " + target + ": xt", xt, tol.philox());
            compare("qSample drawn noise, target " + target + ": target", tg, tol.philox());
            D xt2 = out(n, c, 6, 6), tg2 = out(n, c, 6, 6);
            ref.qSample(xt2.r, tg2.r, x0.r, noise.r, t.r, tsa.r, tsb.r, target, 0, 0);
            test.qSample(xt2.t, tg2.t, x0.t, noise.t, t.t, tsa.t, tsb.t, target, 0, 0);
            compare("qSample given noise, target " + target + ": xt", xt2, 0);
            compare("qSample given noise, target " + target + ": target", tg2, 0);
        }
        D inPlace = host(x0.r.toArray(), n, c, 6, 6);   // xt aliases x0, no target (a scheduler's addNoise)
        ref.qSample(inPlace.r, null, inPlace.r, noise.r, t.r, tsa.r, tsb.r, 0, 0, 0);
        test.qSample(inPlace.t, null, inPlace.t, noise.t, t.t, tsa.t, tsb.t, 0, 0, 0);
        compare("qSample in place, no target", inPlace, 0);
        // a timestep outside the table: the CPU throws at once, a GPU reports it at its next synchronisation
        D badT = host(new float[] {0, 1000, 3, 500}, n);
        D xt = out(n, c, 6, 6);
        assertThrows(IllegalArgumentException.class, () -> ref.qSample(xt.r, null, x0.r, noise.r, badT.r, tsa.r, tsb.r, 0, 0, 0));
        assertThrows(RuntimeException.class, () -> {
            test.qSample(xt.t, null, x0.t, noise.t, badT.t, tsa.t, tsb.t, 0, 0, 0);
            test.synchronize();
        }, "a timestep outside [0, T) must be reported");
        test.synchronize();
        assertEquals(total, x0.r.numel());
    }

    /**
     * Timesteps and loss weights drawn on the backend: bitwise the values of Philox.Stream.nextInt on the host (the
     * training loop's own copy for its logs) and the table's entries at them; also at a position that is not a
     * multiple of 4 (the draws start inside a Philox block) and without weights.
     */
    void drawTimesteps() {
        for (int bound : new int[] {1000, 7}) {
            float[] table = new float[bound];
            for (int s = 0; s < bound; s++) table[s] = 0.5f + s * 0.25f;
            D tab = host(table, bound);
            for (long position : new long[] {(1L << 39) + 3 * (1L << 40), 6}) {
                int n = 37;
                D t = out(n), w = out(n);
                test.drawTimesteps(t.t, w.t, tab.t, 11, position);
                ref.drawTimesteps(t.r, w.r, tab.r, 11, position);
                float[] want = new float[n], wantW = new float[n];
                io.github.diffusion4j.tensor.Philox.Stream rng = new io.github.diffusion4j.tensor.Philox.Stream(11, position);
                for (int i = 0; i < n; i++) {
                    int v = rng.nextInt(bound);
                    want[i] = v;
                    wantW[i] = table[v];
                }
                String at = " T " + bound + ", position " + position;
                compare("drawTimesteps t vs Philox.Stream.nextInt" + at, host(want, n).r, t.t, 0);
                compare("drawTimesteps weights vs the table" + at, host(wantW, n).r, w.t, 0);
                compare("drawTimesteps t vs the reference" + at, t, 0);
                D t2 = out(n);
                test.drawTimesteps(t2.t, null, tab.t, 11, position);
                compare("drawTimesteps without weights" + at, t.t, t2.t, 0);
            }
        }
    }

    void diffusionStep() {
        int n = 3 * 4 * 8 * 8;
        D sample = randn(60, 3, 4, 8, 8), model = randn(61, 3, 4, 8, 8), hist = randn(62, 3, 4, 8, 8);
        StepCoefficients[] ks = {
            StepCoefficients.of(1.3, -0.4, false, 1, 0.6, 0.3, 0.1, 0, 0),        // deterministic (DDIM eta=0)
            StepCoefficients.of(1.3, -0.4, true, 1, 0.6, 0.3, 0.1, 0, 0.2),       // clipped, with noise (DDPM)
            StepCoefficients.of(2.1, -1.7, false, 1, 0.5, 0.4, -0.2, 0.3, 0),     // multistep (DPM-Solver++)
        };
        for (int i = 0; i < ks.length; i++) {
            D prev = out(3, 4, 8, 8), x0 = out(3, 4, 8, 8);
            Tensor hr = ks[i].d() != 0 ? hist.r : null, ht = ks[i].d() != 0 ? hist.t : null;
            ref.diffusionStep(prev.r, x0.r, sample.r, model.r, hr, ks[i], 5, 1L << 35);
            test.diffusionStep(prev.t, x0.t, sample.t, model.t, ht, ks[i], 5, 1L << 35);
            compare("diffusionStep case " + i + ": prev", prev, ks[i].sigma() != 0 ? tol.philox() : 0);
            compare("diffusionStep case " + i + ": predX0", x0, 0);
        }
        D s2 = host(sample.r.toArray(), 3, 4, 8, 8);   // in place: prev and predX0 alias the sample
        ref.diffusionStep(s2.r, null, s2.r, model.r, null, ks[0], 0, 0);
        test.diffusionStep(s2.t, null, s2.t, model.t, null, ks[0], 0, 0);
        compare("diffusionStep in place", s2, 0);
        assertEquals(n, sample.r.numel());
    }

    void repaintBlend() {
        D sample = randn(63, 2, 3, 8, 8), orig = randn(64, 2, 3, 8, 8);
        float[] mask = new float[64];
        for (int i = 0; i < 64; i++) mask[i] = i % 8 < 4 ? 1f : i % 8 == 4 ? 0.5f : 0f;
        D m = host(mask, 8, 8);
        D o = out(2, 3, 8, 8);
        ref.repaintBlend(o.r, sample.r, orig.r, m.r, 0.8f, 0.6f, 7, 999);
        test.repaintBlend(o.t, sample.t, orig.t, m.t, 0.8f, 0.6f, 7, 999);
        compare("repaintBlend with re-noise", o, tol.philox());
        D s2 = host(sample.r.toArray(), 2, 3, 8, 8);
        ref.repaintBlend(s2.r, s2.r, orig.r, m.r, 1f, 0f, 7, 999);
        test.repaintBlend(s2.t, s2.t, orig.t, m.t, 1f, 0f, 7, 999);
        compare("repaintBlend final step, in place", s2, 0);
    }

    void mseLoss() {
        D mo = randn(65, 5, 3, 7, 7), tg = randn(66, 5, 3, 7, 7), w = uniform(67, 0f, 3f, 5);
        D mse = out(5), d = out(5, 3, 7, 7);
        ref.mseLoss(mse.r, d.r, mo.r, tg.r, w.r, 0.2f);
        test.mseLoss(mse.t, d.t, mo.t, tg.t, w.t, 0.2f);
        compare("mseLoss per-sample mse", mse, tol.reduction());
        compare("mseLoss dOut (weighted)", d, 0);
        D mse2 = out(5);
        ref.mseLoss(mse2.r, null, mo.r, tg.r, null, 1f);
        test.mseLoss(mse2.t, null, mo.t, tg.t, null, 1f);
        compare("mseLoss loss only", mse2, tol.reduction());
        D alias = host(mo.r.toArray(), 5, 3, 7, 7);   // dOut aliases modelOut
        D mse3 = out(5);
        ref.mseLoss(mse3.r, alias.r, alias.r, tg.r, null, 0.2f);
        test.mseLoss(mse3.t, alias.t, alias.t, tg.t, null, 0.2f);
        compare("mseLoss dOut aliasing modelOut", alias, 0);
    }
}
