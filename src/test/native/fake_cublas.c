/*
 * A stand-in for libcublas used by CublasShimTest: exports the functions the JNI shim calls, appends every call
 * with its arguments to LOG_PATH (a -D define given by the test) and returns CUBLAS_STATUS_INVALID_VALUE (7)
 * when m == 777, so the shim's argument passing and error reporting can be checked without a GPU.
 * Declarations follow cublas_api.h (enums as int, handles and streams as pointers).
 */
#include <stdio.h>
#include <stddef.h>

static void logf_(const char *line) {
    FILE *f = fopen(LOG_PATH, "a");
    if (f) {
        fputs(line, f);
        fputc('\n', f);
        fclose(f);
    }
}

static int handle_storage;

int cublasGetProperty(int type, int *value) { *value = type == 0 ? 13 : type == 1 ? 0 : 0; return 0; }
const char *cublasGetStatusName(int s) { return s == 7 ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_?"; }
const char *cublasGetStatusString(int s) { return s == 7 ? "an invalid numeric value was used as an argument" : "?"; }

int cublasCreate_v2(void **h) { *h = &handle_storage; logf_("create"); return 0; }
int cublasDestroy_v2(void *h) { logf_(h == &handle_storage ? "destroy ok" : "destroy bad"); return 0; }
int cublasSetStream_v2(void *h, void *s) {
    char b[128];
    snprintf(b, sizeof b, "setStream %llx", (unsigned long long) (size_t) s);
    logf_(b);
    return 0;
}
int cublasSetMathMode(void *h, int mode) {
    char b[64];
    snprintf(b, sizeof b, "setMathMode %d", mode);
    logf_(b);
    return 0;
}
int cublasSetWorkspace_v2(void *h, void *ws, size_t bytes) { return 0; }

int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda,
                   const float *B, int ldb, const float *beta, float *C, int ldc) {
    char b[512];
    snprintf(b, sizeof b, "sgemm %d %d %d %d %d %g %llx %d %llx %d %g %llx %d", ta, tb, m, n, k, *alpha,
             (unsigned long long) (size_t) A, lda, (unsigned long long) (size_t) B, ldb, *beta,
             (unsigned long long) (size_t) C, ldc);
    logf_(b);
    return m == 777 ? 7 : 0;
}

int cublasSgemmStridedBatched(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A,
                              int lda, long long sA, const float *B, int ldb, long long sB, const float *beta,
                              float *C, int ldc, long long sC, int batch) {
    char b[512];
    snprintf(b, sizeof b, "sgemmStridedBatched %d %d %d %d %d %g %llx %d %lld %llx %d %lld %g %llx %d %lld %d", ta, tb,
             m, n, k, *alpha, (unsigned long long) (size_t) A, lda, sA, (unsigned long long) (size_t) B, ldb, sB,
             *beta, (unsigned long long) (size_t) C, ldc, sC, batch);
    logf_(b);
    return m == 777 ? 7 : 0;
}

int cublasGemmEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A, int Atype, int lda,
                 const void *B, int Btype, int ldb, const void *beta, void *C, int Ctype, int ldc, int compute,
                 int algo) {
    char b[512];
    snprintf(b, sizeof b, "gemmEx %d %d %d %d %d %g %llx %d %d %llx %d %d %g %llx %d %d %d %d", ta, tb, m, n, k,
             *(const float *) alpha, (unsigned long long) (size_t) A, Atype, lda, (unsigned long long) (size_t) B,
             Btype, ldb, *(const float *) beta, (unsigned long long) (size_t) C, Ctype, ldc, compute, algo);
    logf_(b);
    return m == 777 ? 7 : 0;
}

int cublasGemmStridedBatchedEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A,
                               int Atype, int lda, long long sA, const void *B, int Btype, int ldb, long long sB,
                               const void *beta, void *C, int Ctype, int ldc, long long sC, int batch, int compute,
                               int algo) {
    char b[512];
    snprintf(b, sizeof b, "gemmStridedBatchedEx %d %d %d %d %d %g %llx %d %d %lld %llx %d %d %lld %g %llx %d %d %lld %d %d %d",
             ta, tb, m, n, k, *(const float *) alpha, (unsigned long long) (size_t) A, Atype, lda, sA,
             (unsigned long long) (size_t) B, Btype, ldb, sB, *(const float *) beta, (unsigned long long) (size_t) C,
             Ctype, ldc, sC, batch, compute, algo);
    logf_(b);
    return m == 777 ? 7 : 0;
}
