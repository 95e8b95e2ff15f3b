/*
 * Self-test of the CPU stand-ins for cuBLAS and cuDNN used by the emulated-CUDA tests (cublas_emu.c,
 * cudnn_emu.c in this directory; test-only, never shipped). A standalone program:
 *
 *   emu_libs_selftest /path/to/libcublas.so.13 /path/to/libcudnn.so.9
 *
 * dlopen()s the two libraries by path and checks them against loops written independently here:
 *  (a) convolution forward against a textbook direct loop, on small shapes with stride 1/2/3, padding, 1x1 /
 *      3x3 / rectangular kernels, dilation, non-square images, batch > 1 and both convolution modes;
 *  (b) the adjoint identities <conv(x, w), dy> = <x, bwdData(w, dy)> = <w, bwdFilter(x, dy)>, for every
 *      algorithm the heuristics list as available;
 *  (c) alpha / beta: beta = 0 ignores NaN in the output, beta = 1 accumulates;
 *  (d) sgemm / GemmEx for the four transpose combinations against a naive loop (with padded leading
 *      dimensions), strided batched products, and the row-major mapping Cublas.java issues;
 *  (e) error statuses (cuBLAS and cuDNN) and the descriptor / heuristic / Find plumbing.
 * Prints one line per check and exits non-zero if any fails.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu_selftest.h"

/* ------------------------------------------------------------------------------------------ harness */

static int rnd_int(int lo, int hi) { return lo + (int) (rnd() % (uint32_t) (hi - lo + 1)); }
static float *rnd_buf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = rnd_float();
    return p;
}

/* max |a - b| / max(max |b|, tiny) */
static double rel_err(const float *a, const double *b, size_t n) {
    double md = 0, mb = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double) a[i] - b[i]);
        if (!(d <= md)) md = d; /* NaN wins */
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------------------------------ cuDNN API */


static size_t (*dnnGetVersion)(void);
static const char *(*dnnGetErrorString)(int);
static void (*dnnGetLastErrorString)(char *, size_t);
static int (*dnnCreate)(void **);
static int (*dnnDestroy)(void *);
static int (*dnnSetStream)(void *, void *);
static int (*dnnCreateTensor)(void **);
static int (*dnnDestroyTensor)(void *);
static int (*dnnSetTensor4d)(void *, int, int, int, int, int, int);
static int (*dnnCreateFilter)(void **);
static int (*dnnDestroyFilter)(void *);
static int (*dnnSetFilter4d)(void *, int, int, int, int, int, int);
static int (*dnnCreateConv)(void **);
static int (*dnnDestroyConv)(void *);
static int (*dnnSetConv2d)(void *, int, int, int, int, int, int, int, int);
static int (*dnnSetMath)(void *, int);
static int (*dnnOutDim)(void *, void *, void *, int *, int *, int *, int *);
static int (*dnnFwdHeur)(void *, void *, void *, void *, void *, int, int *, perf_t *);
static int (*dnnBwdDataHeur)(void *, void *, void *, void *, void *, int, int *, perf_t *);
static int (*dnnBwdFilterHeur)(void *, void *, void *, void *, void *, int, int *, perf_t *);
static int (*dnnFwdFind)(void *, void *, const void *, void *, const void *, void *, void *, void *, int, int *,
                         perf_t *, void *, size_t);
static int (*dnnBwdDataFind)(void *, void *, const void *, void *, const void *, void *, void *, void *, int, int *,
                             perf_t *, void *, size_t);
static int (*dnnBwdFilterFind)(void *, void *, const void *, void *, const void *, void *, void *, void *, int,
                               int *, perf_t *, void *, size_t);
static int (*dnnFwdWs)(void *, void *, void *, void *, void *, int, size_t *);
static int (*dnnBwdDataWs)(void *, void *, void *, void *, void *, int, size_t *);
static int (*dnnBwdFilterWs)(void *, void *, void *, void *, void *, int, size_t *);
static int (*dnnFwd)(void *, const void *, void *, const void *, void *, const void *, void *, int, void *, size_t,
                     const void *, void *, void *);
static int (*dnnBwdData)(void *, const void *, void *, const void *, void *, const void *, void *, int, void *,
                         size_t, const void *, void *, void *);
static int (*dnnBwdFilter)(void *, const void *, void *, const void *, void *, const void *, void *, int, void *,
                           size_t, const void *, void *, void *);

