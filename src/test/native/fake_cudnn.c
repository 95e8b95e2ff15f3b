/*
 * A stand-in for libcudnn.so.9 used by CudnnShimTest: descriptors are small structs that remember what the shim
 * set (tensor format/type/dims, filter type/format/dims, convolution settings and math type); the _v7
 * heuristics return fixed lists that exercise the shim's choice (skip failed, too-large and, when asked,
 * non-deterministic algorithms); every convolution call is appended to LOG_PATH (a -D define). The output-dim
 * query uses the real formula, so the shim's shape check is exercised too. Returns CUDNN_STATUS_BAD_PARAM (2000)
 * from cudnnConvolutionForward when the workspace pointer is 0xBAD.
 * The perf struct is written out here as cudnn_cnn.h declares it, independently of native/cudnn_decls.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int algo;          /* cudnnConvolution*Algo_t */
    int status;        /* cudnnStatus_t */
    float time;
    size_t memory;
    int determinism;   /* cudnnDeterminism_t */
    int mathType;      /* cudnnMathType_t */
    int reserved[3];
} perf_t;

typedef struct { int kind, a, b, n, c, h, w; } desc_t;   /* tensor: a=format b=type; filter: a=type b=format */
typedef struct { int kind, padH, padW, u, v, dh, dw, mode, type, math; } conv_t;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void logf_(const char *fmt, ...) {
    FILE *f = fopen(LOG_PATH, "a");
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static int handle_storage;
size_t cudnnGetVersion(void) { return 90300; }
const char *cudnnGetErrorString(int s) { return s == 2000 ? "CUDNN_STATUS_BAD_PARAM" : "CUDNN_STATUS_?"; }
void cudnnGetLastErrorString(char *m, size_t n) { snprintf(m, n, "fake: workspace is 0xBAD"); }
int cudnnCreate(void **h) { *h = &handle_storage; return 0; }
int cudnnDestroy(void *h) { return 0; }
int cudnnSetStream(void *h, void *s) { logf_("setStream %llx", (unsigned long long) (size_t) s); return 0; }

int cudnnCreateTensorDescriptor(desc_t **d) { *d = calloc(1, sizeof(desc_t)); (*d)->kind = 1; return 0; }
int cudnnDestroyTensorDescriptor(desc_t *d) { free(d); return 0; }
int cudnnSetTensor4dDescriptor(desc_t *d, int format, int type, int n, int c, int h, int w) {
    d->a = format; d->b = type; d->n = n; d->c = c; d->h = h; d->w = w;
    logf_("tensor format=%d type=%d %d %d %d %d", format, type, n, c, h, w);
    return 0;
}
int cudnnCreateFilterDescriptor(desc_t **d) { *d = calloc(1, sizeof(desc_t)); (*d)->kind = 2; return 0; }
int cudnnDestroyFilterDescriptor(desc_t *d) { free(d); return 0; }
int cudnnSetFilter4dDescriptor(desc_t *d, int type, int format, int k, int c, int h, int w) {
    d->a = type; d->b = format; d->n = k; d->c = c; d->h = h; d->w = w;
    logf_("filter type=%d format=%d %d %d %d %d", type, format, k, c, h, w);
    return 0;
}
int cudnnCreateConvolutionDescriptor(conv_t **d) { *d = calloc(1, sizeof(conv_t)); (*d)->kind = 3; return 0; }
int cudnnDestroyConvolutionDescriptor(conv_t *d) { free(d); return 0; }
int cudnnSetConvolution2dDescriptor(conv_t *d, int padH, int padW, int u, int v, int dh, int dw, int mode, int type) {
    d->padH = padH; d->padW = padW; d->u = u; d->v = v; d->dh = dh; d->dw = dw; d->mode = mode; d->type = type;
    logf_("conv pad=%d,%d stride=%d,%d dilation=%d,%d mode=%d type=%d", padH, padW, u, v, dh, dw, mode, type);
    return 0;
}
int cudnnSetConvolutionMathType(conv_t *d, int math) { d->math = math; return 0; }
int cudnnGetConvolution2dForwardOutputDim(conv_t *cv, desc_t *x, desc_t *w, int *n, int *c, int *h, int *wo) {
    *n = x->n;
    *c = w->n;
    *h = (x->h + 2 * cv->padH - cv->dh * (w->h - 1) - 1) / cv->u + 1;
    *wo = (x->w + 2 * cv->padW - cv->dw * (w->w - 1) - 1) / cv->v + 1;
    return 0;
}

static void fill(perf_t *p, int algo, int status, size_t mem, int det, int math) {
    memset(p, 0, sizeof *p);
    p->algo = algo; p->status = status; p->memory = mem; p->determinism = det; p->mathType = math; p->time = -1;
}

/* forward: NOT_SUPPORTED first, then one needing 1 TiB, then the one to pick */
int cudnnGetConvolutionForwardAlgorithm_v7(void *h, desc_t *x, desc_t *w, conv_t *c, desc_t *y, int req, int *got,
                                           perf_t *p) {
    fill(&p[0], 1, 3000, 0, 1, 0);
    fill(&p[1], 6, 0, (size_t) 1 << 40, 1, 2);
    fill(&p[2], 0, 0, 1024, 1, c->math);
    *got = 3;
    return req >= 3 ? 0 : 2000;
}
/* backward data: a non-deterministic one first */
int cudnnGetConvolutionBackwardDataAlgorithm_v7(void *h, desc_t *w, desc_t *dy, conv_t *c, desc_t *dx, int req,
                                                int *got, perf_t *p) {
    fill(&p[0], 0, 0, 0, 0, 0);
    fill(&p[1], 1, 0, 64, 1, 0);
    *got = 2;
    return 0;
}
int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void *h, desc_t *x, desc_t *dy, conv_t *c, desc_t *dw, int req,
                                                  int *got, perf_t *p) {
    fill(&p[0], 3, 0, 0, 0, 0);
    fill(&p[1], 1, 0, 128, 1, c->math);
    *got = 2;
    return 0;
}
int cudnnGetConvolutionForwardWorkspaceSize(void *h, desc_t *x, desc_t *w, conv_t *c, desc_t *y, int algo,
                                            size_t *s) { *s = 1000 + algo; return 0; }
