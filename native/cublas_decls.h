/*
 * The cuBLAS declarations the shim calls, by value from cublas_api.h (checked against cuBLAS 12.6; the v2 API
 * and these enums are unchanged in cuBLAS 13) and library_types.h (present in CUDA 13.0's include/).
 * Enums are passed as int, the handle as void *, cudaStream_t as void *.
 */
#ifndef D4J_CUBLAS_DECLS_H
#define D4J_CUBLAS_DECLS_H

#include <stddef.h>

typedef int d4j_cublasStatus_t;   /* CUBLAS_STATUS_SUCCESS = 0 */
typedef void *d4j_cublasHandle_t; /* struct cublasContext * */

#define D4J_CUBLAS_STATUS_SUCCESS 0
#define D4J_CUBLAS_OP_N 0                     /* cublasOperation_t */
#define D4J_CUBLAS_OP_T 1
#define D4J_CUBLAS_DEFAULT_MATH 0             /* cublasMath_t */
#define D4J_CUBLAS_PEDANTIC_MATH 2
#define D4J_CUBLAS_TF32_TENSOR_OP_MATH 3
#define D4J_CUBLAS_COMPUTE_32F 68             /* cublasComputeType_t */
#define D4J_CUBLAS_COMPUTE_32F_PEDANTIC 69
#define D4J_CUBLAS_COMPUTE_32F_FAST_TF32 77
#define D4J_CUBLAS_GEMM_DEFAULT (-1)          /* cublasGemmAlgo_t */
#define D4J_CUDA_R_32F 0                      /* library_types.h: cudaDataType CUDA_R_32F */
#define D4J_CUDA_R_16BF 14                    /* library_types.h: cudaDataType CUDA_R_16BF */

/* library_types.h: libraryPropertyType_t { MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL } */
#define D4J_MAJOR_VERSION 0
#define D4J_MINOR_VERSION 1
#define D4J_PATCH_LEVEL 2

typedef d4j_cublasStatus_t (*d4j_cublasGetProperty_t)(int type, int *value);
typedef const char *(*d4j_cublasGetStatusString_t)(d4j_cublasStatus_t status);
typedef const char *(*d4j_cublasGetStatusName_t)(d4j_cublasStatus_t status);
typedef d4j_cublasStatus_t (*d4j_cublasCreate_v2_t)(d4j_cublasHandle_t *handle);
typedef d4j_cublasStatus_t (*d4j_cublasDestroy_v2_t)(d4j_cublasHandle_t handle);
typedef d4j_cublasStatus_t (*d4j_cublasSetStream_v2_t)(d4j_cublasHandle_t handle, void *stream);
typedef d4j_cublasStatus_t (*d4j_cublasSetMathMode_t)(d4j_cublasHandle_t handle, int mode);
typedef d4j_cublasStatus_t (*d4j_cublasSetWorkspace_v2_t)(d4j_cublasHandle_t handle, void *workspace,
                                                          size_t workspaceSizeInBytes);

typedef d4j_cublasStatus_t (*d4j_cublasSgemm_v2_t)(d4j_cublasHandle_t handle, int transa, int transb, int m, int n,
                                                   int k, const float *alpha, const float *A, int lda,
                                                   const float *B, int ldb, const float *beta, float *C, int ldc);
typedef d4j_cublasStatus_t (*d4j_cublasSgemmStridedBatched_t)(
    d4j_cublasHandle_t handle, int transa, int transb, int m, int n, int k, const float *alpha, const float *A,
    int lda, long long strideA, const float *B, int ldb, long long strideB, const float *beta, float *C, int ldc,
    long long strideC, int batchCount);
/* the exported C symbol takes cublasComputeType_t (the cudaDataType overload exists only for C++) */
typedef d4j_cublasStatus_t (*d4j_cublasGemmEx_t)(
    d4j_cublasHandle_t handle, int transa, int transb, int m, int n, int k, const void *alpha, const void *A,
    int Atype, int lda, const void *B, int Btype, int ldb, const void *beta, void *C, int Ctype, int ldc,
    int computeType, int algo);
typedef d4j_cublasStatus_t (*d4j_cublasGemmStridedBatchedEx_t)(
    d4j_cublasHandle_t handle, int transa, int transb, int m, int n, int k, const void *alpha, const void *A,
    int Atype, int lda, long long strideA, const void *B, int Btype, int ldb, long long strideB, const void *beta,
    void *C, int Ctype, int ldc, long long strideC, int batchCount, int computeType, int algo);

#endif