static void load_cudnn(void *l) {
    *(void **) &dnnGetVersion = sym(l, "cudnnGetVersion");
    *(void **) &dnnGetErrorString = sym(l, "cudnnGetErrorString");
    *(void **) &dnnGetLastErrorString = sym(l, "cudnnGetLastErrorString");
    *(void **) &dnnCreate = sym(l, "cudnnCreate");
    *(void **) &dnnDestroy = sym(l, "cudnnDestroy");
    *(void **) &dnnSetStream = sym(l, "cudnnSetStream");
    *(void **) &dnnCreateTensor = sym(l, "cudnnCreateTensorDescriptor");
    *(void **) &dnnDestroyTensor = sym(l, "cudnnDestroyTensorDescriptor");
    *(void **) &dnnSetTensor4d = sym(l, "cudnnSetTensor4dDescriptor");
    *(void **) &dnnCreateFilter = sym(l, "cudnnCreateFilterDescriptor");
    *(void **) &dnnDestroyFilter = sym(l, "cudnnDestroyFilterDescriptor");
    *(void **) &dnnSetFilter4d = sym(l, "cudnnSetFilter4dDescriptor");
    *(void **) &dnnCreateConv = sym(l, "cudnnCreateConvolutionDescriptor");
    *(void **) &dnnDestroyConv = sym(l, "cudnnDestroyConvolutionDescriptor");
    *(void **) &dnnSetConv2d = sym(l, "cudnnSetConvolution2dDescriptor");
    *(void **) &dnnSetMath = sym(l, "cudnnSetConvolutionMathType");
    *(void **) &dnnOutDim = sym(l, "cudnnGetConvolution2dForwardOutputDim");
    *(void **) &dnnFwdHeur = sym(l, "cudnnGetConvolutionForwardAlgorithm_v7");
    *(void **) &dnnBwdDataHeur = sym(l, "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    *(void **) &dnnBwdFilterHeur = sym(l, "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    *(void **) &dnnFwdFind = sym(l, "cudnnFindConvolutionForwardAlgorithmEx");
    *(void **) &dnnBwdDataFind = sym(l, "cudnnFindConvolutionBackwardDataAlgorithmEx");
    *(void **) &dnnBwdFilterFind = sym(l, "cudnnFindConvolutionBackwardFilterAlgorithmEx");
    *(void **) &dnnFwdWs = sym(l, "cudnnGetConvolutionForwardWorkspaceSize");
    *(void **) &dnnBwdDataWs = sym(l, "cudnnGetConvolutionBackwardDataWorkspaceSize");
    *(void **) &dnnBwdFilterWs = sym(l, "cudnnGetConvolutionBackwardFilterWorkspaceSize");
    *(void **) &dnnFwd = sym(l, "cudnnConvolutionForward");
    *(void **) &dnnBwdData = sym(l, "cudnnConvolutionBackwardData");
    *(void **) &dnnBwdFilter = sym(l, "cudnnConvolutionBackwardFilter");
}

/* ------------------------------------------------------------------------------------------ cuBLAS API */

static int (*blasGetProperty)(int, int *);
static const char *(*blasStatusName)(int);
static const char *(*blasStatusString)(int);
static int (*blasCreate)(void **);
static int (*blasDestroy)(void *);
static int (*blasSetStream)(void *, void *);
static int (*blasSetMathMode)(void *, int);
static int (*blasSetWorkspace)(void *, void *, size_t);
static int (*blasSgemm)(void *, int, int, int, int, int, const float *, const float *, int, const float *, int,
                        const float *, float *, int);
static int (*blasSgemmSB)(void *, int, int, int, int, int, const float *, const float *, int, long long,
                          const float *, int, long long, const float *, float *, int, long long, int);
static int (*blasGemmEx)(void *, int, int, int, int, int, const void *, const void *, int, int, const void *, int, int,
                         const void *, void *, int, int, int, int);
static int (*blasGemmSBEx)(void *, int, int, int, int, int, const void *, const void *, int, int, long long,
                           const void *, int, int, long long, const void *, void *, int, int, long long, int, int,
                           int);

static void load_cublas(void *l) {
    *(void **) &blasGetProperty = sym(l, "cublasGetProperty");
    *(void **) &blasStatusName = sym(l, "cublasGetStatusName");
    *(void **) &blasStatusString = sym(l, "cublasGetStatusString");
    *(void **) &blasCreate = sym(l, "cublasCreate_v2");
    *(void **) &blasDestroy = sym(l, "cublasDestroy_v2");
    *(void **) &blasSetStream = sym(l, "cublasSetStream_v2");
    *(void **) &blasSetMathMode = sym(l, "cublasSetMathMode");
    *(void **) &blasSetWorkspace = sym(l, "cublasSetWorkspace_v2");
    *(void **) &blasSgemm = sym(l, "cublasSgemm_v2");
    *(void **) &blasSgemmSB = sym(l, "cublasSgemmStridedBatched");
    *(void **) &blasGemmEx = sym(l, "cublasGemmEx");
    *(void **) &blasGemmSBEx = sym(l, "cublasGemmStridedBatchedEx");
}

/* ------------------------------------------------------------------------------------------ convolution */

typedef struct {
    int n, c, h, w, k, kh, kw, padH, padW, sH, sW, dH, dW, mode;
} shape;

/* textbook output size */
static int ref_out(int in, int pad, int f, int s, int d) { return (in + 2 * pad - d * (f - 1) - 1) / s + 1; }

/* the textbook direct loop: for every output element, every tap */
static void ref_conv(const shape *p, int ho, int wo, const float *x, const float *w, double *y) {
    for (int n = 0; n < p->n; n++)
        for (int k = 0; k < p->k; k++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    double s = 0;
                    for (int c = 0; c < p->c; c++)
                        for (int r = 0; r < p->kh; r++)
                            for (int q = 0; q < p->kw; q++) {
                                int ih = i * p->sH - p->padH + r * p->dH, iw = j * p->sW - p->padW + q * p->dW;
                                if (ih < 0 || ih >= p->h || iw < 0 || iw >= p->w) continue;
                                int fr = p->mode == 0 ? p->kh - 1 - r : r, fq = p->mode == 0 ? p->kw - 1 - q : q;
                                s += (double) x[((n * p->c + c) * p->h + ih) * p->w + iw]
                                     * w[((k * p->c + c) * p->kh + fr) * p->kw + fq];
                            }
                    y[((n * p->k + k) * ho + i) * wo + j] = s;
                }
}

/* <a, b> and sum |a_i b_i| (the scale for a relative comparison) */
static double inner(const float *a, const float *b, size_t n, double *scale) {
    double s = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        s += (double) a[i] * b[i];
        m += fabs((double) a[i] * b[i]);
    }
    if (scale) *scale = m;
    return s;
}

static void *ws_alloc(size_t bytes) { return bytes ? aligned_alloc(256, (bytes + 255) & ~(size_t) 255) : NULL; }

typedef struct {
    void *x, *y, *w, *conv;
} descs;

static int make_descs(const shape *p, int ho, int wo, int math, descs *d) {
    int st = 0;
    st |= dnnCreateTensor(&d->x) | dnnCreateTensor(&d->y) | dnnCreateFilter(&d->w) | dnnCreateConv(&d->conv);
    st |= dnnSetTensor4d(d->x, 0, 0, p->n, p->c, p->h, p->w);
    st |= dnnSetTensor4d(d->y, 0, 0, p->n, p->k, ho, wo);
    st |= dnnSetFilter4d(d->w, 0, 0, p->k, p->c, p->kh, p->kw);
    st |= dnnSetConv2d(d->conv, p->padH, p->padW, p->sH, p->sW, p->dH, p->dW, p->mode, 0);
    st |= dnnSetMath(d->conv, math);
    return st;
}

static void free_descs(descs *d) {
    dnnDestroyTensor(d->x);
    dnnDestroyTensor(d->y);
    dnnDestroyFilter(d->w);
    dnnDestroyConv(d->conv);
}

