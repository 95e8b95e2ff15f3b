/*
 * diffusion4j JNI shim: cuBLAS (v2 API, declared in cublas_decls.h), column-major as cuBLAS is.
 *
 * Java: io.github.diffusion4j.backend.cuda.Cublas, which maps row-major products onto these calls. Handles,
 * device addresses and streams are jlongs; alpha and beta are host floats (CUBLAS_POINTER_MODE_HOST, the
 * default). libcublas.so.13 or .12 must have been probed with keep=true before any call here.
 *
 * Every status is checked; a failure throws CudaException("<call>: <cublasGetStatusName> (<code>):
 * <cublasGetStatusString>") and the function returns at once.
 */
#include "d4j_native.h"
#include "cublas_decls.h"

#include <dlfcn.h>

#define CUBLAS D4J_LIB_CUBLAS

static int check(JNIEnv *env, d4j_cublasStatus_t status, const char *call) {
    if (status == D4J_CUBLAS_STATUS_SUCCESS) return 1;
    if ((*env)->ExceptionCheck(env)) return 0;
    void *h = d4j_lib_handle(CUBLAS);
    d4j_cublasGetStatusName_t nameFn = h ? (d4j_cublasGetStatusName_t) dlsym(h, "cublasGetStatusName") : NULL;
    d4j_cublasGetStatusString_t strFn = h ? (d4j_cublasGetStatusString_t) dlsym(h, "cublasGetStatusString") : NULL;
    d4j_throw(env, "%s: %s (%d)%s%s", call, nameFn ? nameFn(status) : "cuBLAS error", status, strFn ? ": " : "",
              strFn ? strFn(status) : "");
    return 0;
}

#define CHECK(env, expr, name, failret)                    \
    do {                                                   \
        if (!check((env), (expr), (name))) return failret; \
    } while (0)

JNIEXPORT jlong JNICALL Java_io_github_diffusion4j_backend_cuda_Cublas_create(JNIEnv *env, jclass cls) {
    D4J_FN(env, CUBLAS, d4j_cublasCreate_v2_t, fn, "cublasCreate_v2", 0);
    d4j_cublasHandle_t h = NULL;
    CHECK(env, fn(&h), "cublasCreate_v2", 0);
    return D4J_JLONG(h);
}

JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cublas_destroy(JNIEnv *env, jclass cls, jlong h) {
    D4J_FN(env, CUBLAS, d4j_cublasDestroy_v2_t, fn, "cublasDestroy_v2", );
    CHECK(env, fn(D4J_PTR(h)), "cublasDestroy_v2", );
}

JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cublas_setStream(JNIEnv *env, jclass cls, jlong h,
                                                                               jlong stream) {
    D4J_FN(env, CUBLAS, d4j_cublasSetStream_v2_t, fn, "cublasSetStream_v2", );
    CHECK(env, fn(D4J_PTR(h), D4J_PTR(stream)), "cublasSetStream_v2", );
}

/* mode: a cublasMath_t (0 default, 2 pedantic, 3 TF32 tensor ops) */
JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cublas_setMathMode(JNIEnv *env, jclass cls, jlong h,
                                                                                 jint mode) {
    D4J_FN(env, CUBLAS, d4j_cublasSetMathMode_t, fn, "cublasSetMathMode", );
    CHECK(env, fn(D4J_PTR(h), mode), "cublasSetMathMode", );
}

/* A caller-owned workspace (lets cuBLAS run without allocating on the stream, e.g. inside CUDA graphs). */
JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cublas_setWorkspace(JNIEnv *env, jclass cls, jlong h,
                                                                                  jlong ws, jlong bytes) {
    D4J_FN(env, CUBLAS, d4j_cublasSetWorkspace_v2_t, fn, "cublasSetWorkspace_v2", );
    CHECK(env, fn(D4J_PTR(h), D4J_PTR(ws), (size_t) bytes), "cublasSetWorkspace_v2", );
}

