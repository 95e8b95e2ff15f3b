package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** The other CpuBackend ops against naive reference loops in double, written here independently. */
class CpuOpsTest {
    private static final CpuBackend BE = CpuBackend.get();
    private final SplittableRandom rng = new SplittableRandom(7);

    @Test void groupNormForwardMatchesDefinition() {
        int n = 3, c = 6, h = 5, w = 3, groups = 3, cpg = c / groups, sp = h * w;
        float eps = 1e-5f;
        float[] x = random(n * c * sp, 2), gamma = random(c, 1), beta = random(c, 1);
        double[] ref = groupNormRef(toDouble(x), gamma, beta, n, c, sp, groups, eps);
        Tensor ty = BE.zeros(n, c, h, w), tm = BE.zeros(n * groups), tr = BE.zeros(n * groups);
        BE.groupNorm(ty, tm, tr, BE.fromArray(x, n, c, h, w), BE.fromArray(gamma, c), BE.fromArray(beta, c), groups, eps);
        double err = maxErr(ref, BE.toHost(ty), 1e-5, "groupNorm y");
        float[] mean = BE.toHost(tm), rstd = BE.toHost(tr);
        for (int s = 0; s < n; s++) {
            for (int g = 0; g < groups; g++) {
                double mu = 0, var = 0;
                int base = (s * c + g * cpg) * sp;
                for (int i = 0; i < cpg * sp; i++) mu += x[base + i];
                mu /= cpg * sp;
                for (int i = 0; i < cpg * sp; i++) var += (x[base + i] - mu) * (x[base + i] - mu);
                var /= cpg * sp;
                assertEquals(mu, mean[s * groups + g], 1e-6, "mean");
                assertEquals(1 / Math.sqrt(var + eps), rstd[s * groups + g], 1e-5 / Math.sqrt(var + eps), "rstd");
            }
        }
        System.out.printf("groupNorm forward: max abs error %.3g%n", err);
    }

    @Test void groupNormBackwardMatchesFiniteDifferences() {
        int n = 2, c = 4, h = 3, w = 3, groups = 2, sp = h * w, size = n * c * sp;
        float eps = 1e-5f;
        float[] x = random(size, 2), gamma = random(c, 1), beta = random(c, 1), dy = random(size, 1);
        float[] dg0 = random(c, 1), db0 = random(c, 1);
        // L(x, gamma, beta) = sum dy * groupNorm(x); central differences of the double reference
        double[] xd = toDouble(x);
        double[] dxRef = new double[size];
        double hstep = 1e-4;
        for (int i = 0; i < size; i++) {
            double keep = xd[i];
            xd[i] = keep + hstep;
            double up = dot(dy, groupNormRef(xd, gamma, beta, n, c, sp, groups, eps));
            xd[i] = keep - hstep;
            double down = dot(dy, groupNormRef(xd, gamma, beta, n, c, sp, groups, eps));
            xd[i] = keep;
            dxRef[i] = (up - down) / (2 * hstep);
        }
        // dL/dgamma[c] = sum dy * xhat, dL/dbeta[c] = sum dy (the normalised input from the reference with gamma=1, beta=0)
        float[] ones = new float[c], zeros = new float[c];
        java.util.Arrays.fill(ones, 1f);
        double[] xhat = groupNormRef(xd, ones, zeros, n, c, sp, groups, eps);
        double[] dgRef = new double[c], dbRef = new double[c];
        for (int i = 0; i < size; i++) {
            int ch = (i / sp) % c;
            dgRef[ch] += dy[i] * xhat[i];
            dbRef[ch] += dy[i];
        }
        for (int ch = 0; ch < c; ch++) {
            dgRef[ch] += dg0[ch];
            dbRef[ch] += db0[ch];
        }
        Tensor tx = BE.fromArray(x, n, c, h, w), tg = BE.fromArray(gamma, c), tm = BE.zeros(n * groups), tr = BE.zeros(n * groups);
        BE.groupNorm(BE.zeros(n, c, h, w), tm, tr, tx, tg, BE.fromArray(beta, c), groups, eps);
        Tensor tdx = BE.zeros(n, c, h, w), tdg = BE.fromArray(dg0, c), tdb = BE.fromArray(db0, c);
        BE.groupNormBackward(tdx, tdg, tdb, BE.fromArray(dy, n, c, h, w), tx, tm, tr, tg, groups);
        double err = maxErr(dxRef, BE.toHost(tdx), 1e-4, "groupNorm dx");
        err = Math.max(err, maxErr(dgRef, BE.toHost(tdg), 1e-5, "groupNorm dgamma (accumulated)"));
        err = Math.max(err, maxErr(dbRef, BE.toHost(tdb), 1e-5, "groupNorm dbeta (accumulated)"));
        System.out.printf("groupNorm backward vs finite differences: max abs error %.3g%n", err);
    }

