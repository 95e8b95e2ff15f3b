/*
 * cudnn_emu.c: a CPU stand-in for libcudnn, built as libcudnn.so.9, used ONLY by the emulated-CUDA tests
 * (never shipped, never on a user's library path). In the emulation a "device pointer" is an ordinary host
 * pointer, so the convolutions compute directly on host memory; the stream is remembered but otherwise ignored
 * (the emulated driver has one queue). Reports itself as cuDNN 9.3.0. The arithmetic of the passes (and of NHWC and
 * bf16 operands) is in cudnn_emu_math.c.
 *
 * Asynchrony: the emulated libcuda.so.1 queues kernels, memsets and copies in stream order and runs them only at
 * synchronising calls, like a GPU. So the three convolution passes validate their arguments at call time (the
 * statuses below), check with d4jemu_check_range that the whole of each tensor the descriptors describe (x, w,
 * y / dy, dx / dw) and the workspace bytes the algorithm uses lie inside live device allocations (else
 * CUDNN_STATUS_EXECUTION_FAILED, and the driver makes CUDA_ERROR_ILLEGAL_ADDRESS sticky in the context, as a
 * faulting kernel would), copy everything they need by value (the geometry read from the descriptors, which the
 * caller may change or destroy right after the call, the alpha / beta VALUES from host memory, the pointers) into
 * a closure and hand it to d4jemu_enqueue, which runs it in order with the driver's other work; the closure also
 * does the workspace scribbling below. The Find*AlgorithmEx calls are synchronous, as in cuDNN: they d4jemu_flush
 * the queue first (a broken context: CUDNN_STATUS_EXECUTION_FAILED) and then compute at once. The three d4jemu_*
 * functions are looked up lazily in the already-loaded libcuda.so.1 (dlopen RTLD_NOLOAD, so the shared library
 * needs -ldl on old glibc); when it is not loaded or lacks them (the standalone self-test), everything runs
 * immediately, on the calling thread, without the range checks. Descriptors, heuristics, workspace sizes and
 * versions are always immediate.
 *
 * Exports exactly what native/cudnn.c and native/probe.c dlsym() (declarations: native/cudnn_decls.h): version and
 * error strings, handle, 4-d tensor / filter / 2-d convolution descriptors, the output-dim query, the _v7
 * heuristics, Find*AlgorithmEx, the workspace-size queries and the three convolution passes.
 *
 * What is emulated:
 *  - Descriptors: NCHW or NHWC tensors and filters (an NHWC filter is [k, kh, kw, c] in memory) of float or
 *    bfloat16 (anything else: CUDNN_STATUS_NOT_SUPPORTED; x, w and y of one convolution must share the type and the
 *    format, and a bf16 one is computed in float and rounded once to nearest even, as cuDNN's PSEUDO_BFLOAT16_CONFIG
 *    with a float convolution descriptor; NHWC operands are computed as their NCHW transposes); dims < 1,
 *    negative padding, stride or dilation < 1, an unknown mode or math type: CUDNN_STATUS_BAD_PARAM. Groups = 1.
 *  - Convolution: cross-correlation (CUDNN_CROSS_CORRELATION) or true convolution (CUDNN_CONVOLUTION, the filter
 *    flipped), zero padding, stride, dilation; y = alpha conv(x, w) + beta y, dx = alpha conv^T(dy, w) + beta dx,
 *    dw = alpha dW(x, dy) + beta dw. Each output element is accumulated in double and rounded to float once; beta
 *    == 0 means the output is not read (NaN there does not propagate). The math type changes nothing numerically.
 *  - Algorithms: the emulated "GPU" runs forward algos 1 (IMPLICIT_PRECOMP_GEMM), 0 (IMPLICIT_GEMM) and 2 (GEMM),
 *    backward-data algos 1 and 0, backward-filter algos 1, 0 and 3, listed in that order by the heuristics and by
 *    Find (the others of each enum follow with CUDNN_STATUS_NOT_SUPPORTED). Backward-data 0 and backward-filter 0
 *    and 3 are reported non-deterministic, as in cuDNN. Some need a workspace (see ws_bytes); the passes check it
 *    at call time (too small, or NULL when needed: CUDNN_STATUS_BAD_PARAM) and, when they run, overwrite the bytes
 *    the algorithm uses with NaN, since its contents are undefined afterwards on a GPU too. Find runs the fastest
 *    fitting algorithm once, at once, overwriting its output.
 *  - Shapes: the y / dy descriptor must have the forward output dims, x and w the same channel count, else
 *    CUDNN_STATUS_BAD_PARAM. Algorithm numbers outside the enum: BAD_PARAM; inside it but not run here:
 *    NOT_SUPPORTED. Memory outside the live device allocations, or a context already broken by an earlier fault:
 *    CUDNN_STATUS_EXECUTION_FAILED.
 *  - cudnnGetLastErrorString: the message of the calling thread's last failed call ("" if none).
 */
#define _GNU_SOURCE /* RTLD_NOLOAD */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_bf16.h"   /* bf16 <-> float */
#include "emu_queue.h"   /* driver(): the emulated driver's stream queue */
#include "cudnn_emu_math.h" /* geom and the reference passes */

/* cudnnStatus_t (cudnn_graph.h, cuDNN 9) */
enum {
    ST_SUCCESS = 0,
    ST_NOT_INITIALIZED = 1001,
    ST_BAD_PARAM = 2000,
    ST_BAD_PARAM_NULL_POINTER = 2002,
    ST_BAD_PARAM_SIZE_INSUFFICIENT = 2006,
    ST_BAD_PARAM_SHAPE_MISMATCH = 2008,
    ST_NOT_SUPPORTED = 3000,
    ST_INTERNAL_ERROR = 4000,
    ST_INTERNAL_ERROR_HOST_ALLOCATION_FAILED = 4003,
    ST_EXECUTION_FAILED = 5000
};