static void conv_case(void *h, const shape *p, const char *label, int timing) {
    char name[160];
    snprintf(name, sizeof name, "%s x[%d,%d,%d,%d] w[%d,%d,%d,%d] pad %d,%d stride %d,%d dil %d,%d %s", label, p->n,
             p->c, p->h, p->w, p->k, p->c, p->kh, p->kw, p->padH, p->padW, p->sH, p->sW, p->dH, p->dW,
             p->mode ? "xcorr" : "conv");
    int ho = ref_out(p->h, p->padH, p->kh, p->sH, p->dH), wo = ref_out(p->w, p->padW, p->kw, p->sW, p->dW);
    int math = (int) (rnd() % 4);
    descs d;
    if (make_descs(p, ho, wo, math, &d) != 0) {
        report(0, "%s: descriptor setup", name);
        return;
    }
    int on, oc, oh, ow;
    int st = dnnOutDim(d.conv, d.x, d.w, &on, &oc, &oh, &ow);
    report(st == 0 && on == p->n && oc == p->k && oh == ho && ow == wo,
           "(e) output dims %s: status %d, [%d,%d,%d,%d] vs textbook [%d,%d,%d,%d]", name, st, on, oc, oh, ow, p->n,
           p->k, ho, wo);

    size_t nx = (size_t) p->n * p->c * p->h * p->w, nw = (size_t) p->k * p->c * p->kh * p->kw;
    size_t ny = (size_t) p->n * p->k * ho * wo;
    float *x = rnd_buf(nx), *w = rnd_buf(nw), *dy = rnd_buf(ny);
    float *y = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float)), *dw = malloc(nw * sizeof(float));
    double *ref = malloc(ny * sizeof(double));
    double t0 = now_ms();
    ref_conv(p, ho, wo, x, w, ref);
    double tref = now_ms() - t0;
    const float one = 1.0f, zero = 0.0f;

    /* forward: every algorithm the heuristic offers as available */
    perf_t perf[16];
    int got = 0;
    st = dnnFwdHeur(h, d.x, d.w, d.conv, d.y, 8, &got, perf);
    int heurOk = st == 0 && got >= 1 && got <= 8 && perf[0].status == 0 && perf[0].mathType == math;
    report(heurOk, "(e) forward heuristic %s: status %d, %d algos, first algo %d status %d math %d (set %d)", name, st,
           got, got ? perf[0].algo : -1, got ? perf[0].status : -1, got ? perf[0].mathType : -1, math);
    double worstFwd = 0;
    int ranFwd = 0;
    for (int i = 0; i < got; i++) {
        if (perf[i].status != 0) continue;
        size_t wsb = 0;
        int s1 = dnnFwdWs(h, d.x, d.w, d.conv, d.y, perf[i].algo, &wsb);
        void *ws = ws_alloc(wsb);
        fill(y, ny, NAN); /* beta = 0: never read */
        t0 = now_ms();
        int s2 = dnnFwd(h, &one, d.x, x, d.w, w, d.conv, perf[i].algo, ws, wsb, &zero, d.y, y);
        double tf = now_ms() - t0;
        double e = rel_err(y, ref, ny);
        if (s1 != 0 || s2 != 0 || wsb != perf[i].memory) e = INFINITY;
        if (e > worstFwd || e != e) worstFwd = e;
        if (timing && i == 0) printf("     timing %s: forward algo %d %.1f ms (textbook loop %.1f ms)\n", name, perf[i].algo, tf, tref);
        free(ws);
        ranFwd++;
    }
    report(ranFwd > 0 && worstFwd < 1e-6, "(a) forward vs textbook loop %s: %d algos, max rel err %.2e", name, ranFwd,
           worstFwd);

    /* <conv(x, w), dy> from the library's forward output (y holds it now) */
    double sy, sx, sw;
    double lhs = inner(y, dy, ny, &sy);

    st = dnnBwdDataHeur(h, d.w, d.y, d.conv, d.x, 6, &got, perf);
    int ranD = 0;
    double worstD = st == 0 ? 0 : INFINITY;
    for (int i = 0; i < got && st == 0; i++) {
        if (perf[i].status != 0) continue;
        size_t wsb = 0;
        int s1 = dnnBwdDataWs(h, d.w, d.y, d.conv, d.x, perf[i].algo, &wsb);
        void *ws = ws_alloc(wsb);
        fill(dx, nx, NAN);
        t0 = now_ms();
        int s2 = dnnBwdData(h, &one, d.w, w, d.y, dy, d.conv, perf[i].algo, ws, wsb, &zero, d.x, dx);
        double tb = now_ms() - t0;
        double rhs = inner(x, dx, nx, &sx);
        double e = fabs(lhs - rhs) / fmax(fmax(sy, sx), 1e-30);
        if (s1 != 0 || s2 != 0 || e != e) e = INFINITY;
        if (e > worstD) worstD = e;
        if (timing && i == 0) printf("     timing %s: backward-data algo %d %.1f ms\n", name, perf[i].algo, tb);
        free(ws);
        ranD++;
    }
    report(ranD > 0 && worstD < 1e-5, "(b) <conv(x,w),dy> = <x,bwdData(w,dy)> %s: %d algos, rel diff %.2e", name,
           ranD, worstD);

    st = dnnBwdFilterHeur(h, d.x, d.y, d.conv, d.w, 7, &got, perf);
    int ranW = 0;
    double worstW = st == 0 ? 0 : INFINITY;
    for (int i = 0; i < got && st == 0; i++) {
        if (perf[i].status != 0) continue;
        size_t wsb = 0;
        int s1 = dnnBwdFilterWs(h, d.x, d.y, d.conv, d.w, perf[i].algo, &wsb);
        void *ws = ws_alloc(wsb);
        fill(dw, nw, NAN);
        t0 = now_ms();
        int s2 = dnnBwdFilter(h, &one, d.x, x, d.y, dy, d.conv, perf[i].algo, ws, wsb, &zero, d.w, dw);
        double tb = now_ms() - t0;
        double rhs = inner(w, dw, nw, &sw);
        double e = fabs(lhs - rhs) / fmax(fmax(sy, sw), 1e-30);
        if (s1 != 0 || s2 != 0 || e != e) e = INFINITY;
        if (e > worstW) worstW = e;
        if (timing && i == 0) printf("     timing %s: backward-filter algo %d %.1f ms\n", name, perf[i].algo, tb);
        free(ws);
        ranW++;
    }
    report(ranW > 0 && worstW < 1e-5, "(b) <conv(x,w),dy> = <w,bwdFilter(x,dy)> %s: %d algos, rel diff %.2e", name,
           ranW, worstW);

    free(x), free(w), free(dy), free(y), free(dx), free(dw), free(ref);
    free_descs(&d);
}