    /**
     * groupNormSilu with input offsets and dropout, the ResBlock op, against its definition in double: h = x + bias[c] +
     * v[n, c], y = mask * silu(groupNorm(h)) / (1 - p) with dropout's own mask; and its backward (with an addend)
     * against central differences of sum(dy * y) in double precision inputs.
     */
    @Test void groupNormSiluWithOffsetsAndDropoutMatchesDefinition() {
        int n = 2, c = 4, h = 3, w = 5, groups = 2, sp = h * w;
        float eps = 1e-5f, p = 0.25f;
        float[] x = random(n * c * sp, 2), xb = random(c, 1), xa = random(n * c, 1), gamma = random(c, 1),
                beta = random(c, 1);
        double[] hin = new double[x.length];
        for (int i = 0; i < x.length; i++) hin[i] = x[i] + (double) xb[(i / sp) % c] + xa[i / sp];
        double[] gn = groupNormRef(hin, gamma, beta, n, c, sp, groups, eps);
        Tensor ones = BE.zeros(n, c, h, w), mask = BE.zeros(n, c, h, w);
        BE.fill(ones, 1f);
        BE.dropout(mask, ones, p, 91, 5);
        float[] m = BE.toHost(mask);
        double[] ref = new double[x.length];
        for (int i = 0; i < x.length; i++) ref[i] = m[i] * gn[i] / (1 + Math.exp(-gn[i]));
        Tensor tx = BE.fromArray(x, n, c, h, w), tb = BE.fromArray(xb, c), ta = BE.fromArray(xa, n, c);
        Tensor tg = BE.fromArray(gamma, c), tbe = BE.fromArray(beta, c);
        Tensor ty = BE.zeros(n, c, h, w), tm = BE.zeros(n * groups), tr = BE.zeros(n * groups);
        BE.groupNormSilu(ty, tm, tr, tx, tb, ta, tg, tbe, groups, eps, p, 91, 5);
        double err = maxErr(ref, BE.toHost(ty), 1e-5, "groupNormSilu y");

        // backward: dL/dh of L = sum(dy * silu(groupNorm(h))) (no dropout: p = 0) plus the addend, by central differences
        float[] dy = random(x.length, 1), addend = random(x.length, 1);
        BE.groupNormSilu(ty, tm, tr, tx, tb, ta, tg, tbe, groups, eps, 0f, 0, 0);
        Tensor tdx = BE.zeros(n, c, h, w), tdg = BE.zeros(c), tdb = BE.zeros(c);
        BE.groupNormSiluBackward(tdx, tdg, tdb, BE.fromArray(dy, n, c, h, w), tx, tb, ta, tm, tr, tg, tbe, groups, eps,
                BE.fromArray(addend, n, c, h, w));
        float[] dx = BE.toHost(tdx);
        double step = 1e-4, worst = 0;
        for (int i = 0; i < x.length; i += 7) {
            double[] plus = hin.clone(), minus = hin.clone();
            plus[i] += step;
            minus[i] -= step;
            double fd = (siluLoss(groupNormRef(plus, gamma, beta, n, c, sp, groups, eps), dy)
                    - siluLoss(groupNormRef(minus, gamma, beta, n, c, sp, groups, eps), dy)) / (2 * step) + addend[i];
            worst = Math.max(worst, Math.abs(fd - dx[i]));
            assertEquals(fd, dx[i], 1e-3 * Math.max(1, Math.abs(fd)), "groupNormSiluBackward dx[" + i + "]");
        }
        System.out.printf("groupNormSilu (offsets, dropout): max abs error %.3g; backward vs central differences %.3g%n",
                err, worst);
    }

