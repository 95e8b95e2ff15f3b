/*
 * cublas_emu.c: a CPU stand-in for libcuBLAS, built as libcublas.so.13, used ONLY by the emulated-CUDA tests
 * (never shipped, never on a user's library path). In the emulation a "device pointer" is an ordinary host
 * pointer, so every routine computes directly on host memory; the stream is remembered but otherwise ignored
 * (the emulated driver has one queue).
 *
 * Asynchrony: the emulated libcuda.so.1 queues kernels, memsets and copies in stream order and runs them only at
 * synchronising calls, like a GPU. So a GEMM validates its arguments at call time (the statuses below), checks
 * with d4jemu_check_range that the bytes it will touch of A, B and C (every batch item: from the first to the last
 * element op(A), op(B) and C cover with their leading dimensions; A and B only when they are read) lie inside
 * live device allocations (else CUBLAS_STATUS_EXECUTION_FAILED, and the driver makes CUDA_ERROR_ILLEGAL_ADDRESS
 * sticky in the context, as a faulting kernel would), copies everything it needs by value (dimensions, strides,
 * pointers and the alpha / beta VALUES, which live in host memory the caller may change after the call) into a
 * closure and hands it to d4jemu_enqueue, which runs it in order with the driver's other work. The three
 * d4jemu_* functions are looked up lazily in the already-loaded libcuda.so.1 (dlopen RTLD_NOLOAD, so the shared
 * library needs -ldl on old glibc); when it is not loaded or lacks them (the standalone self-test), a GEMM runs
 * immediately, on the calling thread, without the range checks.
 *
 * Exports exactly what native/cublas.c and native/probe.c dlsym(): cublasGetProperty, cublasGetStatusName,
 * cublasGetStatusString, cublasCreate_v2, cublasDestroy_v2, cublasSetStream_v2, cublasSetMathMode,
 * cublasSetWorkspace_v2, cublasSgemm_v2, cublasSgemmStridedBatched, cublasGemmEx, cublasGemmStridedBatchedEx.
 *
 * Semantics follow cuBLAS (cublas_api.h, reference BLAS argument checking): column-major storage,
 * C = alpha op(A) op(B) + beta C with op from cublasOperation_t (0 N, 1 T, 2 C = T for real data), leading
 * dimensions honoured, strided batches; beta == 0 means C is not read (NaN or garbage there does not
 * propagate), alpha == 0 or k == 0 means A and B are not read. Every dot product is accumulated in double and
 * rounded to float once, so results do not depend on the math mode or compute type (no TF32 rounding is
 * emulated). Status codes: NULL or destroyed handle -> CUBLAS_STATUS_NOT_INITIALIZED, bad dimension, leading
 * dimension, operation or math mode -> CUBLAS_STATUS_INVALID_VALUE, GemmEx data / compute types other than
 * CUDA_R_32F with CUBLAS_COMPUTE_32F{,_PEDANTIC,_FAST_TF32} or CUDA_R_16BF A and B (C CUDA_R_16BF or CUDA_R_32F)
 * with CUBLAS_COMPUTE_32F{,_PEDANTIC} -> CUBLAS_STATUS_NOT_SUPPORTED (bf16 operands are widened exactly, a bf16 C
 * rounded once to nearest even), a NULL matrix that
 * would be touched, memory outside the live allocations or a context already broken ->
 * CUBLAS_STATUS_EXECUTION_FAILED.
 */
#define _GNU_SOURCE /* RTLD_NOLOAD */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_bf16.h"   /* bf16 <-> float */
#include "emu_queue.h"   /* driver(): the emulated driver's stream queue */

/* cublasStatus_t */
enum {
    ST_SUCCESS = 0,
    ST_NOT_INITIALIZED = 1,
    ST_ALLOC_FAILED = 3,
    ST_INVALID_VALUE = 7,
    ST_ARCH_MISMATCH = 8,
    ST_MAPPING_ERROR = 11,
    ST_EXECUTION_FAILED = 13,
    ST_INTERNAL_ERROR = 14,
    ST_NOT_SUPPORTED = 15,
    ST_LICENSE_ERROR = 16
};

#define HANDLE_MAGIC 0x43424c53u /* "CBLS" */

typedef struct {
    unsigned magic;
    void *stream;
    int mathMode;
    void *workspace; /* user workspace (NULL: the library's default pool) */
    size_t workspaceBytes;
} emu_cublas;


/* ------------------------------------------------------------------------------------------ status */

