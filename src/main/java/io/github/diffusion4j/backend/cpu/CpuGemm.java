package io.github.diffusion4j.backend.cpu;

/**
 * Single-precision GEMM on Java arrays: C = alpha * op(A) @ op(B) + beta * C, row-major with leading
 * dimensions and offsets.
 *
 * <p>Structure (after Goto / BLIS): the loops over C are blocked so that a KC x NC panel of op(B) stays in
 * the last-level cache and an MC x KC block of op(A) in L2; both are copied ("packed") into contiguous,
 * zero-padded strips that the register-blocked micro-kernel ({@link GemmKernel}) streams through with unit
 * stride. Packing absorbs the transposes and alpha, so the micro-kernel sees one layout only. Work is split
 * across {@link Parallel}'s threads over blocks of C (rows in MC steps, columns in strips), so both small-M
 * and small-N products keep every core busy; products below {@link #PARALLEL_MIN_FMAS} run on the calling
 * thread.
 *
 * <p>The micro-kernel is {@link VectorGemmKernel} (Vector API, 6 x 16 tile of FMAs) when the
 * {@code jdk.incubator.vector} module is present and 256-bit vectors are native, else
 * {@link ScalarGemmKernel} (tests switch between the two with {@link #useVectorApi}).
 */
public final class CpuGemm {
    /** Depth of a packed block: a 6 x KC strip of A (6 KB) and a KC x 16 strip of B (16 KB) fit in L1. */
    static final int KC = 256;
    /** Rows of A per thread-level block: MC x KC = 144 KB, resident in L2. A multiple of every kernel's mr. */
    static final int MC = 144;
    /** Columns of B per packed panel: KC x NC = 3 MB, resident in L3. A multiple of every kernel's nr. */
    static final int NC = 3072;
    /** Rows of A packed at once (bounds the packed-A buffer to MB x KC floats). A multiple of MC. */
    static final int MB = 8 * MC;
    /**
     * With at most this many rows of C, a row-major op(B) whose width is whole kernel strips is read in place
     * instead of packed: each element of B then serves only a few rows, so copying it cost about as much as the
     * multiply-adds (the convolutions of small-channel models: C[Cout x P] = W @ col with Cout = 16..48).
     */
    static final int DIRECT_B_MAX_M = 48;
    /** Products with fewer multiply-adds than this run on the calling thread (waking a helper costs µs). */
    static final long PARALLEL_MIN_FMAS = 1L << 18;

    private static final boolean VECTOR_AVAILABLE = vectorApiPresent();
    private static volatile GemmKernel kernel = VECTOR_AVAILABLE ? vectorKernel() : ScalarGemmKernel.INSTANCE;

    /** Per-calling-thread packing buffers, grown on demand and reused across calls. */
    private static final ThreadLocal<float[][]> PACK = ThreadLocal.withInitial(() -> new float[2][0]);

    private CpuGemm() {}

    /** True when the Vector API micro-kernel is in use. */
    public static boolean vectorized() { return kernel != ScalarGemmKernel.INSTANCE; }

    /** True when the Vector API kernel could be used (module present and 256-bit vectors native). */
    static boolean vectorAvailable() { return VECTOR_AVAILABLE; }

    /**
     * Selects the Vector API kernel ({@code true}) or the scalar fallback, for tests.
     *
     * @throws IllegalStateException when the Vector API kernel is requested but not available
     */
    static void useVectorApi(boolean on) {
        if (on && !VECTOR_AVAILABLE) throw new IllegalStateException("Vector API GEMM not available in this JVM");
        kernel = on ? vectorKernel() : ScalarGemmKernel.INSTANCE;
    }