static void conv_alpha_beta(void *h) {
    shape p = {2, 3, 6, 5, 4, 3, 3, 1, 1, 2, 1, 1, 1, 1};
    int ho = ref_out(p.h, p.padH, p.kh, p.sH, p.dH), wo = ref_out(p.w, p.padW, p.kw, p.sW, p.dW);
    descs d;
    make_descs(&p, ho, wo, 0, &d);
    size_t nx = (size_t) p.n * p.c * p.h * p.w, nw = (size_t) p.k * p.c * p.kh * p.kw;
    size_t ny = (size_t) p.n * p.k * ho * wo;
    float *x = rnd_buf(nx), *w = rnd_buf(nw), *dy = rnd_buf(ny);
    float *y = malloc(ny * 4), *y1 = malloc(ny * 4), *dx = malloc(nx * 4), *dx1 = malloc(nx * 4);
    float *dw = malloc(nw * 4), *dw1 = malloc(nw * 4);
    double *ref = malloc(ny * sizeof(double)), *want = malloc((nx > ny ? (nx > nw ? nx : nw) : (ny > nw ? ny : nw)) * sizeof(double));
    ref_conv(&p, ho, wo, x, w, ref);
    const float one = 1.0f, zero = 0.0f, two = 2.0f, half = 0.5f, m3 = -3.0f;
    /* forward algo 0 needs no workspace */
    fill(y, ny, NAN);
    int st = dnnFwd(h, &two, d.x, x, d.w, w, d.conv, 0, NULL, 0, &zero, d.y, y);
    for (size_t i = 0; i < ny; i++) want[i] = 2 * ref[i];
    report(st == 0 && rel_err(y, want, ny) < 1e-6, "(c) forward alpha=2 beta=0 over NaN: status %d, rel err %.2e", st,
           rel_err(y, want, ny));
    memcpy(y1, y, ny * 4);
    st = dnnFwd(h, &one, d.x, x, d.w, w, d.conv, 0, NULL, 0, &one, d.y, y1);
    for (size_t i = 0; i < ny; i++) want[i] = (double) y[i] + ref[i];
    report(st == 0 && rel_err(y1, want, ny) < 1e-6, "(c) forward beta=1 accumulates: status %d, rel err %.2e", st,
           rel_err(y1, want, ny));
    memcpy(y1, y, ny * 4);
    st = dnnFwd(h, &m3, d.x, x, d.w, w, d.conv, 0, NULL, 0, &half, d.y, y1);
    for (size_t i = 0; i < ny; i++) want[i] = 0.5 * y[i] - 3 * ref[i];
    report(st == 0 && rel_err(y1, want, ny) < 1e-6, "(c) forward alpha=-3 beta=0.5: status %d, rel err %.2e", st,
           rel_err(y1, want, ny));

    fill(dx, nx, NAN);
    st = dnnBwdData(h, &one, d.w, w, d.y, dy, d.conv, 1, NULL, 0, &zero, d.x, dx);
    int nanFree = 1;
    for (size_t i = 0; i < nx; i++) nanFree &= dx[i] == dx[i];
    report(st == 0 && nanFree, "(c) backward-data beta=0 over NaN: status %d, %s", st, nanFree ? "no NaN" : "NaN leaked");
    memcpy(dx1, dx, nx * 4);
    st = dnnBwdData(h, &two, d.w, w, d.y, dy, d.conv, 1, NULL, 0, &one, d.x, dx1);
    for (size_t i = 0; i < nx; i++) want[i] = 3.0 * dx[i];
    report(st == 0 && rel_err(dx1, want, nx) < 1e-6, "(c) backward-data alpha=2 beta=1 accumulates: status %d, rel err %.2e",
           st, rel_err(dx1, want, nx));

    size_t wsb = 0;
    dnnBwdFilterWs(h, d.x, d.y, d.conv, d.w, 1, &wsb);
    void *ws = ws_alloc(wsb);
    fill(dw, nw, NAN);
    st = dnnBwdFilter(h, &one, d.x, x, d.y, dy, d.conv, 1, ws, wsb, &zero, d.w, dw);
    nanFree = 1;
    for (size_t i = 0; i < nw; i++) nanFree &= dw[i] == dw[i];
    report(st == 0 && nanFree, "(c) backward-filter beta=0 over NaN: status %d, %s", st, nanFree ? "no NaN" : "NaN leaked");
    memcpy(dw1, dw, nw * 4);
    st = dnnBwdFilter(h, &one, d.x, x, d.y, dy, d.conv, 1, ws, wsb, &one, d.w, dw1);
    for (size_t i = 0; i < nw; i++) want[i] = 2.0 * dw[i];
    report(st == 0 && rel_err(dw1, want, nw) < 1e-6,
           "(c) backward-filter beta=1 accumulates (gradient accumulation): status %d, rel err %.2e", st,
           rel_err(dw1, want, nw));
    free(ws);
    free(x), free(w), free(dy), free(y), free(y1), free(dx), free(dx1), free(dw), free(dw1), free(ref), free(want);
    free_descs(&d);
}

