package io.github.diffusion4j.backend.cpu;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * CpuGemm against a naive triple loop in double, on both micro-kernels (Vector API and scalar fallback),
 * for all transpose combinations, alpha/beta, ragged sizes, leading dimensions and offsets.
 */
class CpuGemmTest {
    private final SplittableRandom rng = new SplittableRandom(1234);

    @AfterEach void restoreDefaultPath() { GemmPaths.restoreDefault(); }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {true, false})
    void raggedSizesAllTransposes(boolean vector) {
        GemmPaths.select(vector);
        double worst = 0;
        int cases = 0;
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                for (int m = 1; m <= 70; m += 3 + rng.nextInt(5)) {
                    for (int n = 1; n <= 70; n += 4 + rng.nextInt(9)) {
                        int k = 1 + rng.nextInt(70);
                        worst = Math.max(worst, check(ta == 1, tb == 1, m, n, k, 1f, 0f, true));
                        cases++;
                    }
                }
            }
        }
        System.out.printf("gemm ragged 1..70 (%s, %d cases): max abs error %.3g%n", path(vector), cases, worst);
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {true, false})
    void alphaBetaAndLeadingDimensions(boolean vector) {
        GemmPaths.select(vector);
        float[][] ab = {{1f, 1f}, {0.5f, 0f}, {-2f, 0.25f}, {1.5f, -1f}, {0f, 0.5f}, {0f, 0f}, {3f, 1f}};
        double worst = 0;
        for (float[] p : ab) {
            for (int ta = 0; ta < 2; ta++) {
                for (int tb = 0; tb < 2; tb++) {
                    worst = Math.max(worst, check(ta == 1, tb == 1, 13, 37, 29, p[0], p[1], false));
                    worst = Math.max(worst, check(ta == 1, tb == 1, 6, 16, 1, p[0], p[1], false));
                    worst = Math.max(worst, check(ta == 1, tb == 1, 1, 1, 5, p[0], p[1], false));
                }
            }
        }
        System.out.printf("gemm alpha/beta/ld/offsets (%s): max abs error %.3g%n", path(vector), worst);
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {true, false})
    void sizesCrossingEveryBlockBoundary(boolean vector) {
        GemmPaths.select(vector);
        double worst = 0;
        // k > KC (several depth blocks), m > MC and > MB (several row blocks and packs), n > NC (several panels)
        int[][] sizes = {
                {CpuGemm.MC + 5, 70, CpuGemm.KC * 2 + 3},
                {CpuGemm.MB + 7, 19, 33},
                {5, CpuGemm.NC + 21, 9},
                {150, 300, 520},
                {64, 64, 32},
                {8, 512, 128},
        };
        for (int[] s : sizes) {
            for (int ta = 0; ta < 2; ta++) {
                for (int tb = 0; tb < 2; tb++) {
                    worst = Math.max(worst, check(ta == 1, tb == 1, s[0], s[1], s[2], 0.75f, 0.5f, true));
                }
            }
        }
        System.out.printf("gemm block boundaries (%s): max abs error %.3g%n", path(vector), worst);
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {true, false})
    void betaZeroIgnoresNaNAndKZeroScales(boolean vector) {
        GemmPaths.select(vector);
        // beta == 0 must overwrite NaN garbage in C
        double err = check(false, false, 9, 21, 7, 1f, 0f, true);
        // k == 0 and alpha == 0: C = beta * C
        float[] c = {1f, 2f, 3f, 4f};
        CpuGemm.sgemm(false, false, 2, 2, 0, 1f, new float[0], 0, 0, new float[0], 0, 2, 0.5f, c, 0, 2);
        assertArrayClose(new float[] {0.5f, 1f, 1.5f, 2f}, c);
        float[] nan = {Float.NaN, Float.NaN};
        CpuGemm.sgemm(false, false, 1, 2, 3, 0f, new float[3], 0, 3, new float[6], 0, 2, 0f, nan, 0, 2);
        assertArrayClose(new float[] {0f, 0f}, nan);
        System.out.printf("gemm beta=0 over NaN, k=0, alpha=0 (%s): max abs error %.3g%n", path(vector), err);
    }

    @Test void rejectsArraysTooSmallForTheirDimensions() {
        assertThrows(IllegalArgumentException.class, () ->
                CpuGemm.sgemm(false, false, 4, 4, 4, 1f, new float[15], 0, 4, new float[16], 0, 4, 0f, new float[16], 0, 4));
        assertThrows(IllegalArgumentException.class, () ->
                CpuGemm.sgemm(false, true, 4, 4, 4, 1f, new float[16], 0, 4, new float[16], 0, 3, 0f, new float[16], 0, 4));
    }

    /** Few rows and a width of whole strips: B is read in place instead of packed (CpuGemm.DIRECT_B_MAX_M). */
    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {true, false})
    void fewRowsReadBInPlace(boolean vector) {
        GemmPaths.select(vector);
        double worst = 0;
        int[] ms = {1, 5, 6, 16, 31, CpuGemm.DIRECT_B_MAX_M};
        int[] ns = {16, 48, 1024, CpuGemm.NC + 16};
        int[] ks = {1, 9, CpuGemm.KC + 7};
        float[][] ab = {{1f, 0f}, {-0.5f, 1f}, {2f, 0.25f}};
        for (int ta = 0; ta < 2; ta++) {
            for (int m : ms) {
                for (int n : ns) {
                    for (int k : ks) {
                        if ((long) m * n * k > 4_000_000L) continue;
                        float[] p = ab[(m + n + k) % ab.length];
                        worst = Math.max(worst, check(ta == 1, false, m, n, k, p[0], p[1], true));
                    }
                }
            }
        }
        System.out.printf("gemm few rows, B in place (%s): max abs error %.3g%n", path(vector), worst);
    }

    @Test void reportsThePathInUse() {
        GemmPaths.select(false);
        assertFalse(CpuGemm.vectorized());
        assertFalse(CpuBackend.get().description().contains("Vector API"));
        if (CpuGemm.vectorAvailable()) {
            GemmPaths.select(true);
            assertTrue(CpuGemm.vectorized());
            assertTrue(CpuBackend.get().description().contains("Vector API"));
        }
    }

    /**
     * Runs one product with random leading-dimension padding and offsets and compares with the double
     * reference, including that C's padding is untouched. Returns the max abs error.
     */
    private double check(boolean ta, boolean tb, int m, int n, int k, float alpha, float beta, boolean nanC) {
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + rng.nextInt(4), ldb = bCols + rng.nextInt(4), ldc = n + rng.nextInt(4);
        int aOff = rng.nextInt(5), bOff = rng.nextInt(5), cOff = rng.nextInt(5);
        float[] a = random(aOff + aRows * lda), b = random(bOff + bRows * ldb), c = random(cOff + m * ldc + 3);
        if (nanC && beta == 0f) {
            for (int i = 0; i < m; i++) java.util.Arrays.fill(c, cOff + i * ldc, cOff + i * ldc + n, Float.NaN);
        }
        float[] before = c.clone();
        CpuGemm.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        double worst = 0;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double ref = 0, mag = 0;
                for (int p = 0; p < k; p++) {
                    double av = ta ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    double bv = tb ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    ref += av * bv;
                    mag += Math.abs(av * bv);
                }
                ref *= alpha;
                mag *= Math.abs(alpha);
                if (beta != 0f) {
                    ref += (double) beta * before[cOff + i * ldc + j];
                    mag += Math.abs((double) beta * before[cOff + i * ldc + j]);
                }
                double got = c[cOff + i * ldc + j];
                double err = Math.abs(got - ref);
                // float32 accumulation bound: about (k + 2) unit roundoffs of the magnitude sum
                double tol = (k + 2) * 1.2e-7 * mag + 1e-30;
                if (!(err <= tol)) {
                    fail(String.format("C[%d][%d] = %s, expected %s (err %.3g > %.3g) for ta=%b tb=%b m=%d n=%d k=%d alpha=%s beta=%s",
                            i, j, got, ref, err, tol, ta, tb, m, n, k, alpha, beta));
                }
                worst = Math.max(worst, err);
            }
        }
        for (int idx = 0; idx < c.length; idx++) {
            int rel = idx - cOff;
            boolean inside = rel >= 0 && rel / ldc < m && rel % ldc < n;
            if (!inside) assertEquals(before[idx], c[idx], "C outside the product changed at " + idx);
        }
        return worst;
    }

    private static void assertArrayClose(float[] expected, float[] got) {
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], got[i], 1e-7f, "element " + i);
    }

    private float[] random(int size) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) x[i] = (float) (rng.nextDouble() * 2 - 1);
        return x;
    }

    private static String path(boolean vector) { return vector ? "vector" : "scalar"; }
}