#define DATA_FLOAT 0
#define DATA_BFLOAT16 9
#define TENSOR_NCHW 0
#define TENSOR_NHWC 1
#define MODE_CONVOLUTION 0
#define MODE_CROSS_CORRELATION 1

enum { FWD = 0, BWD_DATA = 1, BWD_FILTER = 2 };
static const int ALGO_COUNT[3] = {8, 6, 7};
static const char *const DIR_NAME[3] = {"forward", "backward-data", "backward-filter"};
/* the algorithms this emulation runs, in the order the heuristics list them */
static const int SUPPORTED[3][4] = {{1, 0, 2, -1}, {1, 0, -1, -1}, {1, 0, 3, -1}};

#define MAGIC_HANDLE 0x44484e44u
#define MAGIC_TENSOR 0x44544e53u
#define MAGIC_FILTER 0x4446494cu
#define MAGIC_CONV 0x44434f4eu

typedef struct {
    unsigned magic;
    void *stream;
} emu_handle;

typedef struct {
    unsigned magic;
    int set;
    int n, c, h, w; /* for a filter: k, c, kh, kw */
    int dataType;   /* CUDNN_DATA_FLOAT or CUDNN_DATA_BFLOAT16 */
    int format;     /* CUDNN_TENSOR_NCHW or CUDNN_TENSOR_NHWC */
} emu_desc;

typedef struct {
    unsigned magic;
    int set;
    int padH, padW, u, v, dilH, dilW, mode, computeType, math;
} emu_conv;

/* cudnn_cnn.h: cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t share this layout */
typedef struct {
    int algo;
    int status;
    float time;
    size_t memory;
    int determinism;
    int mathType;
    int reserved[3];
} emu_perf;


/* ------------------------------------------------------------------------------------------ errors */

static _Thread_local char last_error[512];

static int fail(int status, const char *fn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(int status, const char *fn, const char *fmt, ...) {
    int n = snprintf(last_error, sizeof last_error, "%s: ", fn);
    if (n < 0 || (size_t) n >= sizeof last_error) return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t) n, fmt, ap);
    va_end(ap);
    return status;
}


/* Find is synchronous: runs the driver's queue first. */
static int flush_queue(const char *fn) {
    const emu_driver *d = driver();
    int r = d != NULL ? d->flush() : 0;
    if (r != 0) return fail(ST_EXECUTION_FAILED, fn, "the CUDA context is broken (CUresult %d)", r);
    return ST_SUCCESS;
}

size_t cudnnGetVersion(void) { return 90300; }

const char *cudnnGetErrorString(int status) {
    switch (status) {
        case 0: return "CUDNN_STATUS_SUCCESS";
        case 1001: return "CUDNN_STATUS_NOT_INITIALIZED";
        case 1002: return "CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH";
        case 1003: return "CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH";
        case 1004: return "CUDNN_STATUS_DEPRECATED";
        case 1005: return "CUDNN_STATUS_LICENSE_ERROR";
        case 1006: return "CUDNN_STATUS_RUNTIME_IN_PROGRESS";
        case 1007: return "CUDNN_STATUS_RUNTIME_FP_OVERFLOW";
        case 1008: return "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED";
        case 2000: return "CUDNN_STATUS_BAD_PARAM";
        case 2001: return "CUDNN_STATUS_INVALID_VALUE";
        case 2002: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
        case 2003: return "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER";
        case 2004: return "CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED";
        case 2005: return "CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND";
        case 2006: return "CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT";
        case 2007: return "CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH";
        case 2008: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
        case 2009: return "CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES";
        case 2010: return "CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE";
        case 3000: return "CUDNN_STATUS_NOT_SUPPORTED";
        case 3001: return "CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN";
        case 3002: return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
        case 3003: return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
        case 3004: return "CUDNN_STATUS_NOT_SUPPORTED_LAYOUT";
        case 3005: return "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER";
        case 3006: return "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART";
        case 3007: return "CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH";
        case 3008: return "CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING";
        case 3009: return "CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE";
        case 3010: return "CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT";
        case 3011: return "CUDNN_STATUS_NOT_SUPPORTED_PADDING";
        case 3012: return "CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM";
        case 4000: return "CUDNN_STATUS_INTERNAL_ERROR";
        case 4001: return "CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED";
        case 4002: return "CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE";
        case 4003: return "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED";
        case 4004: return "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED";
        case 4005: return "CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM";
        case 4006: return "CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED";
        case 5000: return "CUDNN_STATUS_EXECUTION_FAILED";
        case 5001: return "CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER";
        case 5002: return "CUDNN_STATUS_EXECUTION_FAILED_CUBLAS";
        case 5003: return "CUDNN_STATUS_EXECUTION_FAILED_CUDART";
        case 5004: return "CUDNN_STATUS_EXECUTION_FAILED_CURAND";
        default: return "CUDNN_STATUS_UNKNOWN";
    }
}

void cudnnGetLastErrorString(char *message, size_t max_size) {
    if (message == NULL || max_size == 0) return;
    snprintf(message, max_size, "%s", last_error);
}

/* ------------------------------------------------------------------------------------------ handle */

static emu_handle *get_handle(void *h) {
    emu_handle *e = (emu_handle *) h;
    return e != NULL && e->magic == MAGIC_HANDLE ? e : NULL;
}

