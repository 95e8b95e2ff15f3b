/*
 * diffusion4j JNI shim: cuDNN (legacy convolution API of cuDNN 9, declared in cudnn_decls.h).
 *
 * Java: io.github.diffusion4j.backend.cuda.Cudnn. Handles, plans, device addresses and streams are jlongs.
 * The library must have been probed with keep=true (CudaAvailability does that) before any call here.
 *
 * A "conv plan" caches everything cuDNN needs for one convolution shape: the x / y tensor descriptors, the
 * filter descriptor, one convolution descriptor per direction (each carries the math type of the algorithm
 * chosen for that direction, as cuDNN asks) and the chosen algorithms with their workspace sizes. Plans are
 * created once per shape (the Java side keeps them in a map) and destroyed with the backend.
 *
 * Every cuDNN status is checked; a failure throws CudaException("<call>: <cudnnGetErrorString> (<code>)[:
 * <cudnnGetLastErrorString>]") and the native function returns at once.
 */
#include "d4j_native.h"
#include "cudnn_decls.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#define CUDNN D4J_LIB_CUDNN
#define D4J_FIND_KEEP 8 /* candidates kept per direction for convPlanFindTimes */
#define D4J_FIND_PASSES 2

typedef struct {
    d4j_cudnnTensorDescriptor_t x, y;
    d4j_cudnnFilterDescriptor_t w;
    d4j_cudnnConvolutionDescriptor_t conv[3]; /* forward, backward data, backward filter */
    int allowedMath; /* the caller's cudnnMathType_t: the widest math any direction may use */
    int algo[3];
    int math[3];
    size_t workspace[3];
    /* what the autotuning search measured, per direction (convPlanFindTimes): its candidates, fastest first by
       their best time over the passes, each with the time of each pass */
    int found[3];
    struct {
        int algo, math, status;
        float ms[2]; /* first pass, second pass; -1 where a pass did not list it */
        size_t memory;
    } finds[3][D4J_FIND_KEEP];
} conv_plan;

enum { FWD = 0, BWD_DATA = 1, BWD_FILTER = 2 };

/* Throws for a failed status; returns 1 when the status is success. */
static int check(JNIEnv *env, d4j_cudnnStatus_t status, const char *call) {
    if (status == D4J_CUDNN_STATUS_SUCCESS) return 1;
    if ((*env)->ExceptionCheck(env)) return 0;
    void *h = d4j_lib_handle(CUDNN);
    d4j_cudnnGetErrorString_t errStr = h ? (d4j_cudnnGetErrorString_t) dlsym(h, "cudnnGetErrorString") : NULL;
    d4j_cudnnGetLastErrorString_t lastErr =
        h ? (d4j_cudnnGetLastErrorString_t) dlsym(h, "cudnnGetLastErrorString") : NULL;
    char detail[512] = {0};
    if (lastErr != NULL) lastErr(detail, sizeof detail);
    d4j_throw(env, "%s: %s (%d)%s%s", call, errStr ? errStr(status) : "cuDNN error", status,
              detail[0] ? ": " : "", detail);
    return 0;
}

#define CHECK(env, expr, name, failret)                 \
    do {                                                \
        if (!check((env), (expr), (name))) return failret; \
    } while (0)

/* ------------------------------------------------------------------------------------------ handle */

JNIEXPORT jlong JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_create(JNIEnv *env, jclass cls) {
    D4J_FN(env, CUDNN, d4j_cudnnCreate_t, fn, "cudnnCreate", 0);
    d4j_cudnnHandle_t h = NULL;
    CHECK(env, fn(&h), "cudnnCreate", 0);
    return D4J_JLONG(h);
}

JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_destroy(JNIEnv *env, jclass cls, jlong h) {
    D4J_FN(env, CUDNN, d4j_cudnnDestroy_t, fn, "cudnnDestroy", );
    CHECK(env, fn(D4J_PTR(h)), "cudnnDestroy", );
}

JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_setStream(JNIEnv *env, jclass cls, jlong h,
                                                                              jlong stream) {
    D4J_FN(env, CUDNN, d4j_cudnnSetStream_t, fn, "cudnnSetStream", );
    CHECK(env, fn(D4J_PTR(h), D4J_PTR(stream)), "cudnnSetStream", );
}

/* ------------------------------------------------------------------------------------------ plans */

static void plan_free(JNIEnv *env, conv_plan *p) {
    if (p == NULL) return;
    void *lib = d4j_lib_handle(CUDNN);
    if (lib != NULL) {
        d4j_cudnnDestroyTensorDescriptor_t dt =
            (d4j_cudnnDestroyTensorDescriptor_t) dlsym(lib, "cudnnDestroyTensorDescriptor");
        d4j_cudnnDestroyFilterDescriptor_t df =
            (d4j_cudnnDestroyFilterDescriptor_t) dlsym(lib, "cudnnDestroyFilterDescriptor");
        d4j_cudnnDestroyConvolutionDescriptor_t dc =
            (d4j_cudnnDestroyConvolutionDescriptor_t) dlsym(lib, "cudnnDestroyConvolutionDescriptor");
        if (dt && p->x) dt(p->x);
        if (dt && p->y) dt(p->y);
        if (df && p->w) df(p->w);
        for (int i = 0; i < 3; i++) {
            if (dc && p->conv[i]) dc(p->conv[i]);
        }
    }
    free(p);
}

/*
 * Picks the first algorithm of a heuristic list (sorted by expected speed) that succeeded, fits the workspace
 * limit and, when asked, is deterministic. Returns the index into perf, or -1.
 */
static int pick(const d4j_cudnnAlgoPerf_t *perf, int count, size_t limit, int deterministic) {
    for (int i = 0; i < count; i++) {
        if (perf[i].status != D4J_CUDNN_STATUS_SUCCESS) continue;
        if (perf[i].memory > limit) continue;
        if (deterministic && perf[i].determinism != D4J_CUDNN_DETERMINISTIC) continue;
        return i;
    }
    return -1;
}

/*
 * Creates the plan for y = conv(x, w): x [n, c, h, w], w [k, c, kh, kw], y [n, k, ho, wo], zero padding
 * (padH, padW), stride (strideH, strideW), no dilation, cross-correlation (PyTorch's convolution), data of
 * cudnnDataType_t dataType (CUDNN_DATA_FLOAT, or CUDNN_DATA_BFLOAT16 for x, w and y alike) and FP32 compute (the
 * convolution descriptor's type: PSEUDO_BFLOAT16_CONFIG for bf16 data). mathType is a cudnnMathType_t (0 default FP32, 2 allow TF32 conversion, 3 FMA only).
 * format is the cudnnTensorFormat_t of x, w and y alike: CUDNN_TENSOR_NCHW, or CUDNN_TENSOR_NHWC (x [n, h, w, c],
 * w [k, kh, kw, c], y [n, ho, wo, k] in memory, the dims still given as n, c, h, w).
 * Algorithms come from the _v7 heuristics; with deterministic=true the backward algorithms that use atomics
 * (BWD_DATA_ALGO_0, BWD_FILTER_ALGO_0/3) are skipped. Throws when y's shape does not match.
 */
