package io.github.diffusion4j.backend.cpu;

/**
 * Single-precision GEMM on Java arrays: C = alpha * op(A) @ op(B) + beta * C, row-major with leading
 * dimensions, multi-threaded over blocks of rows of C.
 */
public final class CpuGemm {
    private CpuGemm() {}

    /** True when the Vector API micro-kernel is in use. */
    public static boolean vectorized() { return false; }

    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float beta, float[] c, int cOff, int ldc) {
        if (m == 0 || n == 0) return;
        // scale C by beta first
        if (beta != 1f) {
            for (int i = 0; i < m; i++) {
                int row = cOff + i * ldc;
                if (beta == 0f) java.util.Arrays.fill(c, row, row + n, 0f);
                else for (int j = 0; j < n; j++) c[row + j] *= beta;
            }
        }
        if (k == 0 || alpha == 0f) return;
        // B as row-major K x N (copy when transposed)
        final float[] bb;
        final int bo, bld;
        if (transB) {
            bb = new float[k * n];
            for (int j = 0; j < n; j++) {
                int src = bOff + j * ldb;
                for (int p = 0; p < k; p++) bb[p * n + j] = b[src + p];
            }
            bo = 0;
            bld = n;
        } else {
            bb = b;
            bo = bOff;
            bld = ldb;
        }
        Parallel.forRange(m, Math.max(1, 16384 / Math.max(1, n * Math.min(k, 64))), (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int crow = cOff + i * ldc;
                for (int p = 0; p < k; p++) {
                    float av = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    if (av == 0f) continue;
                    av *= alpha;
                    int brow = bo + p * bld;
                    for (int j = 0; j < n; j++) c[crow + j] += av * bb[brow + j];
                }
            }
        });
    }
}
