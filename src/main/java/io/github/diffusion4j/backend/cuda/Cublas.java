package io.github.diffusion4j.backend.cuda;

/**
 * cuBLAS through the JNI shim (native/cublas.c). The native calls are column-major, as cuBLAS is;
 * {@link #matmulRowMajor} and {@link #batchedMatmulRowMajor} map the row-major products of the Backend
 * interface onto them (C = A B row-major is C^T = B^T A^T column-major, so the operands swap). Handles, device
 * addresses and the stream are {@code long}s. Failures throw {@link CudaException} naming the call and cuBLAS's
 * status name and string.
 *
 * <p>Not exercised on a GPU yet: written against cublas_api.h, compiled and linked, never run.
 */
public final class Cublas {
    private Cublas() {}

    /** cublasOperation_t. */
    public static final int OP_N = 0, OP_T = 1;
    /** cublasMath_t. */
    public static final int DEFAULT_MATH = 0, PEDANTIC_MATH = 2, TF32_TENSOR_OP_MATH = 3;
    /** cublasComputeType_t. */
    public static final int COMPUTE_32F = 68, COMPUTE_32F_PEDANTIC = 69, COMPUTE_32F_FAST_TF32 = 77;
    /** cudaDataType (library_types.h). */
    public static final int R_32F = 0, R_16BF = 14;

    /** The cudaDataType of a tensor's elements. */
    static int dataType(io.github.diffusion4j.tensor.DType d) {
        return switch (d) {
            case F32 -> R_32F;
            case BF16 -> R_16BF;
            default -> throw new IllegalArgumentException("no cuBLAS GEMM on " + d + " tensors");
        };
    }

    public static native long create();

    public static native void destroy(long handle);

    public static native void setStream(long handle, long stream);

    public static native void setMathMode(long handle, int mode);

    public static native void setWorkspace(long handle, long workspace, long bytes);

    public static native void sgemm(long handle, int transa, int transb, int m, int n, int k, float alpha, long a,
                                    int lda, long b, int ldb, float beta, long c, int ldc);

    public static native void sgemmStridedBatched(long handle, int transa, int transb, int m, int n, int k, float alpha,
                                                  long a, int lda, long strideA, long b, int ldb, long strideB,
                                                  float beta, long c, int ldc, long strideC, int batch);

    public static native void gemmEx(long handle, int transa, int transb, int m, int n, int k, float alpha, long a,
                                     int lda, long b, int ldb, float beta, long c, int ldc, int abType, int cType,
                                     int computeType);

    public static native void gemmStridedBatchedEx(long handle, int transa, int transb, int m, int n, int k,
                                                   float alpha, long a, int lda, long strideA, long b, int ldb,
                                                   long strideB, float beta, long c, int ldc, long strideC, int batch,
                                                   int abType, int cType, int computeType);

    /**
     * Row-major C[m, n] = alpha op(A) op(B) + beta C, with A stored as [m, k] (or [k, m] when transA) and B as
     * [k, n] (or [n, k] when transB), all contiguous. Issued as the column-major product C^T = op(B)^T op(A)^T.
     */
    public static void matmulRowMajor(long handle, boolean transA, boolean transB, int m, int n, int k, float alpha,
                                      long a, long b, float beta, long c, int computeType) {
        matmulRowMajor(handle, transA, transB, m, n, k, alpha, a, b, beta, c, R_32F, R_32F, computeType);
    }

    /** The same with A and B of cudaDataType {@code abType} and C of {@code cType}. */
    public static void matmulRowMajor(long handle, boolean transA, boolean transB, int m, int n, int k, float alpha,
                                      long a, long b, float beta, long c, int abType, int cType, int computeType) {
        int lda = transA ? m : k;   // row length of A as stored
        int ldb = transB ? k : n;
        gemmEx(handle, transB ? OP_T : OP_N, transA ? OP_T : OP_N, n, m, k, alpha, b, ldb, a, lda, beta, c, n,
                abType, cType, computeType);
    }

    /** {@link #matmulRowMajor} for {@code batch} products with consecutive operands (byte-free strides in floats). */
    public static void batchedMatmulRowMajor(long handle, boolean transA, boolean transB, int m, int n, int k,
                                             float alpha, long a, long b, float beta, long c, int batch,
                                             int computeType) {
        batchedMatmulRowMajor(handle, transA, transB, m, n, k, alpha, a, (long) m * k, b, (long) k * n, beta, c,
                (long) m * n, batch, R_32F, R_32F, computeType);
    }

    /**
     * The same with the matrices {@code strideA} / {@code strideB} / {@code strideC} elements apart, A and B of
     * cudaDataType {@code abType}, C of {@code cType}.
     */
    public static void batchedMatmulRowMajor(long handle, boolean transA, boolean transB, int m, int n, int k,
                                             float alpha, long a, long strideA, long b, long strideB, float beta, long c,
                                             long strideC, int batch, int abType, int cType, int computeType) {
        int lda = transA ? m : k;
        int ldb = transB ? k : n;
        gemmStridedBatchedEx(handle, transB ? OP_T : OP_N, transA ? OP_T : OP_N, n, m, k, alpha, b, ldb, strideB,
                a, lda, strideA, beta, c, n, strideC, batch, abType, cType, computeType);
    }
}
