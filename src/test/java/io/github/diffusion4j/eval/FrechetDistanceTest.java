package io.github.diffusion4j.eval;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class FrechetDistanceTest {

    private static double[][] randomSpd(int d, SplittableRandom r, double ridge) {
        double[][] a = new double[d][d];
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) a[i][j] = r.nextGaussian();
        double[][] c = new double[d][d];
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) s += a[i][k] * a[j][k];
            c[i][j] = s / d + (i == j ? ridge : 0);
        }
        return c;
    }

    private static double[][] mul(double[][] a, double[][] b) {
        int n = a.length;
        double[][] c = new double[n][n];
        for (int i = 0; i < n; i++) for (int k = 0; k < n; k++) for (int j = 0; j < n; j++) c[i][j] += a[i][k] * b[k][j];
        return c;
    }

    @Test void jacobiReconstructsAndIsOrthogonal() {
        double[][] c = randomSpd(30, new SplittableRandom(1), 0.0);
        SymmetricEigen e = SymmetricEigen.of(c);
        double maxErr = 0, maxOrth = 0;
        for (int i = 0; i < 30; i++) for (int j = 0; j < 30; j++) {
            double s = 0, o = 0;
            for (int k = 0; k < 30; k++) {
                s += e.vectors[i][k] * e.values[k] * e.vectors[j][k];
                o += e.vectors[k][i] * e.vectors[k][j];
            }
            maxErr = Math.max(maxErr, Math.abs(s - c[i][j]));
            maxOrth = Math.max(maxOrth, Math.abs(o - (i == j ? 1 : 0)));
        }
        assertTrue(maxErr < 1e-12, "reconstruction error " + maxErr);
        assertTrue(maxOrth < 1e-12, "orthogonality error " + maxOrth);
        double[][] s = e.sqrtPsd();
        double[][] ss = mul(s, s);
        for (int i = 0; i < 30; i++) for (int j = 0; j < 30; j++) assertEquals(c[i][j], ss[i][j], 1e-10);
    }

    @Test void setAgainstItselfIsZero() {
        SplittableRandom r = new SplittableRandom(2);
        int n = 500, d = 16;
        float[] f = new float[n * d];
        for (int i = 0; i < f.length; i++) f[i] = (float) (r.nextGaussian() * (1 + i % d));
        FrechetDistance.Stats s = FrechetDistance.Stats.of(f, n, d);
        double fd = FrechetDistance.between(s, s);
        assertEquals(0, fd, 1e-8);
    }

    @Test void diagonalCommutingClosedForm() {
        int d = 6;
        double[] a = {1, 4, 9, 0.25, 2, 0}, b = {4, 1, 9, 1, 0.5, 3};
        double[] mu1 = {0, 1, 2, 3, 4, 5}, mu2 = {1, 1, 0, 3, 4, 6};
        double[][] c1 = new double[d][d], c2 = new double[d][d];
        double expected = 0;
        for (int i = 0; i < d; i++) {
            c1[i][i] = a[i];
            c2[i][i] = b[i];
            expected += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + Math.pow(Math.sqrt(a[i]) - Math.sqrt(b[i]), 2);
        }
        assertEquals(expected, FrechetDistance.of(mu1, c1, mu2, c2), 1e-12);
    }

    /** 2x2: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) with tr M = tr(C1 C2), det M = det C1 det C2 (no eigen-solver). */
    @Test void nonCommuting2x2ClosedForm() {
        double[][] c1 = {{2, 0.7}, {0.7, 1}}, c2 = {{0.5, -0.3}, {-0.3, 3}};
        double[] mu1 = {0.5, -1}, mu2 = {-0.25, 2};
        double trProd = c1[0][0] * c2[0][0] + c1[0][1] * c2[1][0] + c1[1][0] * c2[0][1] + c1[1][1] * c2[1][1];
        double det1 = c1[0][0] * c1[1][1] - c1[0][1] * c1[1][0], det2 = c2[0][0] * c2[1][1] - c2[0][1] * c2[1][0];
        double trSqrt = Math.sqrt(trProd + 2 * Math.sqrt(det1 * det2));
        double expected = Math.pow(0.75, 2) + Math.pow(3, 2) + (2 + 1 + 0.5 + 3) - 2 * trSqrt;
        assertEquals(expected, FrechetDistance.of(mu1, c1, mu2, c2), 1e-12);
    }

    /** d = 12: against tr sqrtm(C1 C2) from an independent Denman–Beavers iteration on the non-symmetric product. */
    @Test void matchesDenmanBeaversOnGeneralCovariances() {
        SplittableRandom r = new SplittableRandom(3);
        int d = 12;
        double[][] c1 = randomSpd(d, r, 0.1), c2 = randomSpd(d, r, 0.1);
        double[][] y = mul(c1, c2), z = new double[d][d];
        for (int i = 0; i < d; i++) z[i][i] = 1;
        for (int it = 0; it < 60; it++) {
            double[][] yi = invert(y), zi = invert(z), ny = new double[d][d], nz = new double[d][d];
            for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) {
                ny[i][j] = 0.5 * (y[i][j] + zi[i][j]);
                nz[i][j] = 0.5 * (z[i][j] + yi[i][j]);
            }
            y = ny;
            z = nz;
        }
        double tr = 0;
        for (int i = 0; i < d; i++) tr += y[i][i];
        assertEquals(tr, FrechetDistance.traceSqrtProduct(c1, c2), 1e-9 * tr);
    }

    /** Rank-deficient covariances (rank 2 in 5-D): finite, non-negative, and exact where the closed form is known. */
    @Test void nearlySingularCovariancesAreStable() {
        int d = 5;
        double[][] c = new double[d][d];
        double[] u = {1, 2, 0, -1, 0.5}, v = {0, 1, 1, 1, -2};
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) c[i][j] = u[i] * u[j] + 1e-3 * v[i] * v[j] + (i == j ? 1e-13 : 0);
        double[] mu1 = new double[d], mu2 = new double[d];
        mu2[2] = 3;
        double fd = FrechetDistance.of(mu1, c, mu2, c);
        assertEquals(9, fd, 1e-6);
        // scaled copy: C2 = 4 C1 commutes with C1, FD = tr(C1) (1 - 2)^2 = tr(C1)
        double[][] c4 = new double[d][d];
        double tr = 0;
        for (int i = 0; i < d; i++) { for (int j = 0; j < d; j++) c4[i][j] = 4 * c[i][j]; tr += c[i][i]; }
        assertEquals(tr, FrechetDistance.of(mu1, c, mu1, c4), 1e-6);
        assertTrue(FrechetDistance.of(mu1, c, mu1, randomSpd(d, new SplittableRandom(5), 0)) > 0);
    }

    @Test void sampleStatisticsConvergeToTheGaussianFd() {
        // samples of N(0, diag(1, 4)) vs N((1, 0), diag(4, 1)): FD = 1 + (1-2)^2 + (2-1)^2 = 3
        SplittableRandom r = new SplittableRandom(7);
        int n = 20000;
        float[] a = new float[2 * n], b = new float[2 * n];
        for (int i = 0; i < n; i++) {
            a[2 * i] = (float) r.nextGaussian();
            a[2 * i + 1] = (float) (2 * r.nextGaussian());
            b[2 * i] = (float) (1 + 2 * r.nextGaussian());
            b[2 * i + 1] = (float) r.nextGaussian();
        }
        double fd = FrechetDistance.between(FrechetDistance.Stats.of(a, n, 2), FrechetDistance.Stats.of(b, n, 2));
        assertEquals(3, fd, 0.15);
    }

    private static double[][] invert(double[][] a) {
        int n = a.length;
        double[][] m = new double[n][2 * n];
        for (int i = 0; i < n; i++) { System.arraycopy(a[i], 0, m[i], 0, n); m[i][n + i] = 1; }
        for (int col = 0; col < n; col++) {
            int piv = col;
            for (int i = col + 1; i < n; i++) if (Math.abs(m[i][col]) > Math.abs(m[piv][col])) piv = i;
            double[] t = m[col]; m[col] = m[piv]; m[piv] = t;
            double p = m[col][col];
            for (int j = 0; j < 2 * n; j++) m[col][j] /= p;
            for (int i = 0; i < n; i++) if (i != col) {
                double f = m[i][col];
                if (f != 0) for (int j = 0; j < 2 * n; j++) m[i][j] -= f * m[col][j];
            }
        }
        double[][] out = new double[n][n];
        for (int i = 0; i < n; i++) System.arraycopy(m[i], n, out[i], 0, n);
        return out;
    }
}