int cublasGetProperty(int type, int *value) {
    if (value == NULL) return ST_INVALID_VALUE;
    switch (type) {
        case 0: *value = 13; return ST_SUCCESS; /* MAJOR_VERSION */
        case 1: *value = 0; return ST_SUCCESS;  /* MINOR_VERSION */
        case 2: *value = 0; return ST_SUCCESS;  /* PATCH_LEVEL */
        default: return ST_INVALID_VALUE;
    }
}

const char *cublasGetStatusName(int status) {
    switch (status) {
        case ST_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case ST_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case ST_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case ST_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case ST_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case ST_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case ST_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case ST_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case ST_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case ST_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
        default: return "<unknown>";
    }
}

const char *cublasGetStatusString(int status) {
    switch (status) {
        case ST_SUCCESS: return "the operation completed successfully";
        case ST_NOT_INITIALIZED: return "the library was not initialized";
        case ST_ALLOC_FAILED: return "the resource allocation failed";
        case ST_INVALID_VALUE: return "an invalid numeric value was used as an argument";
        case ST_ARCH_MISMATCH: return "an absent device architectural feature is required";
        case ST_MAPPING_ERROR: return "an access to GPU memory space failed";
        case ST_EXECUTION_FAILED: return "the GPU program failed to execute";
        case ST_INTERNAL_ERROR: return "an internal operation failed";
        case ST_NOT_SUPPORTED: return "the functionality requested is not supported";
        case ST_LICENSE_ERROR: return "the functionality requested requires some license";
        default: return "<unknown>";
    }
}

/* ------------------------------------------------------------------------------------------ handle */

static emu_cublas *get_handle(void *h) {
    emu_cublas *c = (emu_cublas *) h;
    return c != NULL && c->magic == HANDLE_MAGIC ? c : NULL;
}

int cublasCreate_v2(void **handle) {
    if (handle == NULL) return ST_INVALID_VALUE;
    emu_cublas *c = calloc(1, sizeof *c);
    if (c == NULL) {
        *handle = NULL;
        return ST_ALLOC_FAILED;
    }
    c->magic = HANDLE_MAGIC;
    *handle = c;
    return ST_SUCCESS;
}

int cublasDestroy_v2(void *handle) {
    emu_cublas *c = get_handle(handle);
    if (c == NULL) return ST_NOT_INITIALIZED;
    c->magic = 0;
    free(c);
    return ST_SUCCESS;
}

/* As in cuBLAS, setting the stream also resets a user workspace to the default pool. */
int cublasSetStream_v2(void *handle, void *stream) {
    emu_cublas *c = get_handle(handle);
    if (c == NULL) return ST_NOT_INITIALIZED;
    c->stream = stream;
    c->workspace = NULL;
    c->workspaceBytes = 0;
    return ST_SUCCESS;
}

/* cublasMath_t: DEFAULT 0, TENSOR_OP 1 (deprecated), PEDANTIC 2, TF32_TENSOR_OP 3, optionally | 16
   (CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION) */
int cublasSetMathMode(void *handle, int mode) {
    emu_cublas *c = get_handle(handle);
    if (c == NULL) return ST_NOT_INITIALIZED;
    int base = mode & ~16;
    if (base < 0 || base > 3) return ST_INVALID_VALUE;
    c->mathMode = mode;
    return ST_SUCCESS;
}