static void cudnn_errors(void *h) {
    char msg[512];
    report(dnnGetVersion() == 90300, "(e) cudnnGetVersion = %zu", dnnGetVersion());
    report(strcmp(dnnGetErrorString(2000), "CUDNN_STATUS_BAD_PARAM") == 0
               && strcmp(dnnGetErrorString(3000), "CUDNN_STATUS_NOT_SUPPORTED") == 0
               && strcmp(dnnGetErrorString(0), "CUDNN_STATUS_SUCCESS") == 0,
           "(e) cudnnGetErrorString names: %s, %s", dnnGetErrorString(2000), dnnGetErrorString(3000));
    report(dnnSetStream(h, (void *) 0x1234) == 0, "(e) cudnnSetStream");

    void *t, *f, *c;
    dnnCreateTensor(&t);
    dnnCreateFilter(&f);
    dnnCreateConv(&c);
    int st = dnnSetTensor4d(t, 2, 0, 1, 2, 3, 4);
    report(st == 3000, "(e) NCHW_VECT_C tensor -> NOT_SUPPORTED: %d", st);
    st = dnnSetTensor4d(t, 0, 2, 1, 2, 3, 4);
    report(st == 3000, "(e) half tensor -> NOT_SUPPORTED: %d", st);
    st = dnnSetTensor4d(t, 0, 0, 1, 0, 3, 4);
    report(st == 2000, "(e) zero channels -> BAD_PARAM: %d", st);
    st = dnnSetFilter4d(f, 0, 0, 2, 3, -1, 3);
    report(st == 2000, "(e) negative filter height -> BAD_PARAM: %d", st);
    st = dnnSetConv2d(c, 0, 0, 0, 1, 1, 1, 1, 0);
    report(st == 2000, "(e) stride 0 -> BAD_PARAM: %d", st);
    st = dnnSetConv2d(c, -1, 0, 1, 1, 1, 1, 1, 0);
    report(st == 2000, "(e) negative padding -> BAD_PARAM: %d", st);
    st = dnnSetMath(c, 7);
    report(st == 2000, "(e) math type 7 -> BAD_PARAM: %d", st);
    dnnDestroyTensor(t);
    dnnDestroyFilter(f);
    dnnDestroyConv(c);

    /* a 3x3 filter on a 2x2 input without padding */
    shape big = {1, 1, 2, 2, 1, 3, 3, 0, 0, 1, 1, 1, 1, 1};
    descs d;
    make_descs(&big, 1, 1, 0, &d);
    int n, cc, hh, ww;
    st = dnnOutDim(d.conv, d.x, d.w, &n, &cc, &hh, &ww);
    report(st == 2000, "(e) filter larger than padded input -> BAD_PARAM: %d", st);
    free_descs(&d);

    shape p = {2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    make_descs(&p, 8, 8, 0, &d);
    float *x = rnd_buf(2 * 3 * 64), *w = rnd_buf(4 * 3 * 9), *y = rnd_buf(2 * 4 * 64), *dy = rnd_buf(2 * 4 * 64);
    float *dx = rnd_buf(2 * 3 * 64), *dw = rnd_buf(4 * 3 * 9);
    const float one = 1.0f, zero = 0.0f;
    /* y descriptor with the wrong spatial size */
    void *bad;
    dnnCreateTensor(&bad);
    dnnSetTensor4d(bad, 0, 0, 2, 4, 7, 8);
    st = dnnFwd(h, &one, d.x, x, d.w, w, d.conv, 0, NULL, 0, &zero, bad, y);
    msg[0] = 0;
    dnnGetLastErrorString(msg, sizeof msg);
    report(st == 2000 && msg[0] != 0, "(e) forward with y desc [2,4,7,8] -> BAD_PARAM %d, last error \"%s\"", st, msg);
    perf_t perf[8];
    int got;
    st = dnnFwdHeur(h, d.x, d.w, d.conv, bad, 8, &got, perf);
    report(st == 2000, "(e) forward heuristic with mismatched y -> BAD_PARAM: %d", st);
    st = dnnBwdData(h, &one, d.w, w, bad, dy, d.conv, 1, NULL, 0, &zero, d.x, dx);
    report(st == 2000, "(e) backward-data with mismatched dy -> BAD_PARAM: %d", st);
    dnnDestroyTensor(bad);

    size_t need = 0;
    st = dnnFwdWs(h, d.x, d.w, d.conv, d.y, 2, &need);
    void *ws = ws_alloc(need);
    int st2 = dnnFwd(h, &one, d.x, x, d.w, w, d.conv, 2, ws, need - 4, &zero, d.y, y);
    msg[0] = 0;
    dnnGetLastErrorString(msg, sizeof msg);
    report(st == 0 && need > 0 && st2 == 2000, "(e) forward algo 2 needs %zu bytes, given %zu -> BAD_PARAM %d, \"%s\"",
           need, need - 4, st2, msg);
    st2 = dnnFwd(h, &one, d.x, x, d.w, w, d.conv, 2, NULL, need, &zero, d.y, y);
    report(st2 == 2000, "(e) forward algo 2 with a NULL workspace -> BAD_PARAM: %d", st2);
    st2 = dnnFwd(h, &one, d.x, x, d.w, w, d.conv, 2, ws, need, &zero, d.y, y);
    report(st2 == 0, "(e) forward algo 2 with exactly its workspace: %d", st2);
    st = dnnFwd(h, &one, d.x, x, d.w, w, d.conv, 8, NULL, 0, &zero, d.y, y);
    report(st == 2000, "(e) forward algo 8 (outside the enum) -> BAD_PARAM: %d", st);
    st = dnnFwd(h, &one, d.x, x, d.w, w, d.conv, 4, NULL, 0, &zero, d.y, y);
    report(st == 3000, "(e) forward algo 4 (FFT, not emulated) -> NOT_SUPPORTED: %d", st);
    st = dnnBwdFilter(h, &one, d.x, x, d.y, dy, d.conv, 6, NULL, 0, &zero, d.w, dw);
    report(st == 3000, "(e) backward-filter algo 6 -> NOT_SUPPORTED: %d", st);
    st = dnnBwdFilter(h, &one, d.x, x, d.y, dy, d.conv, 1, NULL, 0, &zero, d.w, dw);
    report(st == 2000, "(e) backward-filter algo 1 without its workspace -> BAD_PARAM: %d", st);
    st = dnnFwd(NULL, &one, d.x, x, d.w, w, d.conv, 0, NULL, 0, &zero, d.y, y);
    report(st == 2000, "(e) NULL handle -> BAD_PARAM: %d", st);

    /* heuristic lists: requested count honoured, determinism flags as documented */
    st = dnnFwdHeur(h, d.x, d.w, d.conv, d.y, 2, &got, perf);
    report(st == 0 && got == 2 && perf[0].algo == 1 && perf[1].algo == 0, "(e) forward heuristic, 2 requested: %d returned (%d, %d)",
           got, perf[0].algo, perf[1].algo);
    st = dnnBwdDataHeur(h, d.w, d.y, d.conv, d.x, 6, &got, perf);
    int detOk = st == 0 && got <= 6;
    for (int i = 0; i < got; i++) detOk &= perf[i].status != 0 || perf[i].determinism == (perf[i].algo != 0);
    report(detOk, "(e) backward-data heuristic: %d entries, ALGO_0 non-deterministic", got);
    st = dnnBwdFilterHeur(h, d.x, d.y, d.conv, d.w, 7, &got, perf);
    detOk = st == 0 && got <= 7;
    for (int i = 0; i < got; i++) detOk &= perf[i].status != 0 || perf[i].determinism == (perf[i].algo != 0 && perf[i].algo != 3);
    report(detOk, "(e) backward-filter heuristic: %d entries, ALGO_0 and ALGO_3 non-deterministic", got);

    /* Find: runs the convolution into y; with no workspace only algorithms needing none come first */
    double *ref = malloc(2 * 4 * 64 * sizeof(double));
    ref_conv(&p, 8, 8, x, w, ref);
    fill(y, 2 * 4 * 64, NAN);
    st = dnnFwdFind(h, d.x, x, d.w, w, d.conv, d.y, y, 8, &got, perf, NULL, 0);
    int findOk = st == 0 && got >= 1 && perf[0].status == 0 && perf[0].memory == 0;
    for (int i = 0; i < got; i++) findOk &= perf[i].status != 0 || perf[i].memory == 0;
    report(findOk && rel_err(y, ref, 2 * 4 * 64) < 1e-6,
           "(e) forward Find without workspace: first algo %d, all successes need 0 bytes, y written (rel err %.2e)",
           perf[0].algo, rel_err(y, ref, 2 * 4 * 64));
    st = dnnFwdFind(h, d.x, x, d.w, w, d.conv, d.y, y, 8, &got, perf, ws, need);
    int ok3 = 0;
    for (int i = 0; i < got; i++) ok3 += perf[i].status == 0;
    report(st == 0 && ok3 == 3, "(e) forward Find with %zu bytes: %d algorithms available", need, ok3);
    fill(dx, 2 * 3 * 64, NAN);
    st = dnnBwdDataFind(h, d.w, w, d.y, dy, d.conv, d.x, dx, 6, &got, perf, NULL, 0);
    int nanFree = 1;
    for (int i = 0; i < 2 * 3 * 64; i++) nanFree &= dx[i] == dx[i];
    report(st == 0 && got >= 1 && perf[0].status == 0 && nanFree, "(e) backward-data Find: status %d, first algo %d, dx written",
           st, perf[0].algo);
    fill(dw, 4 * 3 * 9, NAN);
    st = dnnBwdFilterFind(h, d.x, x, d.y, dy, d.conv, d.w, dw, 7, &got, perf, NULL, 0);
    nanFree = 1;
    for (int i = 0; i < 4 * 3 * 9; i++) nanFree &= dw[i] == dw[i];
    report(st == 0 && got >= 1 && perf[0].status == 0 && perf[0].memory == 0 && nanFree,
           "(e) backward-filter Find without workspace: status %d, first algo %d, dw written", st, perf[0].algo);
    free(ws), free(ref);
    free(x), free(w), free(y), free(dy), free(dx), free(dw);
    free_descs(&d);
}

/* ------------------------------------------------------------------------------------------ GEMM */

/* column-major element (i, j) of op(M) */
static float opget(const float *M, int ld, int trans, int i, int j) { return trans ? M[j + (size_t) i * ld] : M[i + (size_t) j * ld]; }

/* naive: C = alpha op(A) op(B) + beta C0, column-major; beta == 0 ignores C0 */
static void ref_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, const float *C0, int ldc, double *out) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int l = 0; l < k; l++) s += (double) opget(A, lda, ta, i, l) * opget(B, ldb, tb, l, j);
            out[i + (size_t) j * ldc] = alpha * s + (beta != 0.0f ? (double) beta * C0[i + (size_t) j * ldc] : 0.0);
        }
}