    private static boolean vectorApiPresent() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent() && VectorGemmKernel.supported();
    }

    /** Only called once the module is known to be present, so VectorGemmKernel is never loaded without it. */
    private static GemmKernel vectorKernel() { return new VectorGemmKernel(); }

    /**
     * C = alpha * op(A) @ op(B) + beta * C, where op(A) is m x k (A stored k x m when {@code transA}) and op(B)
     * is k x n (B stored n x k when {@code transB}); element (i, j) of a matrix X lives at
     * {@code x[xOff + i * ldx + j]}. When beta is 0, C is only written, never read (it may hold NaN).
     */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float beta, float[] c, int cOff, int ldc) {
        checkSizes(1, m, n, k);
        if (m == 0 || n == 0) return;
        checkOperands(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        if (k == 0 || alpha == 0f) {
            scale(m, n, beta, c, cOff, ldc);
            return;
        }
        boolean parallel = Parallel.threads() > 1 && (long) m * n * k >= PARALLEL_MIN_FMAS;
        multiply(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, parallel);
    }

    /**
     * {@code batch} independent products C_i = alpha * op(A_i) @ op(B_i) + beta * C_i, where matrix i of X
     * starts at {@code xOff + i * strideX} (strides >= 0; otherwise the conventions of {@link #sgemm}). Small
     * products (attention over many heads) run one per thread; large ones one after another, each split
     * across the threads.
     */
    public static void sgemmBatched(int batch, boolean transA, boolean transB, int m, int n, int k, float alpha,
                                    float[] a, int aOff, int strideA, int lda, float[] b, int bOff, int strideB, int ldb,
                                    float beta, float[] c, int cOff, int strideC, int ldc) {
        checkSizes(batch, m, n, k);
        if (strideA < 0 || strideB < 0 || strideC < 0) throw new IllegalArgumentException("negative batch stride");
        boolean small = (long) m * n * k < PARALLEL_MIN_FMAS && k > 0 && alpha != 0f && Parallel.threads() > 1;
        if (!small || batch == 1) {
            for (int i = 0; i < batch; i++) {
                sgemm(transA, transB, m, n, k, alpha, a, aOff + i * strideA, lda, b, bOff + i * strideB, ldb,
                        beta, c, cOff + i * strideC, ldc);
            }
            return;
        }
        if (batch == 0 || m == 0 || n == 0) return;
        // with non-negative strides the first and the last matrices bound all the others
        checkOperands(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        int last = batch - 1;
        checkOperands(transA, transB, m, n, k, a, aOff + last * strideA, lda, b, bOff + last * strideB, ldb,
                c, cOff + last * strideC, ldc);
        int grain = (int) Math.max(1, PARALLEL_MIN_FMAS / ((long) m * n * k));
        Parallel.forRange(batch, grain, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                multiply(transA, transB, m, n, k, alpha, a, aOff + i * strideA, lda, b, bOff + i * strideB, ldb,
                        beta, c, cOff + i * strideC, ldc, false);
            }
        });
    }

    /** The blocked product, after argument checks; m, n, k > 0 and alpha != 0. */
    private static void multiply(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                 float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                                 float beta, float[] c, int cOff, int ldc, boolean parallel) {
        GemmKernel kern = kernel;
        int mr = kern.mr(), nr = kern.nr();
        float[][] buffers = PACK.get();
        boolean directB = !transB && m <= DIRECT_B_MAX_M && n % nr == 0;
        int needA = roundUp(Math.min(m, MB), mr) * Math.min(k, KC);
        int needB = directB ? 0 : roundUp(Math.min(n, NC), nr) * Math.min(k, KC);
        if (buffers[0].length < needA) buffers[0] = new float[needA];
        if (buffers[1].length < needB) buffers[1] = new float[needB];
        float[] ap = buffers[0], bp = buffers[1];

        for (int ic = 0; ic < m; ic += MB) {
            int mb = Math.min(MB, m - ic);
            int aStrips = (mb + mr - 1) / mr;
            for (int jc = 0; jc < n; jc += NC) {
                int nb = Math.min(NC, n - jc);
                int bStrips = (nb + nr - 1) / nr;
                for (int pc = 0; pc < k; pc += KC) {
                    int kb = Math.min(KC, k - pc);
                    int row0 = ic, col0 = jc, depth0 = pc;
                    // pack op(A)[ic.., pc..] and op(B)[pc.., jc..], one strip per index
                    int packB = directB ? 0 : bStrips;
                    run(parallel, aStrips + packB, (lo, hi) -> {
                        for (int s = lo; s < hi; s++) {
                            if (s < aStrips) {
                                int r = s * mr;
                                packA(transA, a, aOff, lda, row0 + r, Math.min(mr, mb - r), depth0, kb, alpha, mr, ap, s * mr * kb);
                            } else {
                                int j = (s - aStrips) * nr;
                                packB(transB, b, bOff, ldb, depth0, kb, col0 + j, Math.min(nr, nb - j), nr, bp, j * kb);
                            }
                        }
                    });
                    // multiply: tasks are (MC-row block) x (column chunk of whole strips)
                    float bet = pc == 0 ? beta : 1f;
                    int mBlocks = (mb + MC - 1) / MC;
                    int nChunks = parallel ? Math.min(bStrips, Math.max(1, (4 * Parallel.threads() + mBlocks - 1) / mBlocks)) : 1;
                    int chunkCols = (bStrips + nChunks - 1) / nChunks * nr;
                    int chunksPerRow = (nb + chunkCols - 1) / chunkCols;
                    run(parallel, mBlocks * chunksPerRow, (lo, hi) -> {
                        for (int t = lo; t < hi; t++) {
                            int i0 = (t / chunksPerRow) * MC, j0 = (t % chunksPerRow) * chunkCols;
                            int mc = Math.min(MC, mb - i0), ncols = Math.min(chunkCols, nb - j0);
                            if (directB) {
                                kern.multiply(mc, ncols, kb, ap, i0 * kb, b, bOff + depth0 * ldb + col0 + j0, 1, ldb,
                                        bet, c, cOff + (row0 + i0) * ldc + col0 + j0, ldc);
                            } else {
                                kern.multiply(mc, ncols, kb, ap, i0 * kb, bp, j0 * kb, kb, nr, bet,
                                        c, cOff + (row0 + i0) * ldc + col0 + j0, ldc);
                            }
                        }
                    });
                }
            }
        }
    }

    private static void run(boolean parallel, int n, Parallel.RangeBody body) {
        if (parallel) Parallel.forRange(n, 1, body);
        else body.run(0, n);
    }

    /**
     * Packs rows [row0, row0+rows) x depth [p0, p0+kb) of alpha * op(A) into one strip of {@code mr} rows at
     * dst[d..]: element (r, p) at d + p * mr + r, rows beyond {@code rows} zero.
     */
    private static void packA(boolean transA, float[] a, int aOff, int lda, int row0, int rows, int p0, int kb,
                              float alpha, int mr, float[] dst, int d) {
        if (transA) packSlices(a, aOff + p0 * lda + row0, lda, rows, kb, alpha, dst, d, mr);
        else packInterleaved(a, aOff + row0 * lda + p0, lda, rows, kb, alpha, dst, d, mr);
    }

    /**
     * Packs depth [p0, p0+kb) x columns [col0, col0+cols) of op(B) into one strip of {@code nr} columns at
     * dst[d..]: element (p, j) at d + p * nr + j, columns beyond {@code cols} zero.
     */
    private static void packB(boolean transB, float[] b, int bOff, int ldb, int p0, int kb, int col0, int cols,
                              int nr, float[] dst, int d) {
        if (transB) packInterleaved(b, bOff + col0 * ldb + p0, ldb, cols, kb, 1f, dst, d, nr);
        else packSlices(b, bOff + p0 * ldb + col0, ldb, cols, kb, 1f, dst, d, nr);
    }

    /**
     * dst[d + p * width + v] = scale * src[s + p * ld + v] for p < kb, v < count; zero for count <= v < width
     * (the strip's vectors lie side by side in each source row).
     */
    private static void packSlices(float[] src, int s, int ld, int count, int kb, float scale, float[] dst, int d,
                                   int width) {
        for (int p = 0; p < kb; p++) {
            int i = s + p * ld, o = d + p * width;
            for (int v = 0; v < count; v++) dst[o + v] = scale * src[i + v];
            for (int v = count; v < width; v++) dst[o + v] = 0f;
        }
    }

    /**
     * dst[d + p * width + v] = scale * src[s + v * ld + p] for p < kb, v < count; zero for count <= v < width
     * (each of the strip's vectors is a contiguous source row). Four rows are read side by side, which keeps
     * the strided writes within a few cache lines (about twice as fast as one row at a time).
     */
    private static void packInterleaved(float[] src, int s, int ld, int count, int kb, float scale, float[] dst,
                                        int d, int width) {
        int v = 0;
        for (; v + 4 <= count; v += 4) {
            int s0 = s + v * ld, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
            for (int p = 0, o = d + v; p < kb; p++, o += width) {
                dst[o] = scale * src[s0 + p];
                dst[o + 1] = scale * src[s1 + p];
                dst[o + 2] = scale * src[s2 + p];
                dst[o + 3] = scale * src[s3 + p];
            }
        }
        for (; v < count; v++) {
            int s0 = s + v * ld;
            for (int p = 0, o = d + v; p < kb; p++, o += width) dst[o] = scale * src[s0 + p];
        }
        for (; v < width; v++) {
            for (int p = 0, o = d + v; p < kb; p++, o += width) dst[o] = 0f;
        }
    }

    /** c[rows x cols] = tile[rows x cols] + beta * c, for the edge tiles of a kernel (c not read if beta == 0). */
    static void mergeTile(float[] tile, int ldt, int rows, int cols, float beta, float[] c, int cOff, int ldc) {
        for (int r = 0; r < rows; r++) {
            int t = r * ldt, o = cOff + r * ldc;
            if (beta == 0f) {
                System.arraycopy(tile, t, c, o, cols);
            } else {
                for (int j = 0; j < cols; j++) c[o + j] = tile[t + j] + beta * c[o + j];
            }
        }
    }

    /** C = beta * C (zero-filled when beta == 0, so NaN garbage does not survive). */
    private static void scale(int m, int n, float beta, float[] c, int cOff, int ldc) {
        if (beta == 1f) return;
        for (int i = 0; i < m; i++) {
            int row = cOff + i * ldc;
            if (beta == 0f) java.util.Arrays.fill(c, row, row + n, 0f);
            else for (int j = 0; j < n; j++) c[row + j] *= beta;
        }
    }

    private static void checkSizes(int batch, int m, int n, int k) {
        if (batch < 0 || m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("negative GEMM size: batch " + batch + ", " + m + "x" + n + "x" + k);
        }
    }

    private static void checkOperands(boolean transA, boolean transB, int m, int n, int k, float[] a, int aOff, int lda,
                                      float[] b, int bOff, int ldb, float[] c, int cOff, int ldc) {
        checkMatrix("C", c, cOff, m, n, ldc);
        if (k == 0) return;
        checkMatrix("A", a, aOff, transA ? k : m, transA ? m : k, lda);
        checkMatrix("B", b, bOff, transB ? n : k, transB ? k : n, ldb);
    }

    private static void checkMatrix(String name, float[] x, int off, int rows, int cols, int ld) {
        if (ld < cols || off < 0 || (long) off + (long) (rows - 1) * ld + cols > x.length) {
            throw new IllegalArgumentException("GEMM matrix " + name + " (" + rows + "x" + cols + ", offset " + off
                    + ", leading dimension " + ld + ") does not fit an array of " + x.length);
        }
    }

    private static int roundUp(int x, int multiple) { return (x + multiple - 1) / multiple * multiple; }
}