JNIEXPORT jlong JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_convPlan(
    JNIEnv *env, jclass cls, jlong handle, jint n, jint c, jint h, jint w, jint k, jint kh, jint kw, jint padH,
    jint padW, jint strideH, jint strideW, jint ho, jint wo, jint dataType, jint mathType, jboolean deterministic,
    jlong workspaceLimit, jint format) {
    D4J_FN(env, CUDNN, d4j_cudnnCreateTensorDescriptor_t, createT, "cudnnCreateTensorDescriptor", 0);
    D4J_FN(env, CUDNN, d4j_cudnnSetTensor4dDescriptor_t, setT, "cudnnSetTensor4dDescriptor", 0);
    D4J_FN(env, CUDNN, d4j_cudnnCreateFilterDescriptor_t, createF, "cudnnCreateFilterDescriptor", 0);
    D4J_FN(env, CUDNN, d4j_cudnnSetFilter4dDescriptor_t, setF, "cudnnSetFilter4dDescriptor", 0);
    D4J_FN(env, CUDNN, d4j_cudnnCreateConvolutionDescriptor_t, createC, "cudnnCreateConvolutionDescriptor", 0);
    D4J_FN(env, CUDNN, d4j_cudnnSetConvolution2dDescriptor_t, setC, "cudnnSetConvolution2dDescriptor", 0);
    D4J_FN(env, CUDNN, d4j_cudnnSetConvolutionMathType_t, setMath, "cudnnSetConvolutionMathType", 0);
    D4J_FN(env, CUDNN, d4j_cudnnGetConvolution2dForwardOutputDim_t, outDim, "cudnnGetConvolution2dForwardOutputDim", 0);
    D4J_FN(env, CUDNN, d4j_cudnnGetConvolutionForwardAlgorithm_v7_t, heurF, "cudnnGetConvolutionForwardAlgorithm_v7", 0);
    D4J_FN(env, CUDNN, d4j_cudnnGetConvolutionBackwardDataAlgorithm_v7_t, heurD,
           "cudnnGetConvolutionBackwardDataAlgorithm_v7", 0);
    D4J_FN(env, CUDNN, d4j_cudnnGetConvolutionBackwardFilterAlgorithm_v7_t, heurW,
           "cudnnGetConvolutionBackwardFilterAlgorithm_v7", 0);
    D4J_FN(env, CUDNN, d4j_cudnnGetConvolutionForwardWorkspaceSize_t, wsF, "cudnnGetConvolutionForwardWorkspaceSize", 0);
    D4J_FN(env, CUDNN, d4j_cudnnGetConvolutionBackwardDataWorkspaceSize_t, wsD,
           "cudnnGetConvolutionBackwardDataWorkspaceSize", 0);
    D4J_FN(env, CUDNN, d4j_cudnnGetConvolutionBackwardFilterWorkspaceSize_t, wsW,
           "cudnnGetConvolutionBackwardFilterWorkspaceSize", 0);

    void *hd = D4J_PTR(handle);
    size_t limit = workspaceLimit < 0 ? (size_t) -1 : (size_t) workspaceLimit;
    conv_plan *p = calloc(1, sizeof(conv_plan));
    if (p == NULL) {
        d4j_throw(env, "convPlan: out of host memory");
        return 0;
    }
#define PCHECK(expr, name)                          \
    do {                                            \
        if (!check(env, (expr), (name))) {          \
            plan_free(env, p);                      \
            return 0;                               \
        }                                           \
    } while (0)

    PCHECK(createT(&p->x), "cudnnCreateTensorDescriptor");
    if (format != D4J_CUDNN_TENSOR_NCHW && format != D4J_CUDNN_TENSOR_NHWC) {
        d4j_throw(env, "convPlan: tensor format %d is neither NCHW (0) nor NHWC (1)", (int) format);
        plan_free(env, p);
        return 0;
    }
    PCHECK(setT(p->x, format, dataType, n, c, h, w), "cudnnSetTensor4dDescriptor(x)");
    PCHECK(createT(&p->y), "cudnnCreateTensorDescriptor");
    PCHECK(setT(p->y, format, dataType, n, k, ho, wo), "cudnnSetTensor4dDescriptor(y)");
    PCHECK(createF(&p->w), "cudnnCreateFilterDescriptor");
    PCHECK(setF(p->w, dataType, format, k, c, kh, kw), "cudnnSetFilter4dDescriptor");
    p->allowedMath = mathType;
    for (int i = 0; i < 3; i++) {
        PCHECK(createC(&p->conv[i]), "cudnnCreateConvolutionDescriptor");
        PCHECK(setC(p->conv[i], padH, padW, strideH, strideW, 1, 1, D4J_CUDNN_CROSS_CORRELATION, D4J_CUDNN_DATA_FLOAT),
               "cudnnSetConvolution2dDescriptor");
        PCHECK(setMath(p->conv[i], mathType), "cudnnSetConvolutionMathType");
    }
    int on, oc, oh, ow;
    PCHECK(outDim(p->conv[FWD], p->x, p->w, &on, &oc, &oh, &ow), "cudnnGetConvolution2dForwardOutputDim");
    if (on != n || oc != k || oh != ho || ow != wo) {
        d4j_throw(env, "convPlan: cuDNN computes output [%d, %d, %d, %d] for input [%d, %d, %d, %d], filter "
                       "[%d, %d, %d, %d], pad %d/%d, stride %d/%d, but y is [%d, %d, %d, %d]",
                  on, oc, oh, ow, n, c, h, w, k, c, kh, kw, padH, padW, strideH, strideW, n, k, ho, wo);
        plan_free(env, p);
        return 0;
    }

    d4j_cudnnAlgoPerf_t perf[16];
    int got = 0, i;

    PCHECK(heurF(hd, p->x, p->w, p->conv[FWD], p->y, D4J_CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf),
           "cudnnGetConvolutionForwardAlgorithm_v7");
    if ((i = pick(perf, got, limit, 0)) < 0) {
        d4j_throw(env, "convPlan: no forward algorithm for this shape within %zu bytes of workspace", limit);
        plan_free(env, p);
        return 0;
    }
    p->algo[FWD] = perf[i].algo;
    p->math[FWD] = perf[i].mathType;

    PCHECK(heurD(hd, p->w, p->y, p->conv[BWD_DATA], p->x, D4J_CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, perf),
           "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    if ((i = pick(perf, got, limit, deterministic)) < 0) {
        d4j_throw(env, "convPlan: no %sbackward-data algorithm for this shape within %zu bytes of workspace",
                  deterministic ? "deterministic " : "", limit);
        plan_free(env, p);
        return 0;
    }
    p->algo[BWD_DATA] = perf[i].algo;
    p->math[BWD_DATA] = perf[i].mathType;

    PCHECK(heurW(hd, p->x, p->y, p->conv[BWD_FILTER], p->w, D4J_CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, perf),
           "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    if ((i = pick(perf, got, limit, deterministic)) < 0) {
        d4j_throw(env, "convPlan: no %sbackward-filter algorithm for this shape within %zu bytes of workspace",
                  deterministic ? "deterministic " : "", limit);
        plan_free(env, p);
        return 0;
    }
    p->algo[BWD_FILTER] = perf[i].algo;
    p->math[BWD_FILTER] = perf[i].mathType;

    /* each direction runs with the math type its algorithm was reported for */
    for (int d = 0; d < 3; d++) PCHECK(setMath(p->conv[d], p->math[d]), "cudnnSetConvolutionMathType");
    PCHECK(wsF(hd, p->x, p->w, p->conv[FWD], p->y, p->algo[FWD], &p->workspace[FWD]),
           "cudnnGetConvolutionForwardWorkspaceSize");
    PCHECK(wsD(hd, p->w, p->y, p->conv[BWD_DATA], p->x, p->algo[BWD_DATA], &p->workspace[BWD_DATA]),
           "cudnnGetConvolutionBackwardDataWorkspaceSize");
    PCHECK(wsW(hd, p->x, p->y, p->conv[BWD_FILTER], p->w, p->algo[BWD_FILTER], &p->workspace[BWD_FILTER]),
           "cudnnGetConvolutionBackwardFilterWorkspaceSize");
#undef PCHECK
    return D4J_JLONG(p);
}

