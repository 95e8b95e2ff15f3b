/*
 * Self-test of the queueing of the CPU stand-ins for cuBLAS and cuDNN (cublas_emu.c, cudnn_emu.c in this
 * directory; test-only, never shipped) against a fake of the emulated driver's queue API. One source file, built
 * twice:
 *
 *   gcc -std=gnu11 -O2 -Wall -Werror -shared -fPIC -DFAKE_LIBCUDA -Wl,-soname,libcuda.so.1 \
 *       -o DIR/libcuda.so.1 emu_libs_queue_selftest.c
 *   gcc -std=gnu11 -O2 -Wall -Werror -o emu_libs_queue_selftest emu_libs_queue_selftest.c -ldl -lm
 *   emu_libs_queue_selftest /path/to/libcublas.so.13 /path/to/libcudnn.so.9 DIR/libcuda.so.1
 *
 * With -DFAKE_LIBCUDA it is a stand-in for the emulated libcuda.so.1 that exports only d4jemu_enqueue,
 * d4jemu_flush and d4jemu_check_range (the contract of emu_driver.cpp) over an in-order array of closures and a
 * table of "device allocations" the test registers, plus fake_* hooks for the test. Without it, the test
 * dlopen()s that fake by path (RTLD_LOCAL, as JCuda's JNI library loads the real one), then the two stand-ins,
 * and checks:
 *  (a) GEMM (all four entry points) and the three convolution passes are queued: nothing is written (output,
 *      workspace) before d4jemu_flush, the result is right after it;
 *  (b) alpha / beta changed, descriptors changed or destroyed after the call do not change the queued result;
 *  (c) the range checks cover exactly the bytes touched (a buffer one float short fails, an exact one passes;
 *      A and B are not checked when k == 0 or alpha == 0, C is when beta == 0), a failure returns
 *      EXECUTION_FAILED and queues nothing; argument errors keep their statuses and queue nothing;
 *  (d) a broken context: EXECUTION_FAILED, the closure freed;
 *  (e) the Find*AlgorithmEx calls flush the queue first and compute at once.
 * Prints one line per check and exits non-zero if any fails.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FAKE_LIBCUDA
/* ================================================================================== the fake libcuda.so.1 */

#define EXPORT __attribute__((visibility("default")))

typedef struct {
    void (*fn)(void *);
    void *arg;
    void (*free_arg)(void *);
} closure;

static closure queue[256];
static int queued, flushes, freed, broken;
static struct {
    uintptr_t p;
    size_t bytes;
} ranges[64];
static int nranges;

EXPORT int d4jemu_enqueue(void (*fn)(void *arg), void *arg, void (*free_arg)(void *arg)) {
    if (broken != 0 || queued == (int) (sizeof queue / sizeof queue[0])) {
        if (free_arg != NULL) free_arg(arg);
        freed++;
        return broken != 0 ? broken : 2; /* CUDA_ERROR_OUT_OF_MEMORY */
    }
    queue[queued++] = (closure){fn, arg, free_arg};
    return 0;
}

EXPORT int d4jemu_flush(void) {
    flushes++;
    for (int i = 0; i < queued; i++) {
        if (broken == 0) queue[i].fn(queue[i].arg);
        if (queue[i].free_arg != NULL) queue[i].free_arg(queue[i].arg);
        freed++;
    }
    queued = 0;
    return broken;
}

EXPORT int d4jemu_check_range(const void *p, size_t bytes, const char *what) {
    for (int i = 0; i < nranges; i++) {
        if ((uintptr_t) p >= ranges[i].p && bytes <= ranges[i].bytes
            && (uintptr_t) p - ranges[i].p <= ranges[i].bytes - bytes) {
            return 0;
        }
    }
    printf("     [cuda-emulator] %s: %zu bytes at %p are not inside one live allocation\n", what, bytes, p);
    broken = 700; /* CUDA_ERROR_ILLEGAL_ADDRESS */
    return 1;
}

EXPORT void fake_register(const void *p, size_t bytes) {
    ranges[nranges].p = (uintptr_t) p;
    ranges[nranges++].bytes = bytes;
}
EXPORT void fake_reset(void) { /* drops the queue and the allocations, repairs the context */
    broken = 0;
    d4jemu_flush();
    nranges = 0;
}
EXPORT void fake_break(int err) { broken = err; }
EXPORT int fake_queued(void) { return queued; }
EXPORT int fake_flushes(void) { return flushes; }
EXPORT int fake_freed(void) { return freed; }
EXPORT int fake_broken(void) { return broken; }

#else
/* ================================================================================== the test */

#include "emu_selftest.h"

