package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The matrix products of the CUDA backend: cuBLAS (cublasGemmEx, cublasGemmStridedBatchedEx) through the JNI shim
 * ({@link Cublas}, native/cublas.c), row-major operands mapped to cuBLAS's column-major calls. CPU reference:
 * {@code backend/cpu/CpuGemm} (CpuBackend.matmul, batchedMatmul, stridedBatchedMatmul); conformance:
 * {@code BackendConformance.matmul / batchedMatmul}.
 */
final class GemmOps {
    private final CudaBackend cb;

    GemmOps(CudaBackend cb) {
        this.cb = cb;
    }

    /**
     * The products cuBLAS runs on these dtypes (c, a, b): all F32, or A and B BF16 with C BF16 or F32 (FP32
     * accumulation either way: cuBLAS's CUBLAS_COMPUTE_32F with CUDA_R_16BF inputs, bf16 tensor cores). Mixed A and B
     * are refused by the op's contract (Check.matmul), so DTypeStaging only ever converts the other C/A-B pairings.
     */
    static boolean handles(Tensor[] t) {
        DType c = t[0].dtype(), a = t[1].dtype(), b = t[2].dtype();
        if (a != b) return true;   // let Check.matmul refuse it, as on the CPU
        return a == DType.F32 ? c == DType.F32 : a == DType.BF16 && (c == DType.BF16 || c == DType.F32);
    }

    /** cuBLAS's compute type for these operands: the backend's FP32/TF32 choice, FP32 accumulation for bf16. */
    private int compute(Tensor a) { return a.dtype() == DType.F32 ? cb.gemmCompute : Cublas.COMPUTE_32F; }

    void matmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha, float beta) {
        cb.ensureContext();
        Check.Gemm g = Check.matmul(c, a, b, transA, transB);
        int m = g.m(), n = g.n(), k = g.k();
        if (m == 0 || n == 0) return;
        if (k == 0) {   // C = beta C; cuBLAS would refuse the zero leading dimension of an empty operand
            emptyProduct(c, beta);
            return;
        }
        if (cb.profiling()) cb.profileBegin();
        Cublas.matmulRowMajor(cb.cublasHandle(), transA, transB, m, n, k, alpha, cb.an(a), cb.an(b), beta, cb.a(c),
                Cublas.dataType(a.dtype()), Cublas.dataType(c.dtype()), compute(a));
        if (cb.profiling()) cb.profileEnd("cublasGemmEx " + m + "x" + n + "x" + k + (transA ? " A^T" : "") + (transB ? " B^T" : ""));
        cb.afterLibraryCall("cublasGemmEx");
    }

    void batchedMatmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha, float beta) {
        cb.ensureContext();
        Check.Gemm g = Check.batchedMatmul(c, a, b, transA, transB);
        int batch = g.batch(), m = g.m(), n = g.n(), k = g.k();
        gemmStridedBatched(c, (long) m * n, a, (long) m * k, b, (long) k * n, batch, m, n, k, transA, transB, alpha,
                beta, "");
    }

    void stridedBatchedMatmul(Tensor c, long strideC, Tensor a, long strideA, Tensor b, long strideB, int batch, int m,
                              int n, int k, boolean transA, boolean transB, float alpha, float beta) {
        cb.ensureContext();
        io.github.diffusion4j.tensor.StridedMatmul.check(c, strideC, a, strideA, b, strideB, batch, m, n, k);
        gemmStridedBatched(c, strideC, a, strideA, b, strideB, batch, m, n, k, transA, transB, alpha, beta, " (strided)");
    }

    /** One cublasGemmStridedBatchedEx over checked operands (label: the profile's suffix for this caller). */
    private void gemmStridedBatched(Tensor c, long strideC, Tensor a, long strideA, Tensor b, long strideB, int batch,
                                    int m, int n, int k, boolean transA, boolean transB, float alpha, float beta,
                                    String label) {
        if (batch == 0 || m == 0 || n == 0) return;
        if (k == 0) {
            for (int i = 0; i < batch; i++) emptyProduct(c.view(i * strideC, Shape.of(m, n)), beta);
            return;
        }
        if (cb.profiling()) cb.profileBegin();
        Cublas.batchedMatmulRowMajor(cb.cublasHandle(), transA, transB, m, n, k, alpha, cb.a(a), strideA, cb.a(b), strideB, beta,
                cb.a(c), strideC, batch, Cublas.dataType(a.dtype()), Cublas.dataType(c.dtype()), compute(a));
        if (cb.profiling()) cb.profileEnd("cublasGemmStridedBatchedEx " + batch + "x" + m + "x" + n + "x" + k
                + (transA ? " A^T" : "") + (transB ? " B^T" : "") + label);
        cb.afterLibraryCall("cublasGemmStridedBatchedEx");
    }

    /** A product over an empty inner dimension: C = beta C, where beta = 0 does not read C (as cuBLAS). */
    private void emptyProduct(Tensor c, float beta) {
        if (beta == 0f) cb.fill(c, 0f);
        else if (beta != 1f) cb.scale(c, c, beta);
    }
}
