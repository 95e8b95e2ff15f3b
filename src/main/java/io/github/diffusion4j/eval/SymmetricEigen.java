package io.github.diffusion4j.eval;

/**
 * Eigen-decomposition of a real symmetric matrix by the cyclic Jacobi method (in double): A = V diag(λ) Vᵀ with V
 * orthogonal. Jacobi is slow-ish (O(n³) per sweep, a handful of sweeps) but unconditionally stable and accurate for
 * the small eigenvalues of nearly singular covariance matrices, which is what the Fréchet distance needs.
 */
public final class SymmetricEigen {
    /** Eigenvalues (unsorted, in the order of the columns of {@link #vectors}). */
    public final double[] values;
    /** Eigenvectors as columns: vectors[k][i] is component k of eigenvector i. */
    public final double[][] vectors;
    /** Jacobi sweeps that were needed. */
    public final int sweeps;

    private SymmetricEigen(double[] values, double[][] vectors, int sweeps) {
        this.values = values;
        this.vectors = vectors;
        this.sweeps = sweeps;
    }

    /** Decomposes {@code a} (n x n, symmetric; only read, and symmetrised as (A + Aᵀ)/2). */
    public static SymmetricEigen of(double[][] a) {
        int n = a.length;
        double[][] m = new double[n][n];
        double norm = 0;
        for (int i = 0; i < n; i++) {
            if (a[i].length != n) throw new IllegalArgumentException("matrix is not square: row " + i + " has " + a[i].length + " of " + n);
            for (int j = 0; j < n; j++) {
                double v = 0.5 * (a[i][j] + a[j][i]);
                if (!Double.isFinite(v)) throw new IllegalArgumentException("matrix has a non-finite entry at (" + i + ", " + j + ")");
                m[i][j] = v;
                norm += v * v;
            }
        }
        double[][] v = new double[n][n];
        for (int i = 0; i < n; i++) v[i][i] = 1;
        int sweep = 0;
        double tol = 1e-30 * norm;
        for (; sweep < 100; sweep++) {
            double off = 0;
            for (int p = 0; p < n; p++) for (int q = p + 1; q < n; q++) off += m[p][q] * m[p][q];
            if (off <= tol || off == 0) break;
            for (int p = 0; p < n - 1; p++) {
                for (int q = p + 1; q < n; q++) {
                    double apq = m[p][q];
                    if (apq == 0) continue;
                    double app = m[p][p], aqq = m[q][q];
                    // skip rotations below the rounding of the diagonal (after the first sweeps)
                    if (sweep > 3 && Math.abs(apq) * 1e17 < Math.abs(app) && Math.abs(apq) * 1e17 < Math.abs(aqq)) {
                        m[p][q] = 0;
                        m[q][p] = 0;
                        continue;
                    }
                    double theta = (aqq - app) / (2 * apq);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++) { // columns p, q: A J
                        double[] row = m[k];
                        double akp = row[p], akq = row[q];
                        row[p] = c * akp - s * akq;
                        row[q] = s * akp + c * akq;
                    }
                    double[] rp = m[p], rq = m[q];
                    for (int k = 0; k < n; k++) { // rows p, q: Jᵀ (A J)
                        double apk = rp[k], aqk = rq[k];
                        rp[k] = c * apk - s * aqk;
                        rq[k] = s * apk + c * aqk;
                    }
                    rp[q] = 0;
                    rq[p] = 0;
                    for (int k = 0; k < n; k++) {
                        double[] row = v[k];
                        double vkp = row[p], vkq = row[q];
                        row[p] = c * vkp - s * vkq;
                        row[q] = s * vkp + c * vkq;
                    }
                }
            }
        }
        double[] values = new double[n];
        for (int i = 0; i < n; i++) values[i] = m[i][i];
        return new SymmetricEigen(values, v, sweep);
    }

    /** V diag(f(λ)) Vᵀ with f = sqrt(max(λ, 0)): the PSD square root, negative (rounding) eigenvalues clamped at 0. */
    public double[][] sqrtPsd() {
        int n = values.length;
        double[] s = new double[n];
        for (int i = 0; i < n; i++) s[i] = Math.sqrt(Math.max(values[i], 0));
        double[][] out = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                double acc = 0;
                for (int k = 0; k < n; k++) acc += vectors[i][k] * s[k] * vectors[j][k];
                out[i][j] = acc;
                out[j][i] = acc;
            }
        }
        return out;
    }

    /** Σ sqrt(max(λ, 0)): the trace of the PSD square root. */
    public double traceSqrtPsd() {
        double t = 0;
        for (double l : values) t += Math.sqrt(Math.max(l, 0));
        return t;
    }
}
