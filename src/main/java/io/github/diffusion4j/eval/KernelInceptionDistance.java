package io.github.diffusion4j.eval;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Kernel distance (KID, Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimator of the squared
 * maximum mean discrepancy with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over random subsets
 * of equal size m drawn from both sets, with its standard deviation over the subsets (as torch-fidelity reports it):
 *
 * <pre>MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (m(m−1)) − 2 Σ_{i,j} k(x_i, y_j) / m²</pre>
 *
 * Being unbiased, it can be negative for two samples of one distribution. Subsets are drawn without replacement
 * from a {@link SplittableRandom} seeded with {@code seed + subset index}, so a seed always gives the same value.
 * Kernel sums are in double.
 */
public final class KernelInceptionDistance {
    private KernelInceptionDistance() {}

    /** Mean and standard deviation of the per-subset estimates (std with divisor n, as torch-fidelity). */
    public record Result(double mean, double std, int subsets, int subsetSize) {}

    public static final int DEFAULT_SUBSETS = 100;
    public static final int DEFAULT_SUBSET_SIZE = 1000;

    /**
     * KID of feature sets x [nx, d] and y [ny, d] (row-major), over {@code subsets} subsets of size
     * min(subsetSize, nx, ny).
     */
    public static Result compute(float[] x, int nx, float[] y, int ny, int d, int subsets, int subsetSize, long seed) {
        if (subsets < 1) throw new IllegalArgumentException("KID needs at least one subset, got " + subsets);
        int m = Math.min(subsetSize, Math.min(nx, ny));
        if (m < 2) throw new IllegalArgumentException("KID needs at least 2 feature vectors per set, got " + Math.min(nx, ny));
        double[] est = new double[subsets];
        IntStream.range(0, subsets).parallel().forEach(s -> {
            SplittableRandom r = new SplittableRandom(seed + s);
            int[] ix = choose(r, nx, m), iy = choose(r, ny, m);
            est[s] = mmd2Unbiased(x, ix, y, iy, d);
        });
        double mean = 0;
        for (double e : est) mean += e;
        mean /= subsets;
        double var = 0;
        for (double e : est) var += (e - mean) * (e - mean);
        return new Result(mean, Math.sqrt(var / subsets), subsets, m);
    }

    /** {@link #compute} with the torch-fidelity defaults (100 subsets of 1000). */
    public static Result compute(float[] x, int nx, float[] y, int ny, int d, long seed) {
        return compute(x, nx, y, ny, d, DEFAULT_SUBSETS, DEFAULT_SUBSET_SIZE, seed);
    }

    /**
     * As {@link #compute(float[], int, float[], int, int, int, int, long)} (the same subsets), with the three Gram
     * matrices of every subset computed by {@code backend}'s matrix product (float32 dot products, as the features
     * are float32; the cubic kernel and the sums stay in double). Many times faster than the all-double reference
     * path; the two agree to float rounding (checked in the tests).
     */
    public static Result compute(Backend backend, float[] x, int nx, float[] y, int ny, int d, int subsets, int subsetSize, long seed) {
        if (subsets < 1) throw new IllegalArgumentException("KID needs at least one subset, got " + subsets);
        int m = Math.min(subsetSize, Math.min(nx, ny));
        if (m < 2) throw new IllegalArgumentException("KID needs at least 2 feature vectors per set, got " + Math.min(nx, ny));
        double[] est = new double[subsets];
        float[] xs = new float[m * d], ys = new float[m * d];
        for (int s = 0; s < subsets; s++) {
            SplittableRandom r = new SplittableRandom(seed + s);
            int[] ix = choose(r, nx, m), iy = choose(r, ny, m);
            for (int i = 0; i < m; i++) {
                System.arraycopy(x, ix[i] * d, xs, i * d, d);
                System.arraycopy(y, iy[i] * d, ys, i * d, d);
            }
            backend.beginStep();
            try (Tensor tx = backend.fromArray(xs, Shape.of(m, d)); Tensor ty = backend.fromArray(ys, Shape.of(m, d));
                 Tensor g = backend.zeros(Shape.of(m, m))) {
                backend.matmul(g, tx, tx, false, true, 1f, 0f);
                double kxx = offDiagonalKernelSum(backend.toHost(g), m, d);
                backend.matmul(g, ty, ty, false, true, 1f, 0f);
                double kyy = offDiagonalKernelSum(backend.toHost(g), m, d);
                backend.matmul(g, tx, ty, false, true, 1f, 0f);
                float[] gxy = backend.toHost(g);
                double kxy = 0;
                for (float v : gxy) {
                    double t = (double) v / d + 1;
                    kxy += t * t * t;
                }
                est[s] = kxx / ((double) m * (m - 1)) + kyy / ((double) m * (m - 1)) - 2 * kxy / ((double) m * m);
            }
        }
        double mean = 0;
        for (double e : est) mean += e;
        mean /= subsets;
        double var = 0;
        for (double e : est) var += (e - mean) * (e - mean);
        return new Result(mean, Math.sqrt(var / subsets), subsets, m);
    }

    private static double offDiagonalKernelSum(float[] g, int m, int d) {
        double sum = 0;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < m; j++) {
                if (i == j) continue;
                double t = (double) g[i * m + j] / d + 1;
                sum += t * t * t;
            }
        }
        return sum;
    }

    /** m distinct indices of [0, n) (partial Fisher–Yates), in draw order. */
    static int[] choose(SplittableRandom r, int n, int m) {
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int i = 0; i < m; i++) {
            int j = i + r.nextInt(n - i);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        return java.util.Arrays.copyOf(perm, m);
    }

    /** The unbiased MMD² estimate between rows ix of x and rows iy of y (equal counts). */
    public static double mmd2Unbiased(float[] x, int[] ix, float[] y, int[] iy, int d) {
        int m = ix.length;
        if (iy.length != m) throw new IllegalArgumentException("subsets must have equal sizes: " + m + " vs " + iy.length);
        double kxx = 0, kyy = 0, kxy = 0;
        for (int i = 0; i < m; i++) {
            int xi = ix[i] * d, yi = iy[i] * d;
            for (int j = i + 1; j < m; j++) {
                kxx += kernel(x, xi, x, ix[j] * d, d);
                kyy += kernel(y, yi, y, iy[j] * d, d);
            }
            for (int j = 0; j < m; j++) kxy += kernel(x, xi, y, iy[j] * d, d);
        }
        return 2 * kxx / ((double) m * (m - 1)) + 2 * kyy / ((double) m * (m - 1)) - 2 * kxy / ((double) m * m);
    }

    /** (aᵀb / d + 1)³ for the rows at offsets ao and bo. */
    static double kernel(float[] a, int ao, float[] b, int bo, int d) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int k = 0;
        for (; k + 3 < d; k += 4) {
            s0 += (double) a[ao + k] * b[bo + k];
            s1 += (double) a[ao + k + 1] * b[bo + k + 1];
            s2 += (double) a[ao + k + 2] * b[bo + k + 2];
            s3 += (double) a[ao + k + 3] * b[bo + k + 3];
        }
        for (; k < d; k++) s0 += (double) a[ao + k] * b[bo + k];
        double v = (s0 + s1 + s2 + s3) / d + 1;
        return v * v * v;
    }
}