/* compares the m x n block of C (ld ldc) with want and checks that the padding rows kept their value */
static double cmp_block(const float *C, const double *want, int m, int n, int ldc, const float *C0, int *padOk) {
    double md = 0, mb = 1e-30;
    *padOk = 1;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < ldc; i++) {
            size_t q = i + (size_t) j * ldc;
            if (i >= m) {
                if (memcmp(&C[q], &C0[q], 4) != 0) *padOk = 0;
                continue;
            }
            double d = fabs(C[q] - want[q]);
            if (!(d <= md)) md = d;
            if (fabs(want[q]) > mb) mb = fabs(want[q]);
        }
    }
    return md / mb;
}

static void gemm_cases(void *h) {
    const char *opn = "NT";
    for (int variant = 0; variant < 3; variant++) { /* Sgemm_v2, GemmEx 32F, GemmEx FAST_TF32 */
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                int m = rnd_int(1, 37), n = rnd_int(1, 29), k = rnd_int(1, 41);
                int lda = (ta ? k : m) + rnd_int(0, 3), ldb = (tb ? n : k) + rnd_int(0, 3), ldc = m + rnd_int(0, 3);
                float *A = rnd_buf((size_t) lda * (ta ? m : k)), *B = rnd_buf((size_t) ldb * (tb ? k : n));
                float *C0 = rnd_buf((size_t) ldc * n), *C = malloc((size_t) ldc * n * 4);
                double *want = malloc((size_t) ldc * n * sizeof(double));
                float alpha = 1.5f, beta = (variant == 1) ? 0.0f : -0.75f;
                memcpy(C, C0, (size_t) ldc * n * 4);
                if (beta == 0.0f) {
                    for (int j = 0; j < n; j++)
                        for (int i = 0; i < m; i++) C[i + (size_t) j * ldc] = NAN;
                }
                int st;
                if (variant == 0) st = blasSgemm(h, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
                else st = blasGemmEx(h, ta, tb, m, n, k, &alpha, A, 0, lda, B, 0, ldb, &beta, C, 0, ldc,
                                     variant == 1 ? 68 : 77, -1);
                ref_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C0, ldc, want);
                int padOk;
                double e = cmp_block(C, want, m, n, ldc, C0, &padOk);
                report(st == 0 && e < 1e-6 && padOk, "(d) %s %c%c m=%d n=%d k=%d lda=%d ldb=%d ldc=%d beta=%g: status %d, rel err %.2e%s",
                       variant == 0 ? "cublasSgemm_v2" : variant == 1 ? "cublasGemmEx(32F)" : "cublasGemmEx(FAST_TF32)",
                       opn[ta], opn[tb], m, n, k, lda, ldb, ldc, beta, st, e, padOk ? "" : ", padding overwritten");
                free(A), free(B), free(C0), free(C), free(want);
            }
        }
    }

    /* strided batched, with gaps between the matrices that must stay untouched */
    for (int variant = 0; variant < 2; variant++) {
        int ta = variant, tb = 1 - variant, batch = 3;
        int m = rnd_int(2, 17), n = rnd_int(2, 13), k = rnd_int(2, 19);
        int lda = (ta ? k : m) + 1, ldb = (tb ? n : k), ldc = m + 2;
        long long sA = (long long) lda * (ta ? m : k) + 5, sB = (long long) ldb * (tb ? k : n) + 3,
                  sC = (long long) ldc * n + 7;
        float *A = rnd_buf(sA * batch), *B = rnd_buf(sB * batch), *C0 = rnd_buf(sC * batch);
        float *C = malloc(sC * batch * 4);
        memcpy(C, C0, sC * batch * 4);
        float alpha = 0.5f, beta = 2.0f;
        int st = variant == 0 ? blasSgemmSB(h, ta, tb, m, n, k, &alpha, A, lda, sA, B, ldb, sB, &beta, C, ldc, sC, batch)
                              : blasGemmSBEx(h, ta, tb, m, n, k, &alpha, A, 0, lda, sA, B, 0, ldb, sB, &beta, C, 0, ldc,
                                             sC, batch, 68, -1);
        double worst = 0;
        int padOk = 1;
        double *want = malloc(sC * sizeof(double));
        for (int p = 0; p < batch; p++) {
            int po;
            ref_gemm(ta, tb, m, n, k, alpha, A + p * sA, lda, B + p * sB, ldb, beta, C0 + p * sC, ldc, want);
            double e = cmp_block(C + p * sC, want, m, n, ldc, C0 + p * sC, &po);
            if (e > worst || e != e) worst = e;
            padOk &= po;
            for (long long q = (long long) ldc * n; q < sC; q++) padOk &= memcmp(&C[p * sC + q], &C0[p * sC + q], 4) == 0;
        }
        report(st == 0 && worst < 1e-6 && padOk, "(d) %s %c%c batch=%d m=%d n=%d k=%d strides %lld/%lld/%lld: status %d, rel err %.2e%s",
               variant == 0 ? "cublasSgemmStridedBatched" : "cublasGemmStridedBatchedEx", opn[ta], opn[tb], batch, m, n, k,
               sA, sB, sC, st, worst, padOk ? "" : ", gaps overwritten");
        free(A), free(B), free(C0), free(C), free(want);
    }

    /* the row-major mapping of Cublas.matmulRowMajor: C[m,n] = op(A) op(B) as C^T = op(B)^T op(A)^T */
    for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
            int m = rnd_int(1, 9), n = rnd_int(1, 9), k = rnd_int(1, 9);
            float *A = rnd_buf((size_t) m * k), *B = rnd_buf((size_t) k * n), *C = malloc((size_t) m * n * 4);
            fill(C, (size_t) m * n, NAN);
            int lda = ta ? m : k, ldb = tb ? k : n;
            float alpha = 1.0f, beta = 0.0f;
            int st = blasGemmEx(h, tb, ta, n, m, k, &alpha, B, 0, ldb, A, 0, lda, &beta, C, 0, n, 68, -1);
            double md = 0, mb = 1e-30;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int l = 0; l < k; l++) {
                        double a = ta ? A[l * m + i] : A[i * k + l]; /* row-major A [m,k] or [k,m] */
                        double b = tb ? B[j * k + l] : B[l * n + j]; /* row-major B [k,n] or [n,k] */
                        s += a * b;
                    }
                    double d = fabs(C[i * n + j] - s);
                    if (!(d <= md)) md = d;
                    if (fabs(s) > mb) mb = fabs(s);
                }
            report(st == 0 && md / mb < 1e-6, "(d) row-major mapping transA=%d transB=%d m=%d n=%d k=%d: rel err %.2e", ta, tb,
                   m, n, k, md / mb);
            free(A), free(B), free(C);
        }
    }
}

