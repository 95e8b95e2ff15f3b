package io.github.diffusion4j.eval;

/**
 * The Fréchet distance between two Gaussians fitted to feature sets (Dowson &amp; Landau 1982; the formula of FID,
 * Heusel et al. 2017): FD = ‖μ1 − μ2‖² + tr(C1) + tr(C2) − 2 tr((C1^{1/2} C2 C1^{1/2})^{1/2}).
 *
 * <p>Everything is in double. The square roots go through symmetric eigen-decompositions ({@link SymmetricEigen}):
 * C1^{1/2} = V diag(√max(λ, 0)) Vᵀ, then tr((C1^{1/2} C2 C1^{1/2})^{1/2}) = Σ √max(μ_i, 0) over the eigenvalues of
 * the symmetric PSD matrix C1^{1/2} C2 C1^{1/2} (similar to C1 C2, so the same trace as scipy's sqrtm(C1 C2)).
 * Clamping the tiny negative eigenvalues that rounding gives a nearly singular covariance keeps the result real and
 * stable where sqrtm of the non-symmetric product can turn complex. A value in [−1e−9 scale, 0) is reported as 0.
 */
public final class FrechetDistance {
    private FrechetDistance() {}

    /** Mean and covariance (unbiased, divided by n − 1) of a feature set; small enough to cache. */
    public record Stats(int count, double[] mean, double[][] cov) {
        public Stats {
            int d = mean.length;
            if (cov.length != d) throw new IllegalArgumentException("covariance is " + cov.length + " x ?, mean has " + d);
            for (double[] r : cov) if (r.length != d) throw new IllegalArgumentException("covariance is not " + d + " x " + d);
        }

        public int dim() { return mean.length; }

        /** Statistics of {@code n} feature vectors of dimension {@code d} stored row-major in {@code features}. */
        public static Stats of(float[] features, int n, int d) {
            if (n < 2) throw new IllegalArgumentException("the Fréchet distance needs at least 2 feature vectors, got " + n);
            if ((long) n * d > features.length) throw new IllegalArgumentException(n + " x " + d + " features, array has " + features.length);
            double[] mean = new double[d];
            for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) mean[j] += features[i * d + j];
            for (int j = 0; j < d; j++) mean[j] /= n;
            double[][] cov = new double[d][d];
            double[] c = new double[d];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < d; j++) c[j] = features[i * d + j] - mean[j];
                for (int a = 0; a < d; a++) {
                    double ca = c[a];
                    double[] row = cov[a];
                    for (int b = a; b < d; b++) row[b] += ca * c[b];
                }
            }
            for (int a = 0; a < d; a++) {
                for (int b = a; b < d; b++) {
                    double v = cov[a][b] / (n - 1);
                    cov[a][b] = v;
                    cov[b][a] = v;
                }
            }
            return new Stats(n, mean, cov);
        }

        /** Statistics of row vectors {@code features[i]}. */
        public static Stats of(double[][] features) {
            int n = features.length, d = n == 0 ? 0 : features[0].length;
            if (n < 2) throw new IllegalArgumentException("the Fréchet distance needs at least 2 feature vectors, got " + n);
            double[] mean = new double[d];
            for (double[] f : features) for (int j = 0; j < d; j++) mean[j] += f[j];
            for (int j = 0; j < d; j++) mean[j] /= n;
            double[][] cov = new double[d][d];
            for (double[] f : features) {
                for (int a = 0; a < d; a++) for (int b = a; b < d; b++) cov[a][b] += (f[a] - mean[a]) * (f[b] - mean[b]);
            }
            for (int a = 0; a < d; a++) for (int b = a; b < d; b++) { cov[a][b] /= (n - 1); cov[b][a] = cov[a][b]; }
            return new Stats(n, mean, cov);
        }
    }

    /** FD between the Gaussians fitted to two feature sets. */
    public static double between(Stats a, Stats b) {
        return of(a.mean(), a.cov(), b.mean(), b.cov());
    }

    /** FD between N(mu1, c1) and N(mu2, c2) (covariances symmetric PSD). */
    public static double of(double[] mu1, double[][] c1, double[] mu2, double[][] c2) {
        int d = mu1.length;
        if (mu2.length != d || c1.length != d || c2.length != d) {
            throw new IllegalArgumentException("dimension mismatch: " + d + " vs " + mu2.length + " (covariances " + c1.length + ", " + c2.length + ")");
        }
        double meanTerm = 0;
        for (int i = 0; i < d; i++) meanTerm += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
        double tr = 0;
        for (int i = 0; i < d; i++) tr += c1[i][i] + c2[i][i];
        double cross = traceSqrtProduct(c1, c2);
        double fd = meanTerm + tr - 2 * cross;
        double scale = meanTerm + tr;
        if (fd < 0 && fd > -1e-9 * Math.max(scale, 1e-300)) fd = 0;
        return fd;
    }

    /** tr((C1^{1/2} C2 C1^{1/2})^{1/2}) for symmetric PSD C1, C2, by two symmetric eigen-decompositions. */
    public static double traceSqrtProduct(double[][] c1, double[][] c2) {
        int d = c1.length;
        double[][] s = SymmetricEigen.of(c1).sqrtPsd();
        double[][] t = new double[d][d]; // S C2
        for (int i = 0; i < d; i++) {
            double[] si = s[i], ti = t[i];
            for (int k = 0; k < d; k++) {
                double v = si[k];
                if (v == 0) continue;
                double[] ck = c2[k];
                for (int j = 0; j < d; j++) ti[j] += v * ck[j];
            }
        }
        double[][] m = new double[d][d]; // (S C2) S, symmetric
        for (int i = 0; i < d; i++) {
            double[] ti = t[i];
            for (int j = i; j < d; j++) {
                double[] sj = s[j];
                double acc = 0;
                for (int k = 0; k < d; k++) acc += ti[k] * sj[k];
                m[i][j] = acc;
                m[j][i] = acc;
            }
        }
        return SymmetricEigen.of(m).traceSqrtPsd();
    }
}