static void rnd_fill(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = rnd_float();
}
static int all_equal(const float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) {
        if (!(p[i] == v)) return 0;
    }
    return 1;
}
static int all_nan(const void *p, size_t bytes) {
    const float *f = p;
    for (size_t i = 0; i < bytes / sizeof(float); i++) {
        if (!isnan(f[i])) return 0;
    }
    return 1;
}
static double max_diff(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double) a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* the fake driver */
static void (*fake_register)(const void *, size_t);
static void (*fake_reset)(void);
static void (*fake_break)(int);
static int (*fake_queued)(void), (*fake_flushes)(void), (*fake_freed)(void), (*fake_broken)(void);
static int (*emu_flush)(void);

/* cuBLAS */
static int (*blasCreate)(void **);
static int (*blasDestroy)(void *);
static int (*sgemm)(void *, int, int, int, int, int, const float *, const float *, int, const float *, int,
                    const float *, float *, int);
static int (*sgemmSB)(void *, int, int, int, int, int, const float *, const float *, int, long long, const float *,
                      int, long long, const float *, float *, int, long long, int);
static int (*gemmEx)(void *, int, int, int, int, int, const void *, const void *, int, int, const void *, int, int,
                     const void *, void *, int, int, int, int);
static int (*gemmSBEx)(void *, int, int, int, int, int, const void *, const void *, int, int, long long,
                       const void *, int, int, long long, const void *, void *, int, int, long long, int, int, int);

/* cuDNN */
typedef int (*conv_fn)(void *, const void *, void *, const void *, void *, const void *, void *, int, void *, size_t,
                       const void *, void *, void *);
typedef int (*find_fn)(void *, void *, const void *, void *, const void *, void *, void *, void *, int, int *,
                       perf_t *, void *, size_t);
static void (*dnnLastError)(char *, size_t);
static int (*dnnCreate)(void **);
static int (*dnnDestroy)(void *);
static int (*dnnCreateTensor)(void **), (*dnnCreateFilter)(void **), (*dnnCreateConv)(void **);
static int (*dnnDestroyTensor)(void *), (*dnnDestroyFilter)(void *), (*dnnDestroyConv)(void *);
static int (*dnnSetTensor4d)(void *, int, int, int, int, int, int);
static int (*dnnSetFilter4d)(void *, int, int, int, int, int, int);
static int (*dnnSetConv2d)(void *, int, int, int, int, int, int, int, int);
static int (*dnnFwdWs)(void *, void *, void *, void *, void *, int, size_t *);
static conv_fn dnnFwd, dnnBwdData, dnnBwdFilter;
static find_fn dnnFwdFind, dnnBwdDataFind, dnnBwdFilterFind;

/* column-major reference: C = alpha op(A) op(B) + beta C (beta == 0: C not read) */
static void ref_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, const float *C, int ldc, double *out) {
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int l = 0; l < k; l++) {
                double a = ta ? A[l + (size_t) i * lda] : A[i + (size_t) l * lda];
                double b = tb ? B[j + (size_t) l * ldb] : B[l + (size_t) j * ldb];
                s += a * b;
            }
            out[i + (size_t) j * m] = alpha * s + (beta == 0.0f ? 0.0 : (double) beta * C[i + (size_t) j * ldc]);
        }
    }
}

/* C (m x n, ldc) against a reference of m x n */
static double diff_c(const float *C, int ldc, const double *ref, int m, int n) {
    double md = 0;
    for (int j = 0; j < n; j++) {
        double d = max_diff(C + (size_t) j * ldc, ref + (size_t) j * m, (size_t) m);
        if (!(d <= md)) md = d;
    }
    return md;
}

/* ------------------------------------------------------------------------------------------ cuBLAS */