static void cublas_errors(void *h) {
    int maj = -1, min = -1, pat = -1;
    int st = blasGetProperty(0, &maj) | blasGetProperty(1, &min) | blasGetProperty(2, &pat);
    report(st == 0 && maj == 13 && min == 0 && pat == 0, "(e) cublasGetProperty: %d.%d.%d", maj, min, pat);
    report(strcmp(blasStatusName(7), "CUBLAS_STATUS_INVALID_VALUE") == 0 && strcmp(blasStatusName(0), "CUBLAS_STATUS_SUCCESS") == 0
               && strcmp(blasStatusName(15), "CUBLAS_STATUS_NOT_SUPPORTED") == 0,
           "(e) cublasGetStatusName: %s / %s", blasStatusName(7), blasStatusString(7));
    float A[64] = {0}, B[64] = {0}, C[64] = {0}, one = 1.0f, zero = 0.0f;
    st = blasSgemm(h, 0, 0, -1, 2, 2, &one, A, 2, B, 2, &zero, C, 2);
    report(st == 7, "(e) sgemm m=-1 -> INVALID_VALUE: %d", st);
    st = blasSgemm(h, 0, 0, 4, 2, 3, &one, A, 3, B, 3, &zero, C, 4);
    report(st == 7, "(e) sgemm N lda=3 < m=4 -> INVALID_VALUE: %d", st);
    st = blasSgemm(h, 1, 0, 4, 2, 3, &one, A, 3, B, 3, &zero, C, 4);
    report(st == 0, "(e) sgemm T lda=3 = k is fine: %d", st);
    st = blasSgemm(h, 0, 1, 4, 2, 3, &one, A, 4, B, 1, &zero, C, 4);
    report(st == 7, "(e) sgemm transB ldb=1 < n=2 -> INVALID_VALUE: %d", st);
    st = blasSgemm(h, 0, 0, 4, 2, 3, &one, A, 4, B, 3, &zero, C, 3);
    report(st == 7, "(e) sgemm ldc=3 < m=4 -> INVALID_VALUE: %d", st);
    st = blasSgemm(h, 5, 0, 2, 2, 2, &one, A, 2, B, 2, &zero, C, 2);
    report(st == 7, "(e) sgemm transa=5 -> INVALID_VALUE: %d", st);
    st = blasSgemm(NULL, 0, 0, 2, 2, 2, &one, A, 2, B, 2, &zero, C, 2);
    report(st == 1, "(e) sgemm NULL handle -> NOT_INITIALIZED: %d", st);
    st = blasSgemmSB(h, 0, 0, 2, 2, 2, &one, A, 2, 4, B, 2, 4, &zero, C, 2, 4, -1);
    report(st == 7, "(e) strided batched batchCount=-1 -> INVALID_VALUE: %d", st);
    st = blasGemmEx(h, 0, 0, 2, 2, 2, &one, A, 2, 2, B, 0, 2, &zero, C, 0, 2, 68, -1);
    report(st == 15, "(e) GemmEx Atype CUDA_R_16F -> NOT_SUPPORTED: %d", st);
    st = blasGemmEx(h, 0, 0, 2, 2, 2, &one, A, 0, 2, B, 0, 2, &zero, C, 0, 2, 64, -1);
    report(st == 15, "(e) GemmEx compute 16F -> NOT_SUPPORTED: %d", st);
    st = blasGemmSBEx(h, 0, 0, 2, 2, 2, &one, A, 0, 2, 4, B, 0, 2, 4, &zero, C, 0, 2, 4, 2, 69, -1);
    report(st == 0, "(e) GemmStridedBatchedEx compute 32F_PEDANTIC accepted: %d", st);
    st = blasSetMathMode(h, 3) | blasSetMathMode(h, 0) | blasSetMathMode(h, 2 | 16);
    report(st == 0 && blasSetMathMode(h, 9) == 7, "(e) cublasSetMathMode: 0/2|16/3 accepted, 9 rejected");
    void *ws = aligned_alloc(256, 4096);
    st = blasSetStream(h, (void *) 0x10);
    int st2 = blasSetWorkspace(h, ws, 4096), st3 = blasSetWorkspace(h, (char *) ws + 16, 1024);
    report(st == 0 && st2 == 0 && st3 == 7, "(e) cublasSetWorkspace_v2: 256-aligned ok (%d), 16-byte offset -> INVALID_VALUE (%d)",
           st2, st3);
    free(ws);
}

