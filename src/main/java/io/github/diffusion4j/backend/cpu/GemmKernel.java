package io.github.diffusion4j.backend.cpu;

/**
 * The inner part of {@link CpuGemm}: multiplies one packed block of A by one packed panel of B into C.
 * Implementations differ only in their register-blocked micro-kernel (Vector API or plain scalar code) and
 * in its tile size {@link #mr()} x {@link #nr()}.
 *
 * <p>Packed layouts (written by {@link CpuGemm}): A is cut into strips of {@code mr} rows; strip {@code s}
 * starts at {@code s * mr * kc} and holds element (row r, depth p) at {@code p * mr + r}. B is cut into strips
 * of {@code nr} columns; strip {@code s} starts at {@code s * nr * kc} and holds (depth p, column j) at
 * {@code p * nr + j}. Both are zero-padded to whole strips, so a kernel may always compute a full tile.
 */
interface GemmKernel {
    /** Rows of C per micro-tile. */
    int mr();

    /** Columns of C per micro-tile. */
    int nr();

    /**
     * C[0..mc, 0..nc) = packedA @ B + beta * C (beta == 0: C is not read). B is either packed (column j's strip
     * starts at {@code bOff + j * kc}, depth stride {@code nr}) or read in place from a row-major matrix whose
     * columns [0, nc) are whole strips (strip at {@code bOff + j}, depth stride {@code ldb}): the caller passes
     * {@code bColStep} = kc or 1 and {@code bStride} = nr or ldb.
     *
     * @param aOff start of the first A strip in {@code ap}
     * @param bOff start of the first B strip (or element) in {@code bp}
     */
    void multiply(int mc, int nc, int kc, float[] ap, int aOff, float[] bp, int bOff, int bColStep, int bStride,
                  float beta, float[] c, int cOff, int ldc);
}