/*
 * Merges the search passes of one direction into out (sorted fastest first; returns the count) and keeps them for
 * convPlanFindTimes: each (algorithm, math type) once, with its best time over the passes in which it succeeded and
 * the time of each pass (-1 where a pass did not run it successfully). An algorithm that succeeded in no pass keeps
 * the status of its last report. A single pass can miss an algorithm (a first timing pays for loading its kernel;
 * on the H100 one pass also reported a 1x1 convolution's fastest algorithm as failed), so no pass alone decides.
 */
static int merge_finds(conv_plan *p, int d, d4j_cudnnAlgoPerf_t perf[][16], const int *got, int passes,
                       d4j_cudnnAlgoPerf_t *out) {
    int n = 0;
    float ms[32][D4J_FIND_PASSES];
    for (int pass = 0; pass < passes; pass++) {
        for (int i = 0; i < got[pass]; i++) {
            const d4j_cudnnAlgoPerf_t *e = &perf[pass][i];
            int k = 0;
            while (k < n && !(out[k].algo == e->algo && out[k].mathType == e->mathType)) k++;
            if (k == n) {
                if (n == 32) continue;
                out[n] = *e;
                for (int q = 0; q < D4J_FIND_PASSES; q++) ms[n][q] = -1.0f;
                n++;
            }
            if (e->status == D4J_CUDNN_STATUS_SUCCESS) {
                ms[k][pass] = e->time;
                if (out[k].status != D4J_CUDNN_STATUS_SUCCESS || e->time < out[k].time) {
                    out[k] = *e;
                }
            } else if (out[k].status != D4J_CUDNN_STATUS_SUCCESS) {
                out[k] = *e;
            }
        }
    }
    /* insertion sort: successes by time, then the failures in report order */
    for (int i = 1; i < n; i++) {
        d4j_cudnnAlgoPerf_t e = out[i];
        float t[D4J_FIND_PASSES];
        memcpy(t, ms[i], sizeof t);
        int ok = e.status == D4J_CUDNN_STATUS_SUCCESS, j = i - 1;
        while (j >= 0 && ok && (out[j].status != D4J_CUDNN_STATUS_SUCCESS || out[j].time > e.time)) {
            out[j + 1] = out[j];
            memcpy(ms[j + 1], ms[j], sizeof t);
            j--;
        }
        out[j + 1] = e;
        memcpy(ms[j + 1], t, sizeof t);
    }
    int keep = n < D4J_FIND_KEEP ? n : D4J_FIND_KEEP;
    p->found[d] = keep;
    for (int i = 0; i < keep; i++) {
        p->finds[d][i].algo = out[i].algo;
        p->finds[d][i].math = out[i].mathType;
        p->finds[d][i].status = out[i].status;
        p->finds[d][i].memory = out[i].memory;
        p->finds[d][i].ms[0] = ms[i][0];
        p->finds[d][i].ms[1] = ms[i][D4J_FIND_PASSES - 1];
    }
    return n;
}