int cudnnCreate(void **handle) {
    if (handle == NULL) return fail(ST_BAD_PARAM, "cudnnCreate", "handle pointer is NULL");
    emu_handle *e = calloc(1, sizeof *e);
    if (e == NULL) return fail(ST_INTERNAL_ERROR_HOST_ALLOCATION_FAILED, "cudnnCreate", "out of host memory");
    e->magic = MAGIC_HANDLE;
    *handle = e;
    return ST_SUCCESS;
}

int cudnnDestroy(void *handle) {
    emu_handle *e = get_handle(handle);
    if (e == NULL) return fail(ST_BAD_PARAM, "cudnnDestroy", "not a live cuDNN handle");
    e->magic = 0;
    free(e);
    return ST_SUCCESS;
}

int cudnnSetStream(void *handle, void *stream) {
    emu_handle *e = get_handle(handle);
    if (e == NULL) return fail(ST_BAD_PARAM, "cudnnSetStream", "not a live cuDNN handle");
    e->stream = stream;
    return ST_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ descriptors */

static int create_desc(void **out, unsigned magic, size_t size, const char *fn) {
    if (out == NULL) return fail(ST_BAD_PARAM, fn, "descriptor pointer is NULL");
    unsigned *d = calloc(1, size);
    if (d == NULL) return fail(ST_INTERNAL_ERROR_HOST_ALLOCATION_FAILED, fn, "out of host memory");
    *d = magic; /* every descriptor struct starts with its magic */
    *out = d;
    return ST_SUCCESS;
}

static int destroy_desc(void *d, unsigned magic, const char *fn) {
    if (d == NULL) return ST_SUCCESS; /* cuDNN accepts destroying a NULL descriptor */
    if (*(unsigned *) d != magic) return fail(ST_BAD_PARAM, fn, "not a live descriptor of this kind");
    *(unsigned *) d = 0;
    free(d);
    return ST_SUCCESS;
}

int cudnnCreateTensorDescriptor(void **d) {
    return create_desc(d, MAGIC_TENSOR, sizeof(emu_desc), "cudnnCreateTensorDescriptor");
}
int cudnnDestroyTensorDescriptor(void *d) { return destroy_desc(d, MAGIC_TENSOR, "cudnnDestroyTensorDescriptor"); }
int cudnnCreateFilterDescriptor(void **d) {
    return create_desc(d, MAGIC_FILTER, sizeof(emu_desc), "cudnnCreateFilterDescriptor");
}
int cudnnDestroyFilterDescriptor(void *d) { return destroy_desc(d, MAGIC_FILTER, "cudnnDestroyFilterDescriptor"); }
int cudnnCreateConvolutionDescriptor(void **d) {
    int st = create_desc(d, MAGIC_CONV, sizeof(emu_conv), "cudnnCreateConvolutionDescriptor");
    if (st == ST_SUCCESS) {
        emu_conv *c = (emu_conv *) *d;
        /* cuDNN's defaults: no padding, unit stride and dilation, cross-correlation, FP32, default math */
        c->u = c->v = c->dilH = c->dilW = 1;
        c->mode = MODE_CROSS_CORRELATION;
        c->computeType = DATA_FLOAT;
    }
    return st;
}
int cudnnDestroyConvolutionDescriptor(void *d) {
    return destroy_desc(d, MAGIC_CONV, "cudnnDestroyConvolutionDescriptor");
}

static int set_4d(void *dp, unsigned magic, int format, int dataType, int n, int c, int h, int w, const char *fn) {
    emu_desc *d = (emu_desc *) dp;
    if (d == NULL || d->magic != magic) return fail(ST_BAD_PARAM, fn, "not a live descriptor of this kind");
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return fail(ST_BAD_PARAM, fn, "dims %d, %d, %d, %d: each must be >= 1", n, c, h, w);
    if (format != TENSOR_NCHW && format != TENSOR_NHWC) {
        return fail(ST_NOT_SUPPORTED, fn, "format %d: only CUDNN_TENSOR_NCHW and CUDNN_TENSOR_NHWC are emulated", format);
    }
    if (dataType != DATA_FLOAT && dataType != DATA_BFLOAT16) {
        return fail(ST_NOT_SUPPORTED, fn, "data type %d: only CUDNN_DATA_FLOAT and CUDNN_DATA_BFLOAT16 are emulated", dataType);
    }
    if ((double) n * c * h * w > 2147483647.0) return fail(ST_NOT_SUPPORTED, fn, "more than 2^31 - 1 elements");
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->dataType = dataType;
    d->format = format;
    d->set = 1;
    return ST_SUCCESS;
}

int cudnnSetTensor4dDescriptor(void *d, int format, int dataType, int n, int c, int h, int w) {
    return set_4d(d, MAGIC_TENSOR, format, dataType, n, c, h, w, "cudnnSetTensor4dDescriptor");
}

int cudnnSetFilter4dDescriptor(void *d, int dataType, int format, int k, int c, int h, int w) {
    return set_4d(d, MAGIC_FILTER, format, dataType, k, c, h, w, "cudnnSetFilter4dDescriptor");
}

int cudnnSetConvolution2dDescriptor(void *dp, int padH, int padW, int u, int v, int dilH, int dilW, int mode,
                                    int computeType) {
    static const char fn[] = "cudnnSetConvolution2dDescriptor";
    emu_conv *c = (emu_conv *) dp;
    if (c == NULL || c->magic != MAGIC_CONV) return fail(ST_BAD_PARAM, fn, "not a live convolution descriptor");
    if (padH < 0 || padW < 0) return fail(ST_BAD_PARAM, fn, "negative padding %d, %d", padH, padW);
    if (u < 1 || v < 1) return fail(ST_BAD_PARAM, fn, "stride %d, %d: must be >= 1", u, v);
    if (dilH < 1 || dilW < 1) return fail(ST_BAD_PARAM, fn, "dilation %d, %d: must be >= 1", dilH, dilW);
    if (mode != MODE_CONVOLUTION && mode != MODE_CROSS_CORRELATION) return fail(ST_BAD_PARAM, fn, "mode %d", mode);
    if (computeType != DATA_FLOAT) {
        return fail(ST_NOT_SUPPORTED, fn, "compute type %d: only CUDNN_DATA_FLOAT is emulated", computeType);
    }
    c->padH = padH;
    c->padW = padW;
    c->u = u;
    c->v = v;
    c->dilH = dilH;
    c->dilW = dilW;
    c->mode = mode;
    c->computeType = computeType;
    c->set = 1;
    return ST_SUCCESS;
}

int cudnnSetConvolutionMathType(void *dp, int mathType) {
    emu_conv *c = (emu_conv *) dp;
    if (c == NULL || c->magic != MAGIC_CONV) {
        return fail(ST_BAD_PARAM, "cudnnSetConvolutionMathType", "not a live convolution descriptor");
    }
    if (mathType < 0 || mathType > 3) return fail(ST_BAD_PARAM, "cudnnSetConvolutionMathType", "math type %d", mathType);
    c->math = mathType;
    return ST_SUCCESS;
}

static const emu_desc *tensor(void *d) {
    const emu_desc *t = (const emu_desc *) d;
    return t != NULL && t->magic == MAGIC_TENSOR && t->set ? t : NULL;
}
static const emu_desc *filter(void *d) {
    const emu_desc *t = (const emu_desc *) d;
    return t != NULL && t->magic == MAGIC_FILTER && t->set ? t : NULL;
}
static const emu_conv *conv(void *d) {
    const emu_conv *t = (const emu_conv *) d;
    return t != NULL && t->magic == MAGIC_CONV && t->set ? t : NULL;
}

/* out = 1 + (in + 2 pad - ((f - 1) dil + 1)) / stride; < 1 when the dilated filter exceeds the padded input */
static int out_dim(int in, int pad, int f, int stride, int dil) {
    long span = (long) (f - 1) * dil + 1, room = (long) in + 2L * pad;
    if (room < span) return 0;
    return (int) ((room - span) / stride + 1);
}

/* Checks x, w and the convolution and fills g (without y). */
static int geom_xw(const char *fn, void *xd, void *wd, void *cd, geom *g) {
    const emu_desc *x = tensor(xd), *w = filter(wd);
    const emu_conv *c = conv(cd);
    if (x == NULL) return fail(ST_BAD_PARAM, fn, "the input tensor descriptor is NULL, of another kind or not set");
    if (w == NULL) return fail(ST_BAD_PARAM, fn, "the filter descriptor is NULL, of another kind or not set");
    if (c == NULL) return fail(ST_BAD_PARAM, fn, "the convolution descriptor is NULL, of another kind or not set");
    if (x->c != w->c) {
        return fail(ST_BAD_PARAM, fn, "input has %d channels, filter [%d, %d, %d, %d] expects %d", x->c, w->n, w->c,
                    w->h, w->w, w->c);
    }
    memset(g, 0, sizeof *g);
    g->n = x->n;
    g->c = x->c;
    g->h = x->h;
    g->w = x->w;
    g->k = w->n;
    g->kh = w->h;
    g->kw = w->w;
    g->padH = c->padH;
    g->padW = c->padW;
    g->sH = c->u;
    g->sW = c->v;
    g->dH = c->dilH;
    g->dW = c->dilW;
    g->flip = c->mode == MODE_CONVOLUTION;
    g->math = c->math;
    if (x->dataType != w->dataType) {
        return fail(ST_NOT_SUPPORTED, fn, "input data type %d with filter data type %d", x->dataType, w->dataType);
    }
    g->bf16 = x->dataType == DATA_BFLOAT16;
    if (x->format != w->format) {
        return fail(ST_NOT_SUPPORTED, fn, "input format %d with filter format %d", x->format, w->format);
    }
    g->nhwc = x->format == TENSOR_NHWC;
    g->ho = out_dim(g->h, g->padH, g->kh, g->sH, g->dH);
    g->wo = out_dim(g->w, g->padW, g->kw, g->sW, g->dW);
    if (g->ho < 1 || g->wo < 1) {
        return fail(ST_BAD_PARAM, fn, "filter %dx%d (dilation %d, %d) is larger than the padded input %dx%d (pad %d, %d)",
                    g->kh, g->kw, g->dH, g->dW, g->h, g->w, g->padH, g->padW);
    }
    return ST_SUCCESS;
}

/* geom_xw plus: the y descriptor has the forward output dims. */
static int geom_full(const char *fn, void *xd, void *wd, void *cd, void *yd, geom *g) {
    int st = geom_xw(fn, xd, wd, cd, g);
    if (st != ST_SUCCESS) return st;
    const emu_desc *y = tensor(yd);
    if (y == NULL) return fail(ST_BAD_PARAM, fn, "the output tensor descriptor is NULL, of another kind or not set");
    if (y->dataType != (g->bf16 ? DATA_BFLOAT16 : DATA_FLOAT)) {
        return fail(ST_NOT_SUPPORTED, fn, "output data type %d differs from the input's", y->dataType);
    }
    if (y->format != (g->nhwc ? TENSOR_NHWC : TENSOR_NCHW)) {
        return fail(ST_NOT_SUPPORTED, fn, "output format %d differs from the input's", y->format);
    }
    if (y->n != g->n || y->c != g->k || y->h != g->ho || y->w != g->wo) {
        return fail(ST_BAD_PARAM, fn, "output descriptor is [%d, %d, %d, %d] but the convolution gives [%d, %d, %d, %d]",
                    y->n, y->c, y->h, y->w, g->n, g->k, g->ho, g->wo);
    }
    return ST_SUCCESS;
}

int cudnnGetConvolution2dForwardOutputDim(void *cd, void *xd, void *wd, int *n, int *c, int *h, int *w) {
    static const char fn[] = "cudnnGetConvolution2dForwardOutputDim";
    if (n == NULL || c == NULL || h == NULL || w == NULL) return fail(ST_BAD_PARAM, fn, "an output pointer is NULL");
    geom g;
    int st = geom_xw(fn, xd, wd, cd, &g);
    if (st != ST_SUCCESS) return st;
    *n = g.n;
    *c = g.k;
    *h = g.ho;
    *w = g.wo;
    return ST_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ algorithms */

static int supported(int dir, int algo) {
    for (int i = 0; i < 4 && SUPPORTED[dir][i] >= 0; i++) {
        if (SUPPORTED[dir][i] == algo) return 1;
    }
    return 0;
}

/* The workspace each algorithm asks for: the GEMM forward algorithm an im2col buffer of one image, the
   precomputed-index one a small index table, the backward-filter ones a [k, c, kh, kw] reduction buffer. */
static size_t ws_bytes(int dir, int algo, const geom *g) {
    size_t taps = (size_t) g->c * g->kh * g->kw;
    switch (dir) {
        case FWD:
            if (algo == 1) return taps * sizeof(int);
            if (algo == 2) return taps * g->ho * g->wo * sizeof(float);
            return 0;
        case BWD_DATA: return 0;
        default:
            if (algo == 1 || algo == 3) return taps * g->k * sizeof(float);
            return 0;
    }
}

static int deterministic(int dir, int algo) {
    if (dir == BWD_DATA) return algo != 0;
    if (dir == BWD_FILTER) return algo != 0 && algo != 3;
    return 1;
}

static void fill_perf(emu_perf *p, int dir, int algo, int status, float time, const geom *g) {
    memset(p, 0, sizeof *p);
    p->algo = algo;
    p->status = status;
    p->time = time;
    p->memory = status == ST_NOT_SUPPORTED ? 0 : ws_bytes(dir, algo, g);
    p->determinism = deterministic(dir, algo);
    p->mathType = g->math;
}

/*
 * The perf list: the supported algorithms in their order (for Find: status BAD_PARAM_SIZE_INSUFFICIENT and moved
 * behind the others when their workspace exceeds wsLimit), then the rest of the enum as NOT_SUPPORTED; at most
 * requested entries. timed: Find (times in ms) rather than the heuristics (time -1).
 */
static int perf_list(const char *fn, int dir, const geom *g, int requested, int *returned, emu_perf *perf, int timed,
                     size_t wsLimit) {
    if (returned == NULL || perf == NULL) return fail(ST_BAD_PARAM, fn, "returnedAlgoCount or perfResults is NULL");
    if (requested < 1) return fail(ST_BAD_PARAM, fn, "requestedAlgoCount %d", requested);
    emu_perf all[8];
    int count = 0, rank = 0;
    for (int pass = 0; pass < 2; pass++) { /* fitting first, then the ones that do not fit */
        for (int i = 0; i < 4 && SUPPORTED[dir][i] >= 0; i++) {
            int a = SUPPORTED[dir][i];
            int fits = !timed || ws_bytes(dir, a, g) <= wsLimit;
            if (fits != (pass == 0)) continue;
            if (fits) fill_perf(&all[count++], dir, a, ST_SUCCESS, timed ? 0.05f * (float) ++rank : -1.0f, g);
            else fill_perf(&all[count++], dir, a, ST_BAD_PARAM_SIZE_INSUFFICIENT, -1.0f, g);
        }
    }
    for (int a = 0; a < ALGO_COUNT[dir]; a++) {
        if (!supported(dir, a)) fill_perf(&all[count++], dir, a, ST_NOT_SUPPORTED, -1.0f, g);
    }
    int n = requested < count ? requested : count;
    memcpy(perf, all, (size_t) n * sizeof(emu_perf));
    *returned = n;
    return ST_SUCCESS;
}

/* Checks the algorithm number and the workspace given for it. */
static int check_algo_ws(const char *fn, int dir, int algo, const geom *g, void *ws, size_t wsBytes) {
    if (algo < 0 || algo >= ALGO_COUNT[dir]) {
        return fail(ST_BAD_PARAM, fn, "%d is not a %s algorithm (0..%d)", algo, DIR_NAME[dir], ALGO_COUNT[dir] - 1);
    }
    if (!supported(dir, algo)) return fail(ST_NOT_SUPPORTED, fn, "%s algorithm %d is not supported", DIR_NAME[dir], algo);
    size_t need = ws_bytes(dir, algo, g);
    if (need > 0 && (ws == NULL || wsBytes < need)) {
        return fail(ST_BAD_PARAM, fn, "%s algorithm %d needs %zu bytes of workspace, given %zu at %p", DIR_NAME[dir],
                    algo, need, ws == NULL ? (size_t) 0 : wsBytes, ws);
    }
    return ST_SUCCESS;
}


/* One pass, queued (or run at once): every value it needs, copied at call time. */
typedef struct {
    int dir;
    geom g;
    double alpha, beta;
    const void *in1, *in2; /* FWD: x, w; BWD_DATA: w, dy; BWD_FILTER: x, dy (float or bf16: g.bf16) */
    void *out;             /* y, dx, dw */
    void *ws;
    size_t wsNeed; /* the workspace bytes the algorithm uses */
    double *acc;   /* one output plane (FWD, BWD_DATA) */
} conv_job;


/* The [outer, ch, sp] dims of operand `which` (0, 1: the inputs, 2: the output) of direction dir. */
static void operand_dims(const geom *g, int dir, int which, size_t d[3]) {
    /* 'x', 'w' or 'y' (dy): FWD x w y, BWD_DATA w dy dx, BWD_FILTER x dy dw */
    static const char OPS[3][3] = {{'x', 'w', 'y'}, {'w', 'y', 'x'}, {'x', 'y', 'w'}};
    char op = OPS[dir][which];
    if (op == 'x') {
        d[0] = g->n, d[1] = g->c, d[2] = (size_t) g->h * g->w;
    } else if (op == 'w') {
        d[0] = g->k, d[1] = g->c, d[2] = (size_t) g->kh * g->kw;
    } else {
        d[0] = g->n, d[1] = g->k, d[2] = (size_t) g->ho * g->wo;
    }
}

static void conv_run(void *arg) {
    const conv_job *j = arg;
    if (j->wsNeed > 0) memset(j->ws, 0xff, j->wsNeed); /* contents are undefined after the call: NaN */
    int readOld = j->beta != 0.0;
    const float *in1 = j->in1, *in2 = j->in2;
    float *out = j->out;
    float *f1 = NULL, *f2 = NULL, *fo = NULL;
    const int converted = j->g.bf16 || j->g.nhwc;
    size_t d1[3], d2[3], dOut[3];
    operand_dims(&j->g, j->dir, 0, d1);
    operand_dims(&j->g, j->dir, 1, d2);
    operand_dims(&j->g, j->dir, 2, dOut);
    if (converted) {
        /* bf16 operands computed in float (cuDNN's PSEUDO_BFLOAT16_CONFIG), the output rounded once; NHWC ones as
           their NCHW transposes */
        f1 = d4jemu_widen_nchw(j->in1, j->g.bf16, j->g.nhwc, d1[0], d1[1], d1[2]);
        f2 = d4jemu_widen_nchw(j->in2, j->g.bf16, j->g.nhwc, d2[0], d2[1], d2[2]);
        fo = d4jemu_widen_nchw(j->out, j->g.bf16, j->g.nhwc, dOut[0], dOut[1], dOut[2]);
        if (f1 == NULL || f2 == NULL || fo == NULL) {
            free(f1);
            free(f2);
            free(fo);
            return; /* out of host memory: the test that needed it fails on the values */
        }
        in1 = f1;
        in2 = f2;
        out = fo;
    }
    switch (j->dir) {
        case FWD: d4jemu_conv_fwd(&j->g, j->alpha, in1, in2, j->beta, readOld, out, j->acc); break;
        case BWD_DATA: d4jemu_conv_bwd_data(&j->g, j->alpha, in1, in2, j->beta, readOld, out, j->acc); break;
        default: d4jemu_conv_bwd_filter(&j->g, j->alpha, in1, in2, j->beta, readOld, out); break;
    }
    if (converted) {
        d4jemu_narrow_nchw(j->out, fo, j->g.bf16, j->g.nhwc, dOut[0], dOut[1], dOut[2]);
        free(f1);
        free(f2);
        free(fo);
    }
}

static void conv_free(void *arg) {
    conv_job *j = arg;
    free(j->acc);
    free(j);
}

/* d4jemu_check_range with a message; 0 when [p, p + bytes) lies in one live allocation */
static int check_range(const char *fn, const emu_driver *d, const char *name, const void *p, size_t bytes) {
    char what[128];
    snprintf(what, sizeof what, "%s: %s", fn, name);
    if (d->check_range(p, bytes, what) == 0) return 0;
    fail(ST_EXECUTION_FAILED, fn, "%s (%zu bytes at %p) is not inside one live device allocation", name, bytes, p);
    return 1;
}

/*
 * One pass, arguments already checked: checks the memory it will touch, then queues it (immediate: runs it now,
 * for Find, which has flushed the queue). Without the emulated driver it always runs now, unchecked.
 */
/* The operands of each direction's pass: its two inputs and its output. */
static const char *const NAMES[3][3] = {{"x", "w", "y"}, {"w", "dy", "dx"}, {"x", "dy", "dw"}};

static int run_pass(const char *fn, int dir, int immediate, const geom *g, int algo, double alpha, const void *in1,
                    const void *in2, void *ws, double beta, void *out) {
    const size_t es = g->bf16 ? 2 : sizeof(float);
    const size_t xElems = (size_t) g->n * g->c * g->h * g->w, wElems = (size_t) g->k * g->c * g->kh * g->kw;
    const size_t yElems = (size_t) g->n * g->k * g->ho * g->wo;
    const size_t bytes[3][3] = {{xElems * es, wElems * es, yElems * es}, {wElems * es, yElems * es, xElems * es},
                                {xElems * es, yElems * es, wElems * es}};
    const size_t wsNeed = ws_bytes(dir, algo, g);
    const emu_driver *d = driver();
    if (d != NULL && (check_range(fn, d, NAMES[dir][0], in1, bytes[dir][0])
                      || check_range(fn, d, NAMES[dir][1], in2, bytes[dir][1])
                      || (wsNeed > 0 && check_range(fn, d, "workspace", ws, wsNeed))
                      || check_range(fn, d, NAMES[dir][2], out, bytes[dir][2]))) {
        return ST_EXECUTION_FAILED;
    }
    conv_job *j = malloc(sizeof *j);
    double *acc = NULL; /* the forward and backward-data accumulator: one output plane */
    if (dir == FWD) acc = malloc((size_t) g->ho * g->wo * sizeof(double));
    if (dir == BWD_DATA) acc = malloc((size_t) g->h * g->w * sizeof(double));
    if (j == NULL || (dir != BWD_FILTER && acc == NULL)) {
        free(j);
        free(acc);
        return fail(ST_INTERNAL_ERROR_HOST_ALLOCATION_FAILED, fn, "out of host memory");
    }
    *j = (conv_job){.dir = dir, .g = *g, .alpha = alpha, .beta = beta, .in1 = in1, .in2 = in2, .out = out,
                    .ws = ws, .wsNeed = wsNeed,
                    .acc = acc};
    if (d == NULL || immediate) {
        conv_run(j);
        conv_free(j);
        return ST_SUCCESS;
    }
    int r = d->enqueue(conv_run, j, conv_free); /* on failure the driver has freed j */
    if (r != 0) return fail(ST_EXECUTION_FAILED, fn, "the CUDA context is broken (CUresult %d): not queued", r);
    return ST_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ per direction */

/* The _v7 heuristic list of direction dir for the convolution x (xd) * w (wd) -> y (yd). */
static int heuristic(const char *fn, int dir, void *handle, void *xd, void *wd, void *cd, void *yd, int requested,
                     int *returned, emu_perf *perf) {
    if (get_handle(handle) == NULL) return fail(ST_BAD_PARAM, fn, "not a live cuDNN handle");
    geom g;
    int st = geom_full(fn, xd, wd, cd, yd, &g);
    if (st != ST_SUCCESS) return st;
    return perf_list(fn, dir, &g, requested, returned, perf, 0, 0);
}

/* The workspace algorithm algo of direction dir needs for the convolution x (xd) * w (wd) -> y (yd). */
static int workspace_size(const char *fn, int dir, void *handle, void *xd, void *wd, void *cd, void *yd, int algo,
                          size_t *size) {
    if (get_handle(handle) == NULL) return fail(ST_BAD_PARAM, fn, "not a live cuDNN handle");
    if (size == NULL) return fail(ST_BAD_PARAM, fn, "sizeInBytes is NULL");
    geom g;
    int st = geom_full(fn, xd, wd, cd, yd, &g);
    if (st != ST_SUCCESS) return st;
    if (algo < 0 || algo >= ALGO_COUNT[dir]) return fail(ST_BAD_PARAM, fn, "%d is not a %s algorithm", algo, DIR_NAME[dir]);
    if (!supported(dir, algo)) return fail(ST_NOT_SUPPORTED, fn, "%s algorithm %d is not supported", DIR_NAME[dir], algo);
    *size = ws_bytes(dir, algo, &g);
    return ST_SUCCESS;
}

/*
 * One convolution pass of direction dir (the convolution x (xd) * w (wd) -> y (yd)), reading in1 and in2 and
 * writing out, the operands NAMES[dir]: out = alpha * pass(in1, in2) + beta * out. Queued unless immediate.
 */
static int convolve(const char *fn, int dir, int immediate, void *handle, const void *alpha, void *xd, void *wd,
                    void *cd, void *yd, const void *in1, const void *in2, int algo, void *ws, size_t wsBytes,
                    const void *beta, void *out) {
    if (get_handle(handle) == NULL) return fail(ST_BAD_PARAM, fn, "not a live cuDNN handle");
    if (alpha == NULL || beta == NULL) return fail(ST_BAD_PARAM, fn, "alpha or beta is NULL");
    if (in1 == NULL || in2 == NULL || out == NULL) {
        return fail(ST_BAD_PARAM, fn, "%s, %s or %s is NULL", NAMES[dir][0], NAMES[dir][1], NAMES[dir][2]);
    }
    geom g;
    int st = geom_full(fn, xd, wd, cd, yd, &g);
    if (st != ST_SUCCESS) return st;
    if ((st = check_algo_ws(fn, dir, algo, &g, ws, wsBytes)) != ST_SUCCESS) return st;
    return run_pass(fn, dir, immediate, &g, algo, *(const float *) alpha, in1, in2, ws, *(const float *) beta, out);
}

/*
 * cudnnFind*AlgorithmEx of direction dir: the perf list of what fits the workspace, then (synchronously, after the
 * work queued before it) one run of the first algorithm that fits, as the benchmark would.
 */
static int find_algorithms(const char *fn, int dir, void *handle, void *xd, void *wd, void *cd, void *yd, const void *in1,
                           const void *in2, void *out, int requested, int *returned, emu_perf *perf, void *ws,
                           size_t wsBytes) {
    if (get_handle(handle) == NULL) return fail(ST_BAD_PARAM, fn, "not a live cuDNN handle");
    if (in1 == NULL || in2 == NULL || out == NULL) {
        return fail(ST_BAD_PARAM, fn, "%s, %s or %s is NULL", NAMES[dir][0], NAMES[dir][1], NAMES[dir][2]);
    }
    geom g;
    int st = geom_full(fn, xd, wd, cd, yd, &g);
    if (st != ST_SUCCESS) return st;
    size_t avail = ws == NULL ? 0 : wsBytes; /* a NULL workspace counts as 0 bytes */
    if ((st = perf_list(fn, dir, &g, requested, returned, perf, 1, avail)) != ST_SUCCESS) return st;
    if ((st = flush_queue(fn)) != ST_SUCCESS) return st; /* synchronous: after the work queued before it */
    const float one = 1.0f, zero = 0.0f;
    /* the first of the list always fits (algo 0 needs no workspace) */
    for (int i = 0; i < 4 && SUPPORTED[dir][i] >= 0; i++) {
        int a = SUPPORTED[dir][i];
        if (ws_bytes(dir, a, &g) <= avail) {
            return convolve(fn, dir, 1, handle, &one, xd, wd, cd, yd, in1, in2, a, ws, avail, &zero, out);
        }
    }
    return ST_SUCCESS;
}

/* ------------------------------------------------------------------------------------------ forward */

int cudnnGetConvolutionForwardAlgorithm_v7(void *handle, void *xd, void *wd, void *cd, void *yd, int requested,
                                           int *returned, emu_perf *perf) {
    return heuristic("cudnnGetConvolutionForwardAlgorithm_v7", FWD, handle, xd, wd, cd, yd, requested, returned, perf);
}

int cudnnGetConvolutionForwardWorkspaceSize(void *handle, void *xd, void *wd, void *cd, void *yd, int algo,
                                            size_t *size) {
    return workspace_size("cudnnGetConvolutionForwardWorkspaceSize", FWD, handle, xd, wd, cd, yd, algo, size);
}

int cudnnConvolutionForward(void *handle, const void *alpha, void *xd, const void *x, void *wd, const void *w,
                            void *cd, int algo, void *ws, size_t wsBytes, const void *beta, void *yd, void *y) {
    return convolve("cudnnConvolutionForward", FWD, 0, handle, alpha, xd, wd, cd, yd, x, w, algo, ws, wsBytes, beta, y);
}

int cudnnFindConvolutionForwardAlgorithmEx(void *handle, void *xd, const void *x, void *wd, const void *w, void *cd,
                                           void *yd, void *y, int requested, int *returned, emu_perf *perf, void *ws,
                                           size_t wsBytes) {
    return find_algorithms("cudnnFindConvolutionForwardAlgorithmEx", FWD, handle, xd, wd, cd, yd, x, w, y, requested,
                           returned, perf, ws, wsBytes);
}

/* ------------------------------------------------------------------------------------------ backward data */

int cudnnGetConvolutionBackwardDataAlgorithm_v7(void *handle, void *wd, void *dyd, void *cd, void *dxd, int requested,
                                                int *returned, emu_perf *perf) {
    return heuristic("cudnnGetConvolutionBackwardDataAlgorithm_v7", BWD_DATA, handle, dxd, wd, cd, dyd, requested,
                     returned, perf);
}

int cudnnGetConvolutionBackwardDataWorkspaceSize(void *handle, void *wd, void *dyd, void *cd, void *dxd, int algo,
                                                 size_t *size) {
    return workspace_size("cudnnGetConvolutionBackwardDataWorkspaceSize", BWD_DATA, handle, dxd, wd, cd, dyd, algo,
                          size);
}

int cudnnConvolutionBackwardData(void *handle, const void *alpha, void *wd, const void *w, void *dyd, const void *dy,
                                 void *cd, int algo, void *ws, size_t wsBytes, const void *beta, void *dxd, void *dx) {
    return convolve("cudnnConvolutionBackwardData", BWD_DATA, 0, handle, alpha, dxd, wd, cd, dyd, w, dy, algo, ws,
                    wsBytes, beta, dx);
}

int cudnnFindConvolutionBackwardDataAlgorithmEx(void *handle, void *wd, const void *w, void *dyd, const void *dy,
                                                void *cd, void *dxd, void *dx, int requested, int *returned,
                                                emu_perf *perf, void *ws, size_t wsBytes) {
    return find_algorithms("cudnnFindConvolutionBackwardDataAlgorithmEx", BWD_DATA, handle, dxd, wd, cd, dyd, w, dy, dx,
                           requested, returned, perf, ws, wsBytes);
}

/* ------------------------------------------------------------------------------------------ backward filter */

int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void *handle, void *xd, void *dyd, void *cd, void *dwd,
                                                  int requested, int *returned, emu_perf *perf) {
    return heuristic("cudnnGetConvolutionBackwardFilterAlgorithm_v7", BWD_FILTER, handle, xd, dwd, cd, dyd, requested,
                     returned, perf);
}

int cudnnGetConvolutionBackwardFilterWorkspaceSize(void *handle, void *xd, void *dyd, void *cd, void *dwd, int algo,
                                                   size_t *size) {
    return workspace_size("cudnnGetConvolutionBackwardFilterWorkspaceSize", BWD_FILTER, handle, xd, dwd, cd, dyd, algo,
                          size);
}

int cudnnConvolutionBackwardFilter(void *handle, const void *alpha, void *xd, const void *x, void *dyd,
                                   const void *dy, void *cd, int algo, void *ws, size_t wsBytes, const void *beta,
                                   void *dwd, void *dw) {
    return convolve("cudnnConvolutionBackwardFilter", BWD_FILTER, 0, handle, alpha, xd, dwd, cd, dyd, x, dy, algo, ws,
                    wsBytes, beta, dw);
}

int cudnnFindConvolutionBackwardFilterAlgorithmEx(void *handle, void *xd, const void *x, void *dyd, const void *dy,
                                                  void *cd, void *dwd, void *dw, int requested, int *returned,
                                                  emu_perf *perf, void *ws, size_t wsBytes) {
    return find_algorithms("cudnnFindConvolutionBackwardFilterAlgorithmEx", BWD_FILTER, handle, xd, dwd, cd, dyd, x, dy,
                           dw, requested, returned, perf, ws, wsBytes);
}
