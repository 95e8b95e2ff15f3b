package io.github.diffusion4j.eval;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class KernelInceptionDistanceTest {

    private static float[] gaussian(SplittableRandom r, int n, int d, double shift) {
        float[] f = new float[n * d];
        for (int i = 0; i < f.length; i++) f[i] = (float) (r.nextGaussian() + shift);
        return f;
    }

    /** Brute force: full kernel matrices in double, diagonal excluded for the within-set terms. */
    private static double bruteForce(float[] x, float[] y, int m, int d, boolean biased) {
        double[][] kxx = new double[m][m], kyy = new double[m][m], kxy = new double[m][m];
        for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) {
            double a = 0, b = 0, c = 0;
            for (int k = 0; k < d; k++) {
                a += (double) x[i * d + k] * x[j * d + k];
                b += (double) y[i * d + k] * y[j * d + k];
                c += (double) x[i * d + k] * y[j * d + k];
            }
            kxx[i][j] = Math.pow(a / d + 1, 3);
            kyy[i][j] = Math.pow(b / d + 1, 3);
            kxy[i][j] = Math.pow(c / d + 1, 3);
        }
        double sxx = 0, syy = 0, sxy = 0;
        for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) {
            if (i != j || biased) { sxx += kxx[i][j]; syy += kyy[i][j]; }
            sxy += kxy[i][j];
        }
        double div = biased ? (double) m * m : (double) m * (m - 1);
        return sxx / div + syy / div - 2 * sxy / ((double) m * m);
    }

    @Test void matchesBruteForceEstimator() {
        SplittableRandom r = new SplittableRandom(11);
        int m = 37, d = 9;
        float[] x = gaussian(r, m, d, 0), y = gaussian(r, m, d, 0.3);
        int[] all = new int[m];
        for (int i = 0; i < m; i++) all[i] = i;
        assertEquals(bruteForce(x, y, m, d, false), KernelInceptionDistance.mmd2Unbiased(x, all, y, all, d), 1e-10);
        // one subset of the whole set is the same estimate
        KernelInceptionDistance.Result res = KernelInceptionDistance.compute(x, m, y, m, d, 1, m, 5);
        assertEquals(bruteForce(x, y, m, d, false), res.mean(), 1e-10);
        assertEquals(0, res.std(), 0);
    }

    /**
     * Same distribution: the unbiased estimator averages to 0 within its standard error over independent draws and
     * takes both signs; the biased (V-statistic) one, on the same draws, is positive every time — so the check can fail.
     */
    @Test void unbiasedOnSameDistribution() {
        SplittableRandom r = new SplittableRandom(12);
        int reps = 300, m = 20, d = 4;
        int[] all = new int[m];
        for (int i = 0; i < m; i++) all[i] = i;
        double sum = 0, sumSq = 0, biasedMin = Double.POSITIVE_INFINITY, biasedSum = 0;
        int neg = 0, pos = 0;
        for (int t = 0; t < reps; t++) {
            float[] x = gaussian(r, m, d, 0), y = gaussian(r, m, d, 0);
            double u = KernelInceptionDistance.mmd2Unbiased(x, all, y, all, d);
            sum += u;
            sumSq += u * u;
            if (u < 0) neg++; else pos++;
            double b = bruteForce(x, y, m, d, true);
            biasedSum += b;
            biasedMin = Math.min(biasedMin, b);
        }
        double mean = sum / reps, se = Math.sqrt((sumSq / reps - mean * mean) / reps);
        assertTrue(Math.abs(mean) < 4 * se, "mean " + mean + " vs standard error " + se);
        assertTrue(neg > reps / 5 && pos > reps / 5, neg + " negative, " + pos + " positive");
        assertTrue(biasedSum / reps > 10 * se, "biased estimator mean " + biasedSum / reps + " should be far from 0");
        assertTrue(biasedMin > 0);
    }

    @Test void backendGramPathAgreesWithTheDoublePath() {
        SplittableRandom r = new SplittableRandom(14);
        int n = 300, d = 32;
        float[] x = gaussian(r, n, d, 0), y = gaussian(r, n, d, 0.2);
        KernelInceptionDistance.Result exact = KernelInceptionDistance.compute(x, n, y, n, d, 7, 120, 3);
        KernelInceptionDistance.Result fast = KernelInceptionDistance.compute(io.github.diffusion4j.backend.cpu.CpuBackend.get(),
                x, n, y, n, d, 7, 120, 3);
        // kernel values are O(1) here; float32 dot products leave errors far below the estimate's spread
        assertEquals(exact.mean(), fast.mean(), 1e-5);
        assertEquals(exact.std(), fast.std(), 1e-5);
        assertTrue(exact.mean() > 20 * 1e-5, "the shift must be visible above the tolerance: " + exact);
    }

    @Test void detectsAShiftAndIsDeterministic() {
        SplittableRandom r = new SplittableRandom(13);
        int n = 400, d = 8;
        float[] x = gaussian(r, n, d, 0), y = gaussian(r, n, d, 0), z = gaussian(r, n, d, 0.5);
        KernelInceptionDistance.Result same = KernelInceptionDistance.compute(x, n, y, n, d, 20, 100, 1);
        KernelInceptionDistance.Result shifted = KernelInceptionDistance.compute(x, n, z, n, d, 20, 100, 1);
        assertTrue(Math.abs(same.mean()) < 3 * same.std() + 1e-3, same.toString());
        assertTrue(shifted.mean() > 10 * shifted.std() / Math.sqrt(20) && shifted.mean() > 20 * Math.abs(same.mean()),
                same + " vs " + shifted);
        assertEquals(same, KernelInceptionDistance.compute(x, n, y, n, d, 20, 100, 1));
        assertNotEquals(same.mean(), KernelInceptionDistance.compute(x, n, y, n, d, 20, 100, 2).mean());
        assertEquals(100, same.subsetSize());
    }
}