/*
 * Re-chooses the plan's algorithms by running them (cudnnFind*AlgorithmEx) on real buffers. Find writes its
 * outputs: y, dx and dw must be SCRATCH buffers of the plan's shapes (never a gradient being accumulated).
 * ws / wsBytes is the workspace the benchmark may use; algorithms needing more are not considered.
 *
 * Each search runs twice and each algorithm counts with its best time (merge_finds). A first run of a kernel
 * pays for loading it (CUDA loads kernels lazily, at first launch): on the H100 the first pass timed
 * IMPLICIT_PRECOMP_GEMM of a 256 -> 128 channel 3x3 convolution at 32x32 at 2.94 ms, the second at 1.62 ms. Both
 * passes' times are kept for convPlanFindTimes, so a run shows what the second pass changed.
 */
JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_convPlanFind(
    JNIEnv *env, jclass cls, jlong handle, jlong plan, jlong x, jlong w, jlong y, jlong dxScratch,
    jlong dwScratch, jlong ws, jlong wsBytes, jboolean deterministic) {
    D4J_FN(env, CUDNN, d4j_cudnnFindConvolutionForwardAlgorithmEx_t, findF, "cudnnFindConvolutionForwardAlgorithmEx", );
    D4J_FN(env, CUDNN, d4j_cudnnFindConvolutionBackwardDataAlgorithmEx_t, findD,
           "cudnnFindConvolutionBackwardDataAlgorithmEx", );
    D4J_FN(env, CUDNN, d4j_cudnnFindConvolutionBackwardFilterAlgorithmEx_t, findW,
           "cudnnFindConvolutionBackwardFilterAlgorithmEx", );
    D4J_FN(env, CUDNN, d4j_cudnnSetConvolutionMathType_t, setMath, "cudnnSetConvolutionMathType", );
    conv_plan *p = (conv_plan *) D4J_PTR(plan);
    void *hd = D4J_PTR(handle);
    size_t bytes = (size_t) wsBytes;
    d4j_cudnnAlgoPerf_t perf[D4J_FIND_PASSES][16], best[32];
    int got[D4J_FIND_PASSES] = {0}, i;

    /* Find* honours the descriptor's math type, so search with what the caller allowed, not with the
       (possibly narrower) math type of the heuristic's choice */
    for (int d = 0; d < 3; d++) CHECK(env, setMath(p->conv[d], p->allowedMath), "cudnnSetConvolutionMathType", );
    static const char *const FIND_NAMES[3] = {"cudnnFindConvolutionForwardAlgorithmEx",
                                              "cudnnFindConvolutionBackwardDataAlgorithmEx",
                                              "cudnnFindConvolutionBackwardFilterAlgorithmEx"};
    for (int d = 0; d < 3; d++) {
        for (int pass = 0; pass < D4J_FIND_PASSES; pass++) {
            d4j_cudnnStatus_t st =
                d == FWD ? findF(hd, p->x, D4J_PTR(x), p->w, D4J_PTR(w), p->conv[FWD], p->y, D4J_PTR(y),
                                 D4J_CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got[pass], perf[pass], D4J_PTR(ws), bytes)
                : d == BWD_DATA
                    ? findD(hd, p->w, D4J_PTR(w), p->y, D4J_PTR(y), p->conv[BWD_DATA], p->x, D4J_PTR(dxScratch),
                            D4J_CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got[pass], perf[pass], D4J_PTR(ws), bytes)
                    : findW(hd, p->x, D4J_PTR(x), p->y, D4J_PTR(y), p->conv[BWD_FILTER], p->w, D4J_PTR(dwScratch),
                            D4J_CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got[pass], perf[pass], D4J_PTR(ws),
                            bytes);
            CHECK(env, st, FIND_NAMES[d], );
        }
        int merged = merge_finds(p, d, perf, got, D4J_FIND_PASSES, best);
        /* only the backward directions have non-deterministic algorithms (atomics) */
        if ((i = pick(best, merged, bytes, d == FWD ? 0 : deterministic)) >= 0) {
            p->algo[d] = best[i].algo;
            p->math[d] = best[i].mathType;
            p->workspace[d] = best[i].memory;
        }
        CHECK(env, setMath(p->conv[d], p->math[d]), "cudnnSetConvolutionMathType", );
    }
}