static void test_gemm(void *h) {
    const float NaNf = nanf("");
    /* (a) + (b): Sgemm_v2 with T/N, padded leading dimensions, alpha and beta changed right after the call */
    {
        fake_reset();
        const int m = 5, n = 4, k = 3, lda = 4, ldb = 6, ldc = 7;
        /* op(A) = A^T: A stored k x m with lda; B stored k x n with ldb */
        size_t aLen = (size_t) (m - 1) * lda + k, bLen = (size_t) (n - 1) * ldb + k, cLen = (size_t) (n - 1) * ldc + m;
        float *A = malloc(aLen * 4), *B = malloc(bLen * 4), *C = malloc(cLen * 4), *C0 = malloc(cLen * 4);
        rnd_fill(A, aLen);
        rnd_fill(B, bLen);
        rnd_fill(C, cLen);
        memcpy(C0, C, cLen * 4);
        fake_register(A, aLen * 4); /* exactly the bytes touched */
        fake_register(B, bLen * 4);
        fake_register(C, cLen * 4);
        float alpha = 1.5f, beta = 0.25f;
        int st = sgemm(h, 1, 0, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
        alpha = 100.0f;
        beta = NaNf;
        int untouched = memcmp(C, C0, cLen * 4) == 0, q = fake_queued();
        report(st == 0 && q == 1 && untouched, "(a) cublasSgemm_v2 TN with exact-size buffers: status %d, %d queued, "
               "C untouched before the flush: %s", st, q, untouched ? "yes" : "NO");
        int fr = emu_flush();
        double *ref = malloc((size_t) m * n * sizeof(double));
        ref_gemm(1, 0, m, n, k, 1.5f, A, lda, B, ldb, 0.25f, C0, ldc, ref);
        double d = diff_c(C, ldc, ref, m, n);
        report(fr == 0 && d < 1e-6, "(b) after the flush C = 1.5 A^T B + 0.25 C with the values at call time "
               "(alpha, beta changed to 100, NaN after the call): max diff %.2e", d);
        /* the gaps between the columns of C (rows m..ldc-1) are not written */
        int gaps = 1;
        for (int j = 0; j + 1 < n; j++) gaps &= memcmp(C + (size_t) j * ldc + m, C0 + (size_t) j * ldc + m,
                                                      (size_t) (ldc - m) * 4) == 0;
        report(gaps, "(a) the padding rows of C are not written");
        free(ref);

        /* (c) one float short of A, B or C: EXECUTION_FAILED, nothing queued, the context broken */
        const char *names[3] = {"A", "B", "C"};
        for (int which = 0; which < 3; which++) {
            fake_reset();
            fake_register(A, (aLen - (which == 0)) * 4);
            fake_register(B, (bLen - (which == 1)) * 4);
            fake_register(C, (cLen - (which == 2)) * 4);
            memcpy(C, C0, cLen * 4);
            alpha = 1.0f;
            beta = 1.0f;
            st = sgemm(h, 1, 0, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
            q = fake_queued();
            report(st == 13 && q == 0 && fake_broken() == 700 && memcmp(C, C0, cLen * 4) == 0,
                   "(c) cublasSgemm_v2 with %s one float short: status %d (13), %d queued, context error %d",
                   names[which], st, q, fake_broken());
        }
        /* a pointer outside every allocation for A and B when they are not read (k == 0, alpha == 0) */
        float junk[4];
        for (int kind = 0; kind < 2; kind++) {
            fake_reset();
            fake_register(C, cLen * 4);
            fill(C, cLen, NaNf);
            alpha = kind == 0 ? 1.0f : 0.0f;
            beta = 0.0f;
            int kk = kind == 0 ? 0 : k;
            st = sgemm(h, 0, 0, m, n, kk, &alpha, junk, m, junk, kk > 0 ? kk : 1, &beta, C, ldc);
            q = fake_queued();
            fr = emu_flush();
            int zeros = 1;
            for (int j = 0; j < n; j++) zeros &= all_equal(C + (size_t) j * ldc, (size_t) m, 0.0f);
            report(st == 0 && q == 1 && fr == 0 && zeros, "(c) %s, beta == 0: A and B are not range-checked, C "
                   "(NaN) is and becomes 0: status %d, %d queued", kind == 0 ? "k == 0" : "alpha == 0", st, q);
        }
        /* beta == 0 still checks C: C one float short */
        fake_reset();
        fake_register(A, aLen * 4);
        fake_register(B, bLen * 4);
        fake_register(C, (cLen - 1) * 4);
        alpha = 1.0f;
        beta = 0.0f;
        st = sgemm(h, 1, 0, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
        report(st == 13 && fake_queued() == 0, "(c) beta == 0 with C one float short: status %d (13)", st);
        /* quick return (alpha == 0, beta == 1): nothing queued, nothing checked */
        fake_reset();
        alpha = 0.0f;
        beta = 1.0f;
        st = sgemm(h, 0, 0, m, n, k, &alpha, junk, m, junk, k, &beta, junk, m);
        report(st == 0 && fake_queued() == 0 && fake_broken() == 0,
               "(c) alpha == 0, beta == 1 (C unchanged): status %d, nothing queued or checked", st);
        /* argument errors keep their statuses and queue nothing */
        fake_reset();
        fake_register(A, aLen * 4);
        fake_register(B, bLen * 4);
        fake_register(C, cLen * 4);
        alpha = 1.0f;
        st = sgemm(h, 1, 0, m, n, k, &alpha, A, 1, B, ldb, &beta, C, ldc);
        int st2 = sgemm(NULL, 1, 0, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
        int st3 = sgemm(h, 1, 0, m, n, k, &alpha, A, lda, B, ldb, &beta, NULL, ldc);
        report(st == 7 && st2 == 1 && st3 == 13 && fake_queued() == 0 && fake_broken() == 0,
               "(c) lda too small -> %d (7), NULL handle -> %d (1), NULL C -> %d (13): nothing queued", st, st2, st3);
        /* (d) a broken context: EXECUTION_FAILED, the closure freed by the driver */
        fake_reset();
        fake_register(A, aLen * 4);
        fake_register(B, bLen * 4);
        fake_register(C, cLen * 4);
        fake_break(700);
        int freed0 = fake_freed();
        st = sgemm(h, 1, 0, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
        report(st == 13 && fake_queued() == 0 && fake_freed() == freed0 + 1,
               "(d) cublasSgemm_v2 on a broken context: status %d (13), closure freed", st);
        free(A);
        free(B);
        free(C);
        free(C0);
    }

    /* strided batched, both entry points: every batch item is range-checked, the last one exactly */
    for (int ex = 0; ex < 2; ex++) {
        const char *fn = ex ? "cublasGemmStridedBatchedEx" : "cublasSgemmStridedBatched";
        fake_reset();
        const int m = 3, n = 5, k = 4, lda = 3, ldb = 5, ldc = 4, batch = 3;
        const long long sA = 20, sB = 25, sC = 22; /* gaps between the items */
        /* op(A) = A (m x k, lda), op(B) = B^T: B stored n x k with ldb */
        size_t aItem = (size_t) (k - 1) * lda + m, bItem = (size_t) (k - 1) * ldb + n;
        size_t cItem = (size_t) (n - 1) * ldc + m;
        size_t aLen = sA * (batch - 1) + aItem, bLen = sB * (batch - 1) + bItem, cLen = sC * (batch - 1) + cItem;
        float *A = malloc(aLen * 4), *B = malloc(bLen * 4), *C = malloc(cLen * 4), *C0 = malloc(cLen * 4);
        rnd_fill(A, aLen);
        rnd_fill(B, bLen);
        rnd_fill(C, cLen);
        memcpy(C0, C, cLen * 4);
        fake_register(A, aLen * 4);
        fake_register(B, bLen * 4);
        fake_register(C, cLen * 4);
        float alpha = -0.5f, beta = 2.0f;
        int st = ex ? gemmSBEx(h, 0, 1, m, n, k, &alpha, A, 0, lda, sA, B, 0, ldb, sB, &beta, C, 0, ldc, sC, batch,
                               68, -1)
                    : sgemmSB(h, 0, 1, m, n, k, &alpha, A, lda, sA, B, ldb, sB, &beta, C, ldc, sC, batch);
        alpha = 7.0f;
        beta = 7.0f;
        int untouched = memcmp(C, C0, cLen * 4) == 0, q = fake_queued();
        int fr = emu_flush();
        double *ref = malloc((size_t) m * n * sizeof(double)), d = 0;
        for (int p = 0; p < batch; p++) {
            ref_gemm(0, 1, m, n, k, -0.5f, A + sA * p, lda, B + sB * p, ldb, 2.0f, C0 + sC * p, ldc, ref);
            double dp = diff_c(C + sC * p, ldc, ref, m, n);
            if (!(dp <= d)) d = dp;
        }
        report(st == 0 && q == 1 && untouched && fr == 0 && d < 1e-6,
               "(a) %s NT, %d items: status %d, queued, C untouched before the flush, then right (max diff %.2e)",
               fn, batch, st, d);
        free(ref);
        for (int which = 0; which < 3; which++) {
            fake_reset();
            fake_register(A, (aLen - (which == 0)) * 4);
            fake_register(B, (bLen - (which == 1)) * 4);
            fake_register(C, (cLen - (which == 2)) * 4);
            alpha = 1.0f;
            beta = 1.0f;
            st = ex ? gemmSBEx(h, 0, 1, m, n, k, &alpha, A, 0, lda, sA, B, 0, ldb, sB, &beta, C, 0, ldc, sC, batch,
                               68, -1)
                    : sgemmSB(h, 0, 1, m, n, k, &alpha, A, lda, sA, B, ldb, sB, &beta, C, ldc, sC, batch);
            report(st == 13 && fake_queued() == 0, "(c) %s: the last item's %c one float short: status %d (13)", fn,
                   "ABC"[which], st);
        }
        free(A);
        free(B);
        free(C);
        free(C0);
    }

    /* GemmEx: queued, beta changed after the call */
    {
        fake_reset();
        const int m = 4, n = 3, k = 2;
        float A[8], B[6], C[12], C0[12];
        rnd_fill(A, 8);
        rnd_fill(B, 6);
        rnd_fill(C, 12);
        memcpy(C0, C, sizeof C);
        fake_register(A, sizeof A);
        fake_register(B, sizeof B);
        fake_register(C, sizeof C);
        float alpha = 1.0f, beta = 1.0f;
        int st = gemmEx(h, 0, 0, m, n, k, &alpha, A, 0, m, B, 0, k, &beta, C, 0, m, 77, -1);
        beta = 0.0f;
        int untouched = memcmp(C, C0, sizeof C) == 0, q = fake_queued();
        emu_flush();
        double ref[12];
        ref_gemm(0, 0, m, n, k, 1.0f, A, m, B, k, 1.0f, C0, m, ref);
        double d = diff_c(C, m, ref, m, n);
        report(st == 0 && q == 1 && untouched && d < 1e-6,
               "(a) cublasGemmEx NN: queued, C untouched before the flush, C + A B after it (max diff %.2e)", d);
        fake_reset();
        fake_register(A, sizeof A - 4);
        fake_register(B, sizeof B);
        fake_register(C, sizeof C);
        st = gemmEx(h, 0, 0, m, n, k, &alpha, A, 0, m, B, 0, k, &beta, C, 0, m, 77, -1);
        int st2 = gemmEx(h, 0, 0, m, n, k, &alpha, A, 2, m, B, 0, k, &beta, C, 0, m, 77, -1);
        report(st == 13 && st2 == 15 && fake_queued() == 0,
               "(c) cublasGemmEx: A one float short -> %d (13), half-precision A -> %d (15)", st, st2);
    }
}

/* ------------------------------------------------------------------------------------------ cuDNN */

/* textbook cross-correlation, NCHW, for checking */
static void ref_conv(int n, int c, int h, int w, int k, int kh, int kw, int pad, int stride, const float *x,
                     const float *wt, double *y, int ho, int wo) {
    for (int in = 0; in < n; in++)
        for (int ik = 0; ik < k; ik++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    double s = 0;
                    for (int ic = 0; ic < c; ic++)
                        for (int r = 0; r < kh; r++)
                            for (int q = 0; q < kw; q++) {
                                int ih = oh * stride + r - pad, iw = ow * stride + q - pad;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                s += (double) x[((size_t) (in * c + ic) * h + ih) * w + iw]
                                     * wt[((size_t) (ik * c + ic) * kh + r) * kw + q];
                            }
                    y[((size_t) (in * k + ik) * ho + oh) * wo + ow] = s;
                }
}

typedef struct {
    void *xd, *wd, *cd, *yd;
} descs;

static descs make_descs(int n, int c, int h, int w, int k, int kh, int kw, int pad, int stride, int ho, int wo) {
    descs d;
    dnnCreateTensor(&d.xd);
    dnnCreateTensor(&d.yd);
    dnnCreateFilter(&d.wd);
    dnnCreateConv(&d.cd);
    dnnSetTensor4d(d.xd, 0, 0, n, c, h, w);
    dnnSetTensor4d(d.yd, 0, 0, n, k, ho, wo);
    dnnSetFilter4d(d.wd, 0, 0, k, c, kh, kw);
    dnnSetConv2d(d.cd, pad, pad, stride, stride, 1, 1, 1, 0);
    return d;
}

/* a fresh fake queue with x, w and y registered as live device memory */
static void reset_xwy(const float *x, size_t xLen, const float *wt, size_t wLen, const float *y, size_t yLen) {
    fake_reset();
    fake_register(x, xLen * 4);
    fake_register(wt, wLen * 4);
    fake_register(y, yLen * 4);
}

static void free_descs(descs *d) {
    dnnDestroyTensor(d->xd);
    dnnDestroyTensor(d->yd);
    dnnDestroyFilter(d->wd);
    dnnDestroyConv(d->cd);
}

static void test_conv(void *h) {
    const int n = 2, c = 3, hh = 6, ww = 5, k = 4, kh = 3, kw = 3, pad = 1, stride = 2;
    const int ho = (hh + 2 * pad - kh) / stride + 1, wo = (ww + 2 * pad - kw) / stride + 1;
    const size_t xLen = (size_t) n * c * hh * ww, wLen = (size_t) k * c * kh * kw, yLen = (size_t) n * k * ho * wo;
    float *x = malloc(xLen * 4), *wt = malloc(wLen * 4), *y = malloc(yLen * 4), *y0 = malloc(yLen * 4);
    double *ref = malloc(yLen * sizeof(double));
    char msg[512];
    rnd_fill(x, xLen);
    rnd_fill(wt, wLen);
    rnd_fill(y, yLen);
    memcpy(y0, y, yLen * 4);

    /* (a) + (b) forward with algo 2 (needs a workspace); alpha, beta and every descriptor changed after the call */
    fake_reset();
    descs d = make_descs(n, c, hh, ww, k, kh, kw, pad, stride, ho, wo);
    size_t wsNeed = 0;
    int st = dnnFwdWs(h, d.xd, d.wd, d.cd, d.yd, 2, &wsNeed);
    float *ws = calloc(wsNeed / 4 + 8, 4);
    fake_register(x, xLen * 4);
    fake_register(wt, wLen * 4);
    fake_register(y, yLen * 4);
    fake_register(ws, wsNeed); /* exactly what algo 2 uses, though 32 more bytes are passed */
    float alpha = 2.0f, beta = 0.5f;
    st = dnnFwd(h, &alpha, d.xd, x, d.wd, wt, d.cd, 2, ws, wsNeed + 32, &beta, d.yd, y);
    alpha = -9.0f;
    beta = nanf("");
    dnnSetConv2d(d.cd, 0, 0, 1, 1, 1, 1, 0, 0);
    dnnSetFilter4d(d.wd, 0, 0, 1, 1, 1, 1);
    free_descs(&d);
    int untouched = memcmp(y, y0, yLen * 4) == 0, wsClean = all_equal(ws, wsNeed / 4, 0.0f), q = fake_queued();
    report(st == 0 && q == 1 && untouched && wsClean && wsNeed > 0, "(a) cudnnConvolutionForward algo 2: status %d, "
           "%d queued, y and the %zu-byte workspace untouched before the flush", st, q, wsNeed);
    int fr = emu_flush();
    ref_conv(n, c, hh, ww, k, kh, kw, pad, stride, x, wt, ref, ho, wo);
    double maxd = 0;
    for (size_t i = 0; i < yLen; i++) {
        double e = fabs(y[i] - (2.0 * ref[i] + 0.5 * y0[i]));
        if (!(e <= maxd)) maxd = e;
    }
    int wsNan = all_nan(ws, wsNeed), wsTail = all_equal(ws + wsNeed / 4, 8, 0.0f);
    report(fr == 0 && maxd < 1e-5, "(b) after the flush y = 2 conv(x, w) + 0.5 y with the call-time alpha, beta and "
           "descriptors (all changed or destroyed after the call): max diff %.2e", maxd);
    report(wsNan && wsTail, "(a) the workspace bytes algo 2 uses are NaN after the flush, the rest untouched");

    /* backward data / filter: queued, and equal to the same call flushed at once */
    for (int dir = 1; dir <= 2; dir++) {
        const char *fn = dir == 1 ? "cudnnConvolutionBackwardData" : "cudnnConvolutionBackwardFilter";
        float *out = dir == 1 ? x : wt;
        size_t outLen = dir == 1 ? xLen : wLen;
        float *first = malloc(outLen * 4), *before = malloc(outLen * 4);
        memcpy(before, out, outLen * 4);
        reset_xwy(x, xLen, wt, wLen, y, yLen);
        d = make_descs(n, c, hh, ww, k, kh, kw, pad, stride, ho, wo);
        alpha = 1.0f;
        beta = 1.0f;
        st = dir == 1 ? dnnBwdData(h, &alpha, d.wd, wt, d.yd, y, d.cd, 0, NULL, 0, &beta, d.xd, x)
                      : dnnBwdFilter(h, &alpha, d.xd, x, d.yd, y, d.cd, 0, NULL, 0, &beta, d.wd, wt);
        beta = 0.0f;
        dnnSetConv2d(d.cd, 0, 0, 1, 1, 1, 1, 1, 0);
        untouched = memcmp(out, before, outLen * 4) == 0;
        q = fake_queued();
        emu_flush();
        memcpy(first, out, outLen * 4);
        int changed = memcmp(first, before, outLen * 4) != 0;
        /* the same again, with fresh descriptors, flushed at once, from the same starting values */
        memcpy(out, before, outLen * 4);
        free_descs(&d);
        d = make_descs(n, c, hh, ww, k, kh, kw, pad, stride, ho, wo);
        beta = 1.0f;
        int st2 = dir == 1 ? dnnBwdData(h, &alpha, d.wd, wt, d.yd, y, d.cd, 0, NULL, 0, &beta, d.xd, x)
                           : dnnBwdFilter(h, &alpha, d.xd, x, d.yd, y, d.cd, 0, NULL, 0, &beta, d.wd, wt);
        emu_flush();
        int same = memcmp(first, out, outLen * 4) == 0;
        report(st == 0 && st2 == 0 && q == 1 && untouched && changed && same,
               "(a)(b) %s: queued, output untouched before the flush, after it the same as with unchanged "
               "descriptors and beta", fn);
        memcpy(out, before, outLen * 4);
        free_descs(&d);
        free(first);
        free(before);
    }

    /* (c) each tensor one float short, and the workspace one byte short (wsBytes given is large enough) */
    const char *names[3][4] = {{"x", "w", "y", "workspace"}, {"w", "dy", "dx", ""}, {"x", "dy", "dw", "workspace"}};
    for (int dir = 0; dir < 3; dir++) {
        int algo = dir == 0 ? 2 : dir == 1 ? 0 : 1;
        for (int which = 0; which < 4; which++) {
            if (names[dir][which][0] == 0) continue;
            fake_reset();
            d = make_descs(n, c, hh, ww, k, kh, kw, pad, stride, ho, wo);
            /* which tensor is short: the buffers are x, wt, y in every direction */
            const float *bufOf[3][3] = {{x, wt, y}, {wt, y, x}, {x, y, wt}};
            size_t need = 0;
            if (dir == 0) dnnFwdWs(h, d.xd, d.wd, d.cd, d.yd, algo, &need);
            else if (dir == 2) need = wLen * 4; /* backward-filter algo 1: a [k, c, kh, kw] buffer */
            float *wsb = need > 0 ? malloc(need) : NULL;
            const float *shortBuf = which < 3 ? bufOf[dir][which] : NULL;
            fake_register(x, (xLen - (shortBuf == x)) * 4);
            fake_register(wt, (wLen - (shortBuf == wt)) * 4);
            fake_register(y, (yLen - (shortBuf == y)) * 4);
            if (wsb != NULL) fake_register(wsb, need - (which == 3));
            memcpy(y0, y, yLen * 4);
            alpha = 1.0f;
            beta = 0.0f;
            st = dir == 0   ? dnnFwd(h, &alpha, d.xd, x, d.wd, wt, d.cd, algo, wsb, need, &beta, d.yd, y)
                 : dir == 1 ? dnnBwdData(h, &alpha, d.wd, wt, d.yd, y, d.cd, algo, wsb, need, &beta, d.xd, x)
                            : dnnBwdFilter(h, &alpha, d.xd, x, d.yd, y, d.cd, algo, wsb, need, &beta, d.wd, wt);
            dnnLastError(msg, sizeof msg);
            q = fake_queued();
            char expect[32];
            snprintf(expect, sizeof expect, "%s (", names[dir][which]);
            report(st == 5000 && q == 0 && fake_broken() == 700 && strstr(msg, expect) != NULL,
                   "(c) %s, %s short: status %d (5000), %d queued; \"%s\"", dir == 0 ? "forward" : dir == 1 ?
                   "backward-data" : "backward-filter", names[dir][which], st, q, msg);
            free_descs(&d);
            free(wsb);
        }
    }

    /* argument errors keep their statuses and queue nothing; a broken context: EXECUTION_FAILED */
    reset_xwy(x, xLen, wt, wLen, y, yLen);
    d = make_descs(n, c, hh, ww, k, kh, kw, pad, stride, ho, wo);
    alpha = 1.0f;
    beta = 0.0f;
    st = dnnFwd(h, &alpha, d.xd, x, d.wd, wt, d.cd, 9, NULL, 0, &beta, d.yd, y);
    int st2 = dnnFwd(h, &alpha, d.xd, x, d.wd, wt, d.cd, 2, NULL, 0, &beta, d.yd, y);
    int st3 = dnnFwd(h, &alpha, d.xd, x, d.wd, wt, d.cd, 3, NULL, 0, &beta, d.yd, y);
    report(st == 2000 && st2 == 2000 && st3 == 3000 && fake_queued() == 0 && fake_broken() == 0,
           "(c) forward algo 9 -> %d (2000), algo 2 without workspace -> %d (2000), algo 3 -> %d (3000): nothing "
           "queued", st, st2, st3);
    fake_break(700);
    int freed0 = fake_freed();
    st = dnnFwd(h, &alpha, d.xd, x, d.wd, wt, d.cd, 0, NULL, 0, &beta, d.yd, y);
    dnnLastError(msg, sizeof msg);
    report(st == 5000 && fake_queued() == 0 && fake_freed() == freed0 + 1,
           "(d) forward on a broken context: status %d (5000), closure freed; \"%s\"", st, msg);

    /* (e) Find flushes first: a queued GEMM zeroes x, so the forward Find must produce y == 0 at once */
    for (int dir = 0; dir < 3; dir++) {
        reset_xwy(x, xLen, wt, wLen, y, yLen);
        size_t wsBytes = 1 << 16;
        float *wsb = malloc(wsBytes);
        fake_register(wsb, wsBytes);
        rnd_fill(x, xLen);
        rnd_fill(wt, wLen);
        rnd_fill(y, yLen);
        /* zero the input the pass reads first: x (fwd), dy = y (bwd-data), x (bwd-filter) */
        float *in = dir == 1 ? y : x;
        size_t inLen = dir == 1 ? yLen : xLen;
        float *out = dir == 0 ? y : dir == 1 ? x : wt;
        size_t outLen = dir == 0 ? yLen : dir == 1 ? xLen : wLen;
        float zero = 0.0f;
        void *bh = NULL;
        blasCreate(&bh);
        int gs = sgemm(bh, 0, 0, (int) inLen, 1, 1, &zero, in, (int) inLen, in, 1, &zero, in, (int) inLen);
        blasDestroy(bh);
        int flushes0 = fake_flushes(), q0 = fake_queued();
        perf_t perf[8];
        int ret = 0;
        st = dir == 0   ? dnnFwdFind(h, d.xd, x, d.wd, wt, d.cd, d.yd, y, 8, &ret, perf, wsb, wsBytes)
             : dir == 1 ? dnnBwdDataFind(h, d.wd, wt, d.yd, y, d.cd, d.xd, x, 8, &ret, perf, wsb, wsBytes)
                        : dnnBwdFilterFind(h, d.xd, x, d.yd, y, d.cd, d.wd, wt, 8, &ret, perf, wsb, wsBytes);
        int zeros = all_equal(out, outLen, 0.0f);
        report(gs == 0 && q0 == 1 && st == 0 && fake_flushes() == flushes0 + 1 && fake_queued() == 0 && zeros,
               "(e) %s: flushes the queued GEMM that zeroes its input first, then computes at once (output all "
               "0 without a flush after it)", dir == 0 ? "cudnnFindConvolutionForwardAlgorithmEx" : dir == 1 ?
               "cudnnFindConvolutionBackwardDataAlgorithmEx" : "cudnnFindConvolutionBackwardFilterAlgorithmEx");
        free(wsb);
    }
    reset_xwy(x, xLen, wt, wLen, y, yLen);
    fake_break(700);
    perf_t perf[8];
    int ret = 0;
    st = dnnFwdFind(h, d.xd, x, d.wd, wt, d.cd, d.yd, y, 8, &ret, perf, NULL, 0);
    report(st == 5000, "(e) cudnnFindConvolutionForwardAlgorithmEx on a broken context: status %d (5000)", st);
    fake_reset();
    fake_register(x, xLen * 4 - 4);
    fake_register(wt, wLen * 4);
    fake_register(y, yLen * 4);
    st = dnnFwdFind(h, d.xd, x, d.wd, wt, d.cd, d.yd, y, 8, &ret, perf, NULL, 0);
    report(st == 5000 && fake_broken() == 700, "(e) cudnnFindConvolutionForwardAlgorithmEx with x one float short: "
           "status %d (5000)", st);
    fake_reset();
    free_descs(&d);
    free(x);
    free(wt);
    free(y);
    free(y0);
    free(ref);
    free(ws);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s libcublas.so.13 libcudnn.so.9 fake/libcuda.so.1\n", argv[0]);
        return 2;
    }
    /* the fake driver first, RTLD_LOCAL, as JCuda's JNI library loads the real one before the stand-ins */
    void *lc = dlopen(argv[3], RTLD_NOW | RTLD_LOCAL);
    void *lb = lc ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
    void *ld = lb ? dlopen(argv[2], RTLD_NOW | RTLD_LOCAL) : NULL;
    if (ld == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    *(void **) &fake_register = sym(lc, "fake_register");
    *(void **) &fake_reset = sym(lc, "fake_reset");
    *(void **) &fake_break = sym(lc, "fake_break");
    *(void **) &fake_queued = sym(lc, "fake_queued");
    *(void **) &fake_flushes = sym(lc, "fake_flushes");
    *(void **) &fake_freed = sym(lc, "fake_freed");
    *(void **) &fake_broken = sym(lc, "fake_broken");
    *(void **) &emu_flush = sym(lc, "d4jemu_flush");
    *(void **) &blasCreate = sym(lb, "cublasCreate_v2");
    *(void **) &blasDestroy = sym(lb, "cublasDestroy_v2");
    *(void **) &sgemm = sym(lb, "cublasSgemm_v2");
    *(void **) &sgemmSB = sym(lb, "cublasSgemmStridedBatched");
    *(void **) &gemmEx = sym(lb, "cublasGemmEx");
    *(void **) &gemmSBEx = sym(lb, "cublasGemmStridedBatchedEx");
    *(void **) &dnnLastError = sym(ld, "cudnnGetLastErrorString");
    *(void **) &dnnCreate = sym(ld, "cudnnCreate");
    *(void **) &dnnDestroy = sym(ld, "cudnnDestroy");
    *(void **) &dnnCreateTensor = sym(ld, "cudnnCreateTensorDescriptor");
    *(void **) &dnnCreateFilter = sym(ld, "cudnnCreateFilterDescriptor");
    *(void **) &dnnCreateConv = sym(ld, "cudnnCreateConvolutionDescriptor");
    *(void **) &dnnDestroyTensor = sym(ld, "cudnnDestroyTensorDescriptor");
    *(void **) &dnnDestroyFilter = sym(ld, "cudnnDestroyFilterDescriptor");
    *(void **) &dnnDestroyConv = sym(ld, "cudnnDestroyConvolutionDescriptor");
    *(void **) &dnnSetTensor4d = sym(ld, "cudnnSetTensor4dDescriptor");
    *(void **) &dnnSetFilter4d = sym(ld, "cudnnSetFilter4dDescriptor");
    *(void **) &dnnSetConv2d = sym(ld, "cudnnSetConvolution2dDescriptor");
    *(void **) &dnnFwdWs = sym(ld, "cudnnGetConvolutionForwardWorkspaceSize");
    *(void **) &dnnFwd = sym(ld, "cudnnConvolutionForward");
    *(void **) &dnnBwdData = sym(ld, "cudnnConvolutionBackwardData");
    *(void **) &dnnBwdFilter = sym(ld, "cudnnConvolutionBackwardFilter");
    *(void **) &dnnFwdFind = sym(ld, "cudnnFindConvolutionForwardAlgorithmEx");
    *(void **) &dnnBwdDataFind = sym(ld, "cudnnFindConvolutionBackwardDataAlgorithmEx");
    *(void **) &dnnBwdFilterFind = sym(ld, "cudnnFindConvolutionBackwardFilterAlgorithmEx");

    void *bh = NULL, *dh = NULL;
    if (blasCreate(&bh) != 0 || dnnCreate(&dh) != 0) {
        fprintf(stderr, "cublasCreate_v2 / cudnnCreate failed\n");
        return 2;
    }
    test_gemm(bh);
    test_conv(dh);
    fake_reset();
    blasDestroy(bh);
    dnnDestroy(dh);
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
#endif