int cudnnGetConvolutionBackwardDataWorkspaceSize(void *h, desc_t *w, desc_t *dy, conv_t *c, desc_t *dx, int algo,
                                                 size_t *s) { *s = 2000 + algo; return 0; }
int cudnnGetConvolutionBackwardFilterWorkspaceSize(void *h, desc_t *x, desc_t *dy, conv_t *c, desc_t *dw, int algo,
                                                   size_t *s) { *s = 3000 + algo; return 0; }

int cudnnConvolutionForward(void *h, const float *alpha, desc_t *xd, const void *x, desc_t *wd, const void *w,
                            conv_t *c, int algo, void *ws, size_t wsb, const float *beta, desc_t *yd, void *y) {
    logf_("forward algo=%d math=%d x=%llx w=%llx y=%llx ws=%llx/%zu alpha=%g beta=%g xdims=%d,%d,%d,%d ydims=%d,%d,%d,%d",
          algo, c->math, (unsigned long long) (size_t) x, (unsigned long long) (size_t) w,
          (unsigned long long) (size_t) y, (unsigned long long) (size_t) ws, wsb, *alpha, *beta, xd->n, xd->c, xd->h,
          xd->w, yd->n, yd->c, yd->h, yd->w);
    return (size_t) ws == 0xBAD ? 2000 : 0;
}
int cudnnConvolutionBackwardData(void *h, const float *alpha, desc_t *wd, const void *w, desc_t *dyd, const void *dy,
                                 conv_t *c, int algo, void *ws, size_t wsb, const float *beta, desc_t *dxd, void *dx) {
    logf_("backwardData algo=%d w=%llx dy=%llx dx=%llx alpha=%g beta=%g dxdims=%d,%d,%d,%d", algo,
          (unsigned long long) (size_t) w, (unsigned long long) (size_t) dy, (unsigned long long) (size_t) dx, *alpha,
          *beta, dxd->n, dxd->c, dxd->h, dxd->w);
    return 0;
}
int cudnnConvolutionBackwardFilter(void *h, const float *alpha, desc_t *xd, const void *x, desc_t *dyd,
                                   const void *dy, conv_t *c, int algo, void *ws, size_t wsb, const float *beta,
                                   desc_t *dwd, void *dw) {
    logf_("backwardFilter algo=%d x=%llx dy=%llx dw=%llx alpha=%g beta=%g dwdims=%d,%d,%d,%d", algo,
          (unsigned long long) (size_t) x, (unsigned long long) (size_t) dy, (unsigned long long) (size_t) dw,
          *alpha, *beta, dwd->n, dwd->c, dwd->h, dwd->w);
    return 0;
}