    private static double siluLoss(double[] u, float[] dy) {
        double s = 0;
        for (int i = 0; i < u.length; i++) s += dy[i] * u[i] / (1 + Math.exp(-u[i]));
        return s;
    }

    @Test void softmaxAndBackward() {
        int rows = 7, cols = 37;
        float[] x = random(rows * cols, 8), dy = random(rows * cols, 1);
        double[] y = new double[rows * cols], dx = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0, dot = 0;
            for (int j = 0; j < cols; j++) max = Math.max(max, x[r * cols + j]);
            for (int j = 0; j < cols; j++) sum += Math.exp(x[r * cols + j] - max);
            for (int j = 0; j < cols; j++) y[r * cols + j] = Math.exp(x[r * cols + j] - max) / sum;
            for (int j = 0; j < cols; j++) dot += dy[r * cols + j] * y[r * cols + j];
            for (int j = 0; j < cols; j++) dx[r * cols + j] = y[r * cols + j] * (dy[r * cols + j] - dot);
        }
        Tensor ty = BE.zeros(rows, cols), tdx = BE.zeros(rows, cols);
        BE.softmax(ty, BE.fromArray(x, rows, cols));
        BE.softmaxBackward(tdx, BE.fromArray(dy, rows, cols), ty);
        double err = Math.max(maxErr(y, BE.toHost(ty), 1e-6, "softmax"), maxErr(dx, BE.toHost(tdx), 1e-6, "softmax backward"));
        System.out.printf("softmax forward/backward: max abs error %.3g%n", err);
    }

    @Test void siluAndBackward() {
        float[] x = random(1000, 12), dy = random(1000, 1);
        double[] y = new double[x.length], dx = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double s = 1 / (1 + Math.exp(-x[i]));
            y[i] = x[i] * s;
            dx[i] = dy[i] * (s + x[i] * s * (1 - s));
        }
        Tensor ty = BE.zeros(1000), tdx = BE.zeros(1000), tx = BE.fromArray(x, 1000);
        BE.silu(ty, tx);
        BE.siluBackward(tdx, BE.fromArray(dy, 1000), tx);
        double err = Math.max(maxErr(y, BE.toHost(ty), 1e-6, "silu"), maxErr(dx, BE.toHost(tdx), 1e-6, "silu backward"));
        System.out.printf("silu forward/backward: max abs error %.3g%n", err);
    }

    @Test void vectorExpIsAccurateAndSiluSplitIndependent() {
        org.junit.jupiter.api.Assumptions.assumeTrue(CpuGemm.vectorized(), "Vector API path not in use");
        double worst = 0;
        float[] xs = new float[200_001];
        for (int i = 0; i < xs.length; i++) xs[i] = -87f + 175.3f * i / (xs.length - 1);
        for (int i = 0; i + 8 <= xs.length; i += 8) {
            float[] e = new float[8];
            VectorOps.exp(jdk.incubator.vector.FloatVector.fromArray(jdk.incubator.vector.FloatVector.SPECIES_256, xs, i))
                    .intoArray(e, 0);
            for (int j = 0; j < 8; j++) {
                double ref = Math.exp(xs[i + j]);
                worst = Math.max(worst, Math.abs(e[j] - ref) / ref);
            }
        }
        System.out.printf("vector exp on [-87, 88]: max rel error %.3g%n", worst);
        if (worst > 3e-7) fail("vector exp rel error " + worst);
        // extremes stay finite and a NaN stays NaN
        float[] ext = {-1e30f, -100f, 100f, 1e30f, Float.NaN, 0f, -0f, 1f, 3f};
        float[] y = new float[ext.length];
        VectorOps.silu(ext, 0, y, 0, 0, ext.length);
        assertEquals(0f, y[0], 0f);
        assertEquals(100f, y[2], 0f);
        assertEquals(1e30f, y[3], 0f);
        if (!Float.isNaN(y[4])) fail("silu(NaN) = " + y[4]);
        // an element gives the same bits whether it falls in a vector or in the tail of a range
        float[] x = random(1003, 8), dy = random(1003, 1), a = new float[1003], b = new float[1003];
        float[] da = new float[1003], db = new float[1003];
        VectorOps.silu(x, 0, a, 0, 0, 1003);
        VectorOps.siluBackward(x, 0, dy, 0, da, 0, 0, 1003);
        for (int lo = 0; lo < 1003; lo += 5) {
            VectorOps.silu(x, 0, b, 0, lo, Math.min(1003, lo + 5));
            VectorOps.siluBackward(x, 0, dy, 0, db, 0, lo, Math.min(1003, lo + 5));
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(a, b);
        org.junit.jupiter.api.Assertions.assertArrayEquals(da, db);
    }

    @Test void upsampleNearestAndBackward() {
        int n = 2, c = 3, h = 3, w = 5;
        float[] x = random(n * c * h * w, 1), dy = random(n * c * 4 * h * w, 1);
        double[] y = new double[dy.length], dx = new double[x.length];
        for (int nc = 0; nc < n * c; nc++) {
            for (int oy = 0; oy < 2 * h; oy++) {
                for (int ox = 0; ox < 2 * w; ox++) {
                    int yi = (nc * 2 * h + oy) * 2 * w + ox, xi = (nc * h + oy / 2) * w + ox / 2;
                    y[yi] = x[xi];
                    dx[xi] += dy[yi];
                }
            }
        }
        Tensor ty = BE.zeros(n, c, 2 * h, 2 * w), tdx = BE.zeros(n, c, h, w);
        BE.upsampleNearest2x(ty, BE.fromArray(x, n, c, h, w));
        BE.upsampleNearest2xBackward(tdx, BE.fromArray(dy, n, c, 2 * h, 2 * w));
        double err = Math.max(maxErr(y, BE.toHost(ty), 0, "upsample"), maxErr(dx, BE.toHost(tdx), 1e-6, "upsample backward"));
        System.out.printf("upsample nearest 2x forward/backward: max abs error %.3g%n", err);
    }

    @Test void concatAndSplitChannels() {
        int n = 3, h = 2, w = 3, sp = h * w;
        int[] parts = {2, 1, 4};
        int ctot = 7;
        float[][] data = new float[parts.length][];
        Tensor[] tp = new Tensor[parts.length];
        for (int i = 0; i < parts.length; i++) {
            data[i] = random(n * parts[i] * sp, 1);
            tp[i] = BE.fromArray(data[i], n, parts[i], h, w);
        }
        double[] ref = new double[n * ctot * sp];
        for (int s = 0; s < n; s++) {
            int c0 = 0;
            for (int i = 0; i < parts.length; i++) {
                for (int cc = 0; cc < parts[i]; cc++) {
                    for (int k = 0; k < sp; k++) ref[(s * ctot + c0 + cc) * sp + k] = data[i][(s * parts[i] + cc) * sp + k];
                }
                c0 += parts[i];
            }
        }
        Tensor out = BE.zeros(n, ctot, h, w);
        BE.concatChannels(out, tp);
        maxErr(ref, BE.toHost(out), 0, "concat");
        Tensor[] back = new Tensor[parts.length];
        for (int i = 0; i < parts.length; i++) back[i] = BE.zeros(n, parts[i], h, w);
        BE.splitChannels(back, out);
        for (int i = 0; i < parts.length; i++) maxErr(toDouble(data[i]), BE.toHost(back[i]), 0, "split part " + i);
        System.out.println("concat/split channels: exact");
    }

    @Test void addBiasAndBiasGrad() {
        int n = 3, c = 5, sp = 7;
        float[] x = random(n * c * sp, 1), b = random(c, 1), g0 = random(c, 1);
        double[] y = new double[x.length], g = toDouble(g0);
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] + b[(i / sp) % c];
            g[(i / sp) % c] += x[i];
        }
        Tensor ty = BE.zeros(n, c, sp), tg = BE.fromArray(g0, c), tx = BE.fromArray(x, n, c, sp);
        BE.addBias(ty, tx, BE.fromArray(b, c));
        BE.biasGrad(tg, tx);
        double err = Math.max(maxErr(y, BE.toHost(ty), 1e-7, "addBias"), maxErr(g, BE.toHost(tg), 1e-6, "biasGrad (accumulated)"));
        System.out.printf("addBias/biasGrad: max abs error %.3g%n", err);
    }

    @Test void scaleShiftAndBackward() {
        int n = 2, c = 3, sp = 11, nc = n * c;
        float[] x = random(nc * sp, 1), sc = random(nc, 1), sh = random(nc, 1), dy = random(nc * sp, 1);
        double[] y = new double[x.length], dx = new double[x.length], dsc = new double[nc], dsh = new double[nc];
        for (int i = 0; i < x.length; i++) {
            int k = i / sp;
            y[i] = x[i] * (1.0 + sc[k]) + sh[k];
            dx[i] = dy[i] * (1.0 + sc[k]);
            dsc[k] += (double) dy[i] * x[i];
            dsh[k] += dy[i];
        }
        Tensor tx = BE.fromArray(x, n, c, sp), tsc = BE.fromArray(sc, n, c), ty = BE.zeros(n, c, sp);
        BE.scaleShift(ty, tx, tsc, BE.fromArray(sh, n, c));
        Tensor tdx = BE.zeros(n, c, sp), tdsc = BE.zeros(n, c), tdsh = BE.zeros(n, c);
        BE.scaleShiftBackward(tdx, tdsc, tdsh, BE.fromArray(dy, n, c, sp), tx, tsc);
        double err = maxErr(y, BE.toHost(ty), 1e-6, "scaleShift");
        err = Math.max(err, maxErr(dx, BE.toHost(tdx), 1e-6, "scaleShift dIn"));
        err = Math.max(err, maxErr(dsc, BE.toHost(tdsc), 1e-5, "scaleShift dScale"));
        err = Math.max(err, maxErr(dsh, BE.toHost(tdsh), 1e-5, "scaleShift dShift"));
        System.out.printf("scaleShift forward/backward: max abs error %.3g%n", err);
    }

    @Test void timestepEmbeddingClosedForm() {
        double err = 0;
        for (boolean ddpm : new boolean[] {true, false}) {
            for (int dim : new int[] {8, 33}) {
                float[] t = {0f, 1f, 17f, 999f};
                float maxPeriod = 10000f;
                int half = dim / 2;
                double[] ref = new double[t.length * dim];
                for (int s = 0; s < t.length; s++) {
                    for (int j = 0; j < half; j++) {
                        double freq = Math.exp(-Math.log(maxPeriod) * j / (half - (ddpm ? 1 : 0)));
                        ref[s * dim + j] = Math.sin(t[s] * freq);
                        ref[s * dim + half + j] = Math.cos(t[s] * freq);
                    }
                }
                Tensor out = BE.zeros(t.length, dim);
                BE.fill(out, Float.NaN);
                BE.timestepEmbedding(out, BE.fromArray(t, t.length), maxPeriod, ddpm);
                err = Math.max(err, maxErr(ref, BE.toHost(out), 1e-6, "timestep embedding dim " + dim + " ddpm " + ddpm));
            }
        }
        System.out.printf("timestep embedding vs closed form: max abs error %.3g%n", err);
    }

    @Test void matmulAndBatchedMatmul() {
        double err = 0;
        for (boolean vector : new boolean[] {true, false}) {
            GemmPaths.select(vector);
            try {
                // {batch, m, n, k}: small products (run one per thread) and large ones (each split across threads)
                for (int[] s : new int[][] {{5, 7, 9, 4}, {12, 64, 64, 32}, {3, 96, 80, 128}, {2, 300, 200, 100}}) {
                    for (int ta = 0; ta < 2; ta++) {
                        for (int tb = 0; tb < 2; tb++) {
                            err = Math.max(err, checkBatched(s[0], s[1], s[2], s[3], ta == 1, tb == 1));
                        }
                    }
                }
            } finally {
                GemmPaths.restoreDefault();
            }
        }
        System.out.printf("matmul/batchedMatmul vs naive loops: max abs error %.3g%n", err);
    }

    private double checkBatched(int batch, int m, int n, int k, boolean ta, boolean tb) {
        float[] a = random(batch * m * k, 1), b = random(batch * k * n, 1), c0 = random(batch * m * n, 1);
        float alpha = 0.5f, beta = -1.5f;
        double[] ref = new double[c0.length];
        for (int i = 0; i < batch; i++) {
            for (int r = 0; r < m; r++) {
                for (int col = 0; col < n; col++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        double av = ta ? a[i * m * k + p * m + r] : a[i * m * k + r * k + p];
                        double bv = tb ? b[i * k * n + col * k + p] : b[i * k * n + p * n + col];
                        acc += av * bv;
                    }
                    ref[i * m * n + r * n + col] = alpha * acc + beta * c0[i * m * n + r * n + col];
                }
            }
        }
        Tensor tc = BE.fromArray(c0, batch, m, n);
        BE.batchedMatmul(tc, BE.fromArray(a, batch, ta ? k : m, ta ? m : k), BE.fromArray(b, batch, tb ? n : k, tb ? k : n),
                ta, tb, alpha, beta);
        double err = maxErr(ref, BE.toHost(tc), 1e-4, "batchedMatmul " + batch + "x" + m + "x" + n + "x" + k);
        // the first product alone through matmul
        Tensor c1 = BE.fromArray(java.util.Arrays.copyOf(c0, m * n), m, n);
        BE.matmul(c1, BE.fromArray(java.util.Arrays.copyOf(a, m * k), ta ? k : m, ta ? m : k),
                BE.fromArray(java.util.Arrays.copyOf(b, k * n), tb ? n : k, tb ? k : n), ta, tb, alpha, beta);
        return Math.max(err, maxErr(java.util.Arrays.copyOf(ref, m * n), BE.toHost(c1), 1e-4, "matmul"));
    }

    // ------------------------------------------------------------------ references and helpers

    private static double[] groupNormRef(double[] x, float[] gamma, float[] beta, int n, int c, int sp, int groups, float eps) {
        int cpg = c / groups, gsize = cpg * sp;
        double[] y = new double[x.length];
        for (int s = 0; s < n; s++) {
            for (int g = 0; g < groups; g++) {
                int base = (s * c + g * cpg) * sp;
                double mu = 0, var = 0;
                for (int i = 0; i < gsize; i++) mu += x[base + i];
                mu /= gsize;
                for (int i = 0; i < gsize; i++) var += (x[base + i] - mu) * (x[base + i] - mu);
                var /= gsize;
                double rstd = 1 / Math.sqrt(var + eps);
                for (int i = 0; i < gsize; i++) {
                    int ch = g * cpg + i / sp;
                    y[base + i] = (x[base + i] - mu) * rstd * gamma[ch] + beta[ch];
                }
            }
        }
        return y;
    }

    private static double dot(float[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    /** Fails unless every |got - ref| <= tol * max(1, |ref|); returns the max abs error. */
    private static double maxErr(double[] ref, float[] got, double tol, String what) {
        assertEquals(ref.length, got.length, what + ": length");
        double worst = 0;
        for (int i = 0; i < ref.length; i++) {
            double err = Math.abs(got[i] - ref[i]);
            if (!(err <= tol * Math.max(1, Math.abs(ref[i])))) {
                fail(String.format("%s: element %d = %s, expected %s (err %.3g)", what, i, got[i], ref[i], err));
            }
            worst = Math.max(worst, err);
        }
        return worst;
    }

    private static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    private float[] random(int size, double scale) {
        float[] v = new float[size];
        for (int i = 0; i < size; i++) v[i] = (float) ((rng.nextDouble() * 2 - 1) * scale);
        return v;
    }
}