/*
 * What the last convPlanFind measured, as floats: for each direction (forward, backward data, backward filter)
 * the count c, then c records {algo, mathType, status, ms of the first pass, ms of the second pass, workspace
 * MiB}, fastest first by the best of the two times (failures last, with their status); ms is -1 where that pass did
 * not run the algorithm successfully. All counts are 0 for a plan that was never searched.
 */
JNIEXPORT jfloatArray JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_convPlanFindTimes(JNIEnv *env,
                                                                                             jclass cls,
                                                                                             jlong plan) {
    conv_plan *p = (conv_plan *) D4J_PTR(plan);
    float v[3 * (1 + 6 * D4J_FIND_KEEP)];
    int n = 0;
    for (int d = 0; d < 3; d++) {
        v[n++] = (float) p->found[d];
        for (int i = 0; i < p->found[d]; i++) {
            v[n++] = (float) p->finds[d][i].algo;
            v[n++] = (float) p->finds[d][i].math;
            v[n++] = (float) p->finds[d][i].status;
            v[n++] = p->finds[d][i].ms[0];
            v[n++] = p->finds[d][i].ms[1];
            v[n++] = (float) (p->finds[d][i].memory / (1024.0 * 1024.0));
        }
    }
    jfloatArray a = (*env)->NewFloatArray(env, n);
    if (a != NULL) (*env)->SetFloatArrayRegion(env, a, 0, n, v);
    return a;
}

