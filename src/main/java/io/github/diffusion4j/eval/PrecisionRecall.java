package io.github.diffusion4j.eval;

import java.util.stream.IntStream;

/**
 * Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls around its
 * points with radius the distance to the point's k-th nearest neighbour within the set (the point itself excluded).
 * Precision is the fraction of generated points inside the real manifold; recall the fraction of real points inside
 * the generated manifold. Distances are Euclidean, computed in double; a point on a ball's boundary is inside.
 */
public final class PrecisionRecall {
    private PrecisionRecall() {}

    public static final int DEFAULT_K = 3;

    public record Result(double precision, double recall, int k) {}

    /** Precision and recall of generated features {@code fake} [nf, d] against {@code real} [nr, d]. */
    public static Result compute(float[] real, int nr, float[] fake, int nf, int d, int k) {
        if (k < 1) throw new IllegalArgumentException("k must be >= 1, got " + k);
        if (nr <= k || nf <= k) {
            throw new IllegalArgumentException("precision/recall with k = " + k + " needs more than " + k + " points per set, got "
                    + nr + " real and " + nf + " generated");
        }
        double[] rr = kthNeighbourRadii(real, nr, d, k);
        double[] rf = kthNeighbourRadii(fake, nf, d, k);
        double precision = coveredFraction(fake, nf, real, nr, rr, d);
        double recall = coveredFraction(real, nr, fake, nf, rf, d);
        return new Result(precision, recall, k);
    }

    public static Result compute(float[] real, int nr, float[] fake, int nf, int d) {
        return compute(real, nr, fake, nf, d, DEFAULT_K);
    }

    /** Squared distance to the k-th nearest other point of the same set, for every point. */
    static double[] kthNeighbourRadii(float[] x, int n, int d, int k) {
        double[] out = new double[n];
        IntStream.range(0, n).parallel().forEach(i -> {
            double[] best = new double[k]; // k smallest, ascending
            java.util.Arrays.fill(best, Double.POSITIVE_INFINITY);
            for (int j = 0; j < n; j++) {
                if (j == i) continue;
                double dist = dist2(x, i * d, x, j * d, d);
                if (dist < best[k - 1]) {
                    int p = k - 1;
                    while (p > 0 && best[p - 1] > dist) {
                        best[p] = best[p - 1];
                        p--;
                    }
                    best[p] = dist;
                }
            }
            out[i] = best[k - 1];
        });
        return out;
    }

    /** Fraction of the points q inside at least one ball (center p_j, squared radius r2[j]). */
    static double coveredFraction(float[] q, int nq, float[] p, int np, double[] r2, int d) {
        long inside = IntStream.range(0, nq).parallel().filter(i -> {
            for (int j = 0; j < np; j++) if (dist2(q, i * d, p, j * d, d) <= r2[j]) return true;
            return false;
        }).count();
        return (double) inside / nq;
    }

    static double dist2(float[] a, int ao, float[] b, int bo, int d) {
        double s0 = 0, s1 = 0;
        int k = 0;
        for (; k + 1 < d; k += 2) {
            double u = (double) a[ao + k] - b[bo + k], v = (double) a[ao + k + 1] - b[bo + k + 1];
            s0 += u * u;
            s1 += v * v;
        }
        if (k < d) {
            double u = (double) a[ao + k] - b[bo + k];
            s0 += u * u;
        }
        return s0 + s1;
    }
}