/* ------------------------------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s libcublas.so.13 libcudnn.so.9\n", argv[0]);
        return 2;
    }
    void *lb = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL), *ld = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (lb == NULL || ld == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    load_cublas(lb);
    load_cudnn(ld);

    void *bh = NULL, *dh = NULL;
    report(blasCreate(&bh) == 0 && bh != NULL, "(e) cublasCreate_v2");
    report(dnnCreate(&dh) == 0 && dh != NULL, "(e) cudnnCreate");

    /* fixed shapes covering the cases named in the header, then random ones */
    static const shape fixed[] = {
        /* n  c  h  w  k kh kw padH padW sH sW dH dW mode */
        {2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* 3x3 pad 1, non-square */
        {3, 2, 8, 6, 5, 3, 3, 1, 1, 2, 2, 1, 1, 1},  /* 3x3 pad 1 stride 2 (downsampling) */
        {2, 4, 5, 9, 3, 1, 1, 0, 0, 1, 1, 1, 1, 1},  /* 1x1 */
        {1, 3, 9, 7, 2, 1, 1, 0, 0, 2, 2, 1, 1, 1},  /* 1x1 stride 2 */
        {2, 2, 6, 7, 3, 3, 3, 0, 0, 1, 1, 1, 1, 1},  /* 3x3 no padding */
        {2, 2, 7, 6, 3, 3, 3, 1, 1, 2, 2, 1, 1, 1},  /* stride 2 with odd sizes */
        {2, 2, 9, 8, 2, 3, 3, 2, 2, 1, 1, 2, 2, 1},  /* dilation 2 */
        {2, 3, 7, 6, 2, 3, 2, 1, 0, 2, 1, 1, 1, 0},  /* true convolution, rectangular filter */
        {1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1},  /* 1 element */
        {2, 2, 3, 3, 2, 3, 3, 2, 2, 3, 3, 1, 1, 1},  /* padding larger than needed, stride 3 */
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) conv_case(dh, &fixed[i], "fixed", 0);
    for (int i = 0; i < 12; i++) {
        shape p;
        do {
            p.n = rnd_int(1, 3), p.c = rnd_int(1, 5), p.h = rnd_int(1, 11), p.w = rnd_int(1, 11), p.k = rnd_int(1, 5);
            p.kh = rnd_int(1, 3), p.kw = rnd_int(1, 3), p.padH = rnd_int(0, 2), p.padW = rnd_int(0, 2);
            p.sH = rnd_int(1, 3), p.sW = rnd_int(1, 3), p.dH = rnd_int(1, 2), p.dW = rnd_int(1, 2), p.mode = rnd_int(0, 1);
        } while (p.h + 2 * p.padH < p.dH * (p.kh - 1) + 1 || p.w + 2 * p.padW < p.dW * (p.kw - 1) + 1);
        conv_case(dh, &p, "random", 0);
    }
    /* the size the emulated U-Net tests run, with timings */
    shape unet = {4, 64, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    conv_case(dh, &unet, "unet", 1);

    conv_alpha_beta(dh);
    cudnn_errors(dh);
    gemm_cases(bh);
    cublas_errors(bh);

    report(blasDestroy(bh) == 0, "(e) cublasDestroy_v2");
    report(dnnDestroy(dh) == 0, "(e) cudnnDestroy");
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