/* {fwdAlgo, fwdMath, fwdWorkspace, bwdDataAlgo, bwdDataMath, bwdDataWorkspace, bwdFilterAlgo, ...} */
JNIEXPORT jlongArray JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_convPlanInfo(JNIEnv *env, jclass cls,
                                                                                       jlong plan) {
    conv_plan *p = (conv_plan *) D4J_PTR(plan);
    jlong v[9];
    for (int d = 0; d < 3; d++) {
        v[3 * d] = p->algo[d];
        v[3 * d + 1] = p->math[d];
        v[3 * d + 2] = (jlong) p->workspace[d];
    }
    jlongArray a = (*env)->NewLongArray(env, 9);
    if (a != NULL) (*env)->SetLongArrayRegion(env, a, 0, 9, v);
    return a;
}

JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_convPlanDestroy(JNIEnv *env, jclass cls,
                                                                                    jlong plan) {
    plan_free(env, (conv_plan *) D4J_PTR(plan));
}

/* ------------------------------------------------------------------------------------------ convolutions */

/* y = alpha * conv(x, w) + beta * y */
JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_convForward(JNIEnv *env, jclass cls,
                                                                                jlong handle, jlong plan, jlong x,
                                                                                jlong w, jlong y, jlong ws,
                                                                                jlong wsBytes, jfloat alpha,
                                                                                jfloat beta) {
    D4J_FN(env, CUDNN, d4j_cudnnConvolutionForward_t, fn, "cudnnConvolutionForward", );
    conv_plan *p = (conv_plan *) D4J_PTR(plan);
    float a = alpha, b = beta;
    CHECK(env, fn(D4J_PTR(handle), &a, p->x, D4J_PTR(x), p->w, D4J_PTR(w), p->conv[FWD], p->algo[FWD], D4J_PTR(ws),
                  (size_t) wsBytes, &b, p->y, D4J_PTR(y)),
          "cudnnConvolutionForward", );
}

/* dx = alpha * conv^T(dy, w) + beta * dx */
JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_convBackwardData(JNIEnv *env, jclass cls,
                                                                                     jlong handle, jlong plan,
                                                                                     jlong w, jlong dy, jlong dx,
                                                                                     jlong ws, jlong wsBytes,
                                                                                     jfloat alpha, jfloat beta) {
    D4J_FN(env, CUDNN, d4j_cudnnConvolutionBackwardData_t, fn, "cudnnConvolutionBackwardData", );
    conv_plan *p = (conv_plan *) D4J_PTR(plan);
    float a = alpha, b = beta;
    CHECK(env, fn(D4J_PTR(handle), &a, p->w, D4J_PTR(w), p->y, D4J_PTR(dy), p->conv[BWD_DATA], p->algo[BWD_DATA],
                  D4J_PTR(ws), (size_t) wsBytes, &b, p->x, D4J_PTR(dx)),
          "cudnnConvolutionBackwardData", );
}

/* dw = alpha * dW(x, dy) + beta * dw (beta = 1 accumulates, as parameter gradients do) */
JNIEXPORT void JNICALL Java_io_github_diffusion4j_backend_cuda_Cudnn_convBackwardFilter(JNIEnv *env, jclass cls,
                                                                                       jlong handle, jlong plan,
                                                                                       jlong x, jlong dy, jlong dw,
                                                                                       jlong ws, jlong wsBytes,
                                                                                       jfloat alpha, jfloat beta) {
    D4J_FN(env, CUDNN, d4j_cudnnConvolutionBackwardFilter_t, fn, "cudnnConvolutionBackwardFilter", );
    conv_plan *p = (conv_plan *) D4J_PTR(plan);
    float a = alpha, b = beta;
    CHECK(env, fn(D4J_PTR(handle), &a, p->x, D4J_PTR(x), p->y, D4J_PTR(dy), p->conv[BWD_FILTER],
                  p->algo[BWD_FILTER], D4J_PTR(ws), (size_t) wsBytes, &b, p->w, D4J_PTR(dw)),
          "cudnnConvolutionBackwardFilter", );
}