/* C = alpha op(A) op(B) + beta C, column-major; transa/transb are cublasOperation_t (0 N, 1 T). */
JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cublas_sgemm(JNIEnv *env, jclass cls, jlong h,
                                                                           jint transa, jint transb, jint m, jint n,
                                                                           jint k, jfloat alpha, jlong A, jint lda,
                                                                           jlong B, jint ldb, jfloat beta, jlong C,
                                                                           jint ldc) {
    D4J_FN(env, CUBLAS, d4j_cublasSgemm_v2_t, fn, "cublasSgemm_v2", );
    float a = alpha, b = beta;
    CHECK(env, fn(D4J_PTR(h), transa, transb, m, n, k, &a, D4J_PTR(A), lda, D4J_PTR(B), ldb, &b, D4J_PTR(C), ldc),
          "cublasSgemm_v2", );
}

JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cublas_sgemmStridedBatched(
    JNIEnv *env, jclass cls, jlong h, jint transa, jint transb, jint m, jint n, jint k, jfloat alpha, jlong A,
    jint lda, jlong strideA, jlong B, jint ldb, jlong strideB, jfloat beta, jlong C, jint ldc, jlong strideC,
    jint batch) {
    D4J_FN(env, CUBLAS, d4j_cublasSgemmStridedBatched_t, fn, "cublasSgemmStridedBatched", );
    float a = alpha, b = beta;
    CHECK(env, fn(D4J_PTR(h), transa, transb, m, n, k, &a, D4J_PTR(A), lda, (long long) strideA, D4J_PTR(B), ldb,
                  (long long) strideB, &b, D4J_PTR(C), ldc, (long long) strideC, batch),
          "cublasSgemmStridedBatched", );
}

/*
 * GEMM with explicit data types (cudaDataType: abType for A and B, cType for C; CUDA_R_32F = 0 or CUDA_R_16BF = 14)
 * and compute type (cublasComputeType_t): CUBLAS_COMPUTE_32F (68) for full FP32 (and bf16 inputs with FP32
 * accumulation), CUBLAS_COMPUTE_32F_FAST_TF32 (77) to allow TF32 tensor cores; algo CUBLAS_GEMM_DEFAULT. Alpha and
 * beta are floats (the scale type of a 32F compute type).
 */
JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cublas_gemmEx(JNIEnv *env, jclass cls, jlong h,
                                                                            jint transa, jint transb, jint m, jint n,
                                                                            jint k, jfloat alpha, jlong A, jint lda,
                                                                            jlong B, jint ldb, jfloat beta, jlong C,
                                                                            jint ldc, jint abType, jint cType,
                                                                            jint computeType) {
    D4J_FN(env, CUBLAS, d4j_cublasGemmEx_t, fn, "cublasGemmEx", );
    float a = alpha, b = beta;
    CHECK(env, fn(D4J_PTR(h), transa, transb, m, n, k, &a, D4J_PTR(A), abType, lda, D4J_PTR(B), abType, ldb, &b,
                  D4J_PTR(C), cType, ldc, computeType, D4J_CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx", );
}

JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cublas_gemmStridedBatchedEx(
    JNIEnv *env, jclass cls, jlong h, jint transa, jint transb, jint m, jint n, jint k, jfloat alpha, jlong A,
    jint lda, jlong strideA, jlong B, jint ldb, jlong strideB, jfloat beta, jlong C, jint ldc, jlong strideC,
    jint batch, jint abType, jint cType, jint computeType) {
    D4J_FN(env, CUBLAS, d4j_cublasGemmStridedBatchedEx_t, fn, "cublasGemmStridedBatchedEx", );
    float a = alpha, b = beta;
    CHECK(env, fn(D4J_PTR(h), transa, transb, m, n, k, &a, D4J_PTR(A), abType, lda, (long long) strideA,
                  D4J_PTR(B), abType, ldb, (long long) strideB, &b, D4J_PTR(C), cType, ldc,
                  (long long) strideC, batch, computeType, D4J_CUBLAS_GEMM_DEFAULT),
          "cublasGemmStridedBatchedEx", );
}
