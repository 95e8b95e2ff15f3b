package io.github.diffusion4j.backend.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Elementwise activations on the Vector API, with an exp of about 1 ulp (Cephes expf: Cody-Waite reduction by
 * ln 2 and a degree-5 polynomial) in place of {@link Math#exp}. Every element goes through the same vector code,
 * the tail of a range included (through a small buffer), so a result does not depend on where a range is split.
 *
 * <p>This class is only loaded when the {@code jdk.incubator.vector} module is present (see
 * {@link CpuGemm#vectorized()}).
 */
final class VectorOps {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
    private static final int L = S.length();
    private static final float LOG2E = 1.44269504088896341f, C1 = 0.693359375f, C2 = -2.12194440e-4f;
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
            P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;
    /** 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits. */
    private static final float MAGIC = 12582912f;
    private static final int MAGIC_BITS = Float.floatToRawIntBits(MAGIC);

    private VectorOps() {}

    /** e^x for x clamped below at -87.3 (about 1e-38); +inf from about 88.38 on, where e^x nears overflow; NaN stays NaN. */
    static FloatVector exp(FloatVector x) {
        x = x.max(-87.33654f).min(88.8f); // from about 88.38 on, 2^n is +inf
        FloatVector t = x.fma(LOG2E, MAGIC);
        FloatVector n = t.sub(MAGIC);
        FloatVector r = n.fma(FloatVector.broadcast(S, -C1), x);
        r = n.fma(FloatVector.broadcast(S, -C2), r);
        FloatVector z = r.mul(r);
        FloatVector y = r.fma(P0, P1);
        y = y.fma(r, FloatVector.broadcast(S, P2));
        y = y.fma(r, FloatVector.broadcast(S, P3));
        y = y.fma(r, FloatVector.broadcast(S, P4));
        y = y.fma(r, FloatVector.broadcast(S, P5));
        y = y.fma(z, r).add(1f);
        // 2^n from the integer in t's low bits: ((t_bits - magic_bits) + 127) << 23
        IntVector e = t.reinterpretAsInts().sub(MAGIC_BITS - 127).lanewise(VectorOperators.LSHL, 23);
        return y.mul(e.reinterpretAsFloats());
    }

    /** y = x * sigmoid(x) over [lo, hi). */
    static void silu(float[] x, int xo, float[] y, int yo, int lo, int hi) {
        int i = lo;
        for (; i + L <= hi; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, xo + i);
            v.div(exp(v.neg()).add(1f)).intoArray(y, yo + i);
        }
        if (i < hi) {
            float[] buf = new float[L];
            System.arraycopy(x, xo + i, buf, 0, hi - i);
            FloatVector v = FloatVector.fromArray(S, buf, 0);
            v.div(exp(v.neg()).add(1f)).intoArray(buf, 0);
            System.arraycopy(buf, 0, y, yo + i, hi - i);
        }
    }

    /** dx = dy * s * (1 + x * (1 - s)), s = sigmoid(x), over [lo, hi). */
    static void siluBackward(float[] x, int xo, float[] dy, int go, float[] dx, int dxo, int lo, int hi) {
        int i = lo;
        for (; i + L <= hi; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, xo + i), g = FloatVector.fromArray(S, dy, go + i);
            siluGrad(v, g).intoArray(dx, dxo + i);
        }
        if (i < hi) {
            float[] bx = new float[L], bg = new float[L];
            System.arraycopy(x, xo + i, bx, 0, hi - i);
            System.arraycopy(dy, go + i, bg, 0, hi - i);
            siluGrad(FloatVector.fromArray(S, bx, 0), FloatVector.fromArray(S, bg, 0)).intoArray(bx, 0);
            System.arraycopy(bx, 0, dx, dxo + i, hi - i);
        }
    }

    private static FloatVector siluGrad(FloatVector v, FloatVector g) {
        FloatVector s = FloatVector.broadcast(S, 1f).div(exp(v.neg()).add(1f));
        FloatVector one = FloatVector.broadcast(S, 1f);
        return g.mul(s).mul(v.mul(one.sub(s)).add(1f));
    }

    /**
     * AdamW over [lo, hi) with the operations, in the order, of the scalar loop in {@link CpuBackend#adamw} (no
     * fused multiply-adds; sqrt and division are correctly rounded in both), so the results are the same bits;
     * dm (the decay mask) may be null. The tail runs the scalar loop.
     */
    static void adamw(float[] p, int po, float[] g, int go, float[] ma, int mo, float[] va, int vo, float[] dm, int dmo,
                      float gradScale, float beta1, float beta2, float ob1, float ob2, float decay, float stepSize,
                      float sqrtBc2, float eps, int lo, int hi) {
        int i = lo;
        for (; i + L <= hi; i += L) {
            FloatVector gi = FloatVector.fromArray(S, g, go + i).mul(gradScale);
            FloatVector mi = FloatVector.fromArray(S, ma, mo + i).mul(beta1).add(gi.mul(ob1));
            FloatVector vi = FloatVector.fromArray(S, va, vo + i).mul(beta2).add(gi.mul(ob2).mul(gi));
            mi.intoArray(ma, mo + i);
            vi.intoArray(va, vo + i);
            FloatVector pi = FloatVector.fromArray(S, p, po + i);
            FloatVector d = dm != null ? FloatVector.fromArray(S, dm, dmo + i).mul(decay) : FloatVector.broadcast(S, decay);
            pi = pi.sub(d.mul(pi));
            pi.sub(mi.mul(stepSize).div(vi.lanewise(VectorOperators.SQRT).div(sqrtBc2).add(eps))).intoArray(p, po + i);
        }
        CpuBackend.adamwScalar(p, po, g, go, ma, mo, va, vo, dm, dmo, gradScale, beta1, beta2, ob1, ob2, decay,
                stepSize, sqrtBc2, eps, i, hi);
    }

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_256;

    /**
     * Sum of a[off, off+len) in double: eight double partial sums (elements i mod 8, converted exactly from float),
     * added in a fixed order at the end; the tail in a scalar loop into the first.
     */
    static double sum(float[] a, int off, int len) {
        DoubleVector s0 = DoubleVector.zero(D), s1 = s0;
        int i = 0;
        for (; i + L <= len; i += L) {
            FloatVector v = FloatVector.fromArray(S, a, off + i);
            s0 = s0.add(v.convertShape(VectorOperators.F2D, D, 0));
            s1 = s1.add(v.convertShape(VectorOperators.F2D, D, 1));
        }
        double[] t = new double[8];
        s0.intoArray(t, 0);
        s1.intoArray(t, 4);
        for (; i < len; i++) t[0] += a[off + i];
        return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
    }

    /** Sum of (a[i] - mu)^2 over [off, off+len) in double, as {@link #sum}. */
    static double sumSquaredDeviations(float[] a, int off, int len, double mu) {
        DoubleVector s0 = DoubleVector.zero(D), s1 = s0, m = DoubleVector.broadcast(D, mu);
        int i = 0;
        for (; i + L <= len; i += L) {
            FloatVector v = FloatVector.fromArray(S, a, off + i);
            DoubleVector d0 = ((DoubleVector) v.convertShape(VectorOperators.F2D, D, 0)).sub(m);
            DoubleVector d1 = ((DoubleVector) v.convertShape(VectorOperators.F2D, D, 1)).sub(m);
            s0 = d0.fma(d0, s0);
            s1 = d1.fma(d1, s1);
        }
        double[] t = new double[8];
        s0.intoArray(t, 0);
        s1.intoArray(t, 4);
        for (; i < len; i++) {
            double d = a[off + i] - mu;
            t[0] += d * d;
        }
        return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
    }

    /** y[i] = e^(x[i] - shift) for n elements (the tail through a small buffer, so every element sees the same code). */
    static void expShifted(float[] x, int xo, float[] y, int yo, int n, float shift) {
        int i = 0;
        for (; i + L <= n; i += L) exp(FloatVector.fromArray(S, x, xo + i).sub(shift)).intoArray(y, yo + i);
        if (i < n) {
            float[] buf = new float[L];
            System.arraycopy(x, xo + i, buf, 0, n - i);
            exp(FloatVector.fromArray(S, buf, 0).sub(shift)).intoArray(buf, 0);
            System.arraycopy(buf, 0, y, yo + i, n - i);
        }
    }
}