/* cuBLAS requires the user workspace to be aligned to at least 256 bytes. */
int cublasSetWorkspace_v2(void *handle, void *workspace, size_t workspaceSizeInBytes) {
    emu_cublas *c = get_handle(handle);
    if (c == NULL) return ST_NOT_INITIALIZED;
    if (workspace != NULL && ((uintptr_t) workspace & 255u) != 0) return ST_INVALID_VALUE;
    if (workspace == NULL && workspaceSizeInBytes != 0) return ST_INVALID_VALUE;
    c->workspace = workspace;
    c->workspaceBytes = workspaceSizeInBytes;
    return ST_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ gemm */

static int is_trans(int op) { return op == 1 || op == 2; } /* CUBLAS_OP_T, CUBLAS_OP_C (= T for real data) */

static int max1(int v) { return v > 1 ? v : 1; }

/* The reference-BLAS argument checks of xGEMM (plus cuBLAS's handle and scalar-pointer checks). */
static int check_gemm(void *handle, int transa, int transb, int m, int n, int k, const void *alpha,
                      const void *beta, int lda, int ldb, int ldc) {
    if (get_handle(handle) == NULL) return ST_NOT_INITIALIZED;
    if (transa < 0 || transa > 2 || transb < 0 || transb > 2) return ST_INVALID_VALUE;
    if (m < 0 || n < 0 || k < 0) return ST_INVALID_VALUE;
    if (lda < max1(is_trans(transa) ? k : m)) return ST_INVALID_VALUE;
    if (ldb < max1(is_trans(transb) ? n : k)) return ST_INVALID_VALUE;
    if (ldc < max1(m)) return ST_INVALID_VALUE;
    if (alpha == NULL || beta == NULL) return ST_INVALID_VALUE;
    return ST_SUCCESS;
}

/*
 * One column-major product C = alpha op(A) op(B) + beta C. acc (m doubles) and bcol (k doubles) are scratch.
 * For each column j of C: bcol = column j of op(B) in double; acc = op(A) bcol, accumulated in double with the
 * inner loop running along contiguous memory of A (axpy over columns of A for N, dot products over columns of
 * A for T); then C(:, j) = alpha acc + beta C(:, j), rounded once.
 */
static void gemm_one(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc, double *acc, double *bcol) {
    const double a = alpha, b = beta;
    for (int j = 0; j < n; j++) {
        float *cj = C + (size_t) j * ldc;
        if (alpha == 0.0f || k == 0) {
            /* A and B are not read */
            if (beta == 0.0f) {
                for (int i = 0; i < m; i++) cj[i] = 0.0f;
            } else if (beta != 1.0f) {
                for (int i = 0; i < m; i++) cj[i] = (float) (b * cj[i]);
            }
            continue;
        }
        if (tb) {
            for (int l = 0; l < k; l++) bcol[l] = B[j + (size_t) l * ldb];
        } else {
            const float *bj = B + (size_t) j * ldb;
            for (int l = 0; l < k; l++) bcol[l] = bj[l];
        }
        if (ta) {
            for (int i = 0; i < m; i++) {
                const float *ai = A + (size_t) i * lda;
                double s = 0.0;
                for (int l = 0; l < k; l++) s += ai[l] * bcol[l];
                acc[i] = s;
            }
        } else {
            for (int i = 0; i < m; i++) acc[i] = 0.0;
            for (int l = 0; l < k; l++) {
                const float *al = A + (size_t) l * lda;
                const double bl = bcol[l];
                for (int i = 0; i < m; i++) acc[i] += al[i] * bl;
            }
        }
        if (beta == 0.0f) {
            for (int i = 0; i < m; i++) cj[i] = (float) (a * acc[i]);
        } else {
            for (int i = 0; i < m; i++) cj[i] = (float) (a * acc[i] + b * cj[i]);
        }
    }
}

/* cudaDataType: CUDA_R_32F (float) and CUDA_R_16BF (bfloat16: the top 16 bits of a float) */
#define R_32F 0
#define R_16BF 14

static size_t type_size(int type) { return type == R_16BF ? 2 : 4; }

/* One queued (or immediate) strided-batched GEMM: every value it needs, copied at call time. */
typedef struct {
    int ta, tb, m, n, k, lda, ldb, ldc, batch;
    float alpha, beta;
    const void *A, *B;
    void *C;
    int abType, cType;
    long long strideA, strideB, strideC;
    size_t aElems, bElems, cElems; /* elements one item of A, B and C spans */
    double *scratch; /* m + k doubles */
} gemm_job;

/*
 * Runs the job: float operands in place; bf16 ones widened to float copies first (exact), C narrowed back with one
 * rounding: cuBLAS's FP32 compute type on bf16 data, which accumulates in float and rounds C once.
 */
static void gemm_run(void *arg) {
    const gemm_job *j = arg;
    for (int p = 0; p < j->batch; p++) {
        const char *a = (const char *) j->A + (ptrdiff_t) (j->strideA * p) * (ptrdiff_t) type_size(j->abType);
        const char *b = (const char *) j->B + (ptrdiff_t) (j->strideB * p) * (ptrdiff_t) type_size(j->abType);
        char *c = (char *) j->C + (ptrdiff_t) (j->strideC * p) * (ptrdiff_t) type_size(j->cType);
        int readsAB = !(j->alpha == 0.0f || j->k == 0);
        float *fa = NULL, *fb = NULL, *fc = NULL;
        if (j->abType == R_16BF && readsAB) {
            fa = emu_widen_bf16(a, j->aElems);
            fb = emu_widen_bf16(b, j->bElems);
        }
        if (j->cType == R_16BF) fc = emu_widen_bf16(c, j->cElems);
        if ((j->abType == R_16BF && readsAB && (fa == NULL || fb == NULL)) || (j->cType == R_16BF && fc == NULL)) {
            free(fa);
            free(fb);
            free(fc);
            continue; /* out of host memory: the test that needed it fails on the values */
        }
        gemm_one(j->ta, j->tb, j->m, j->n, j->k, j->alpha, fa ? fa : (const float *) a, j->lda,
                 fb ? fb : (const float *) b, j->ldb, j->beta, fc ? fc : (float *) c, j->ldc, j->scratch,
                 j->scratch + j->m);
        if (fc != NULL) {
            /* only the elements of C's rows (not the gaps of a leading dimension above m) are written */
            for (int col = 0; col < j->n; col++) {
                for (int i = 0; i < j->m; i++) {
                    size_t e = (size_t) col * (size_t) j->ldc + (size_t) i;
                    ((uint16_t *) c)[e] = emu_float_to_bf16(fc[e]);
                }
            }
        }
        free(fa);
        free(fb);
        free(fc);
    }
}

static void gemm_free(void *arg) {
    gemm_job *j = arg;
    free(j->scratch);
    free(j);
}

/*
 * Elements from the first to the last a column-major rows x cols matrix with leading dimension ld covers
 * (rows, cols >= 1): (cols - 1) ld + rows.
 */
static size_t extent(int rows, int cols, int ld) {
    return (size_t) (cols - 1) * (size_t) ld + (size_t) rows;
}

/* d4jemu_check_range for each of the batch items base + i stride (in elements of es bytes); 0 when all are live */
static int check_items(const emu_driver *d, const char *fn, const char *name, const void *base, long long stride,
                       int batch, size_t bytes, size_t es) {
    char what[96];
    for (int p = 0; p < batch; p++) {
        /* unsigned arithmetic: a pointer outside every allocation is what the check is for */
        const void *item = (const void *) ((uintptr_t) base + (uintptr_t) (stride * p) * es);
        if (batch > 1) snprintf(what, sizeof what, "%s: %s of batch item %d", fn, name, p);
        else snprintf(what, sizeof what, "%s: %s", fn, name);
        if (d->check_range(item, bytes, what) != 0) return 1;
    }
    return 0;
}

static int gemm_batched(const char *fn, int transa, int transb, int m, int n, int k, const float *alpha,
                        const void *A, int lda, long long strideA, const void *B, int ldb, long long strideB,
                        const float *beta, void *C, int ldc, long long strideC, int batch, int abType, int cType) {
    if (m == 0 || n == 0 || batch == 0) return ST_SUCCESS;
    const float al = *alpha, be = *beta;
    if ((al == 0.0f || k == 0) && be == 1.0f) return ST_SUCCESS; /* BLAS quick return: C unchanged */
    int readsAB = !(al == 0.0f || k == 0);
    /* a NULL "device" pointer would fault on a GPU; report it instead of crashing the test JVM */
    if (C == NULL || (readsAB && (A == NULL || B == NULL))) return ST_EXECUTION_FAILED;
    int ta = is_trans(transa), tb = is_trans(transb);
    /* op(A) is m x k, stored k x m when transposed; op(B) k x n; C m x n, written even when beta == 0 */
    size_t aElems = ta ? extent(k, m, lda) : extent(m, k, lda), bElems = tb ? extent(n, k, ldb) : extent(k, n, ldb);
    size_t cElems = extent(m, n, ldc), abs = type_size(abType), cs = type_size(cType);
    const emu_driver *d = driver();
    if (d != NULL) {
        if (readsAB && (check_items(d, fn, "A", A, strideA, batch, aElems * abs, abs)
                        || check_items(d, fn, "B", B, strideB, batch, bElems * abs, abs))) {
            return ST_EXECUTION_FAILED;
        }
        if (check_items(d, fn, "C", C, strideC, batch, cElems * cs, cs)) return ST_EXECUTION_FAILED;
    }
    gemm_job *j = malloc(sizeof *j);
    double *scratch = malloc(((size_t) m + (size_t) k) * sizeof(double));
    if (j == NULL || scratch == NULL) {
        free(j);
        free(scratch);
        return ST_ALLOC_FAILED;
    }
    *j = (gemm_job){.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc, .batch = batch,
                    .alpha = al, .beta = be, .A = A, .B = B, .C = C, .abType = abType, .cType = cType,
                    .strideA = strideA, .strideB = strideB, .strideC = strideC, .aElems = aElems, .bElems = bElems,
                    .cElems = cElems, .scratch = scratch};
    if (d == NULL) {
        gemm_run(j);
        gemm_free(j);
        return ST_SUCCESS;
    }
    /* on failure (context already broken) the driver has freed the job */
    return d->enqueue(gemm_run, j, gemm_free) == 0 ? ST_SUCCESS : ST_EXECUTION_FAILED;
}

int cublasSgemm_v2(void *handle, int transa, int transb, int m, int n, int k, const float *alpha, const float *A,
                   int lda, const float *B, int ldb, const float *beta, float *C, int ldc) {
    int st = check_gemm(handle, transa, transb, m, n, k, alpha, beta, lda, ldb, ldc);
    if (st != ST_SUCCESS) return st;
    return gemm_batched(__func__, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, R_32F,
                        R_32F);
}

int cublasSgemmStridedBatched(void *handle, int transa, int transb, int m, int n, int k, const float *alpha,
                              const float *A, int lda, long long strideA, const float *B, int ldb,
                              long long strideB, const float *beta, float *C, int ldc, long long strideC,
                              int batchCount) {
    int st = check_gemm(handle, transa, transb, m, n, k, alpha, beta, lda, ldb, ldc);
    if (st != ST_SUCCESS) return st;
    if (batchCount < 0) return ST_INVALID_VALUE;
    return gemm_batched(__func__, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc,
                        strideC, batchCount, R_32F, R_32F);
}

/* cudaDataType: A, B and C CUDA_R_32F with cublasComputeType_t 32F (68), 32F_PEDANTIC (69) or 32F_FAST_TF32 (77);
   A and B CUDA_R_16BF with C CUDA_R_16BF or CUDA_R_32F and compute type 32F or 32F_PEDANTIC (cuBLAS's table of
   cublasGemmEx's supported combinations); cublasGemmAlgo_t DEFAULT (-1), ALGO0..23, DEFAULT_TENSOR_OP (99),
   ALGO0..15_TENSOR_OP (100..115) */
static int check_ex_types(int Atype, int Btype, int Ctype, int computeType, int algo) {
    if (Atype == R_32F && Btype == R_32F && Ctype == R_32F) {
        if (computeType != 68 && computeType != 69 && computeType != 77) return ST_NOT_SUPPORTED;
    } else if (Atype == R_16BF && Btype == R_16BF && (Ctype == R_16BF || Ctype == R_32F)) {
        if (computeType != 68 && computeType != 69) return ST_NOT_SUPPORTED;
    } else {
        return ST_NOT_SUPPORTED;
    }
    if (!((algo >= -1 && algo <= 23) || (algo >= 99 && algo <= 115))) return ST_NOT_SUPPORTED;
    return ST_SUCCESS;
}

int cublasGemmEx(void *handle, int transa, int transb, int m, int n, int k, const void *alpha, const void *A,
                 int Atype, int lda, const void *B, int Btype, int ldb, const void *beta, void *C, int Ctype, int ldc,
                 int computeType, int algo) {
    int st = check_gemm(handle, transa, transb, m, n, k, alpha, beta, lda, ldb, ldc);
    if (st != ST_SUCCESS) return st;
    if ((st = check_ex_types(Atype, Btype, Ctype, computeType, algo)) != ST_SUCCESS) return st;
    return gemm_batched(__func__, transa, transb, m, n, k, (const float *) alpha, A, lda, 0, B, ldb, 0,
                        (const float *) beta, C, ldc, 0, 1, Atype, Ctype);
}

int cublasGemmStridedBatchedEx(void *handle, int transa, int transb, int m, int n, int k, const void *alpha,
                               const void *A, int Atype, int lda, long long strideA, const void *B, int Btype,
                               int ldb, long long strideB, const void *beta, void *C, int Ctype, int ldc,
                               long long strideC, int batchCount, int computeType, int algo) {
    int st = check_gemm(handle, transa, transb, m, n, k, alpha, beta, lda, ldb, ldc);
    if (st != ST_SUCCESS) return st;
    if (batchCount < 0) return ST_INVALID_VALUE;
    if ((st = check_ex_types(Atype, Btype, Ctype, computeType, algo)) != ST_SUCCESS) return st;
    return gemm_batched(__func__, transa, transb, m, n, k, (const float *) alpha, A, lda, strideA, B, ldb, strideB,
                        (const float *) beta, C, ldc, strideC, batchCount, Atype, Ctype);
}
