package io.github.diffusion4j.backend.cuda;

/**
 * cuDNN through the JNI shim (native/cudnn.c): handle, per-shape convolution plans and the three convolution
 * passes. Everything is a {@code long}: cudnnHandle_t, plan pointers, device addresses (see {@link DevicePtr})
 * and the CUstream (the same object as a cudaStream_t). Failures throw {@link CudaException} naming the call and
 * cuDNN's status string. The library must have been found by {@link CudaAvailability#probe()} first, and the
 * calling thread must have the device's primary context current.
 *
 * <p>Not exercised on a GPU yet: written against the cuDNN 9 headers, compiled and linked, never run.
 */
public final class Cudnn {
    private Cudnn() {}

    /** cudnnMathType_t (cudnn_graph.h). */
    public static final int DEFAULT_MATH = 0, TENSOR_OP_MATH = 1, TENSOR_OP_MATH_ALLOW_CONVERSION = 2, FMA_MATH = 3;
    /** cudnnDataType_t of the tensors and filters (cudnn_graph.h). */
    public static final int DATA_FLOAT = 0, DATA_BFLOAT16 = 9;
    /** cudnnTensorFormat_t of the tensors and the filter of a plan (cudnn_graph.h). */
    public static final int TENSOR_NCHW = 0, TENSOR_NHWC = 1;

    /** cudnnConvolutionFwdAlgo_t / BwdData / BwdFilter values are cuDNN's (cudnn_ops.h); see {@link #convPlanInfo}. */
    public static native long create();

    public static native void destroy(long handle);

    public static native void setStream(long handle, long stream);

    /**
     * A plan for y = conv(x, w) with x [n, c, h, w], w [k, c, kh, kw], y [n, k, ho, wo], zero padding, stride,
     * no dilation, cross-correlation, of {@code dataType} ({@link #DATA_FLOAT} or {@link #DATA_BFLOAT16}) with FP32
     * compute. Chooses algorithms by cuDNN's heuristics (within
     * {@code workspaceLimit} bytes, -1 for no limit; deterministic backward algorithms only when asked). Throws
     * when y's shape disagrees with cuDNN's. Free with {@link #convPlanDestroy}.
     */
    public static long convPlan(long handle, int n, int c, int h, int w, int k, int kh, int kw, int padH,
                                int padW, int strideH, int strideW, int ho, int wo, int dataType,
                                int mathType, boolean deterministic, long workspaceLimit) {
        return convPlan(handle, n, c, h, w, k, kh, kw, padH, padW, strideH, strideW, ho, wo, dataType, mathType,
                deterministic, workspaceLimit, TENSOR_NCHW);
    }

    /**
     * As above, with x, w and y in memory format {@code format}: {@link #TENSOR_NCHW}, or {@link #TENSOR_NHWC}
     * (x [n, h, w, c], w [k, kh, kw, c], y [n, ho, wo, k] in memory; the dims are still given as n, c, h, w).
     */
    public static native long convPlan(long handle, int n, int c, int h, int w, int k, int kh, int kw, int padH,
                                       int padW, int strideH, int strideW, int ho, int wo, int dataType,
                                       int mathType, boolean deterministic, long workspaceLimit, int format);

    /**
     * Re-chooses the plan's algorithms by timing them on real buffers (cudnnFind*AlgorithmEx). {@code y},
     * {@code dxScratch} and {@code dwScratch} are overwritten: pass scratch buffers of the plan's shapes.
     */
    public static native void convPlanFind(long handle, long plan, long x, long w, long y, long dxScratch,
                                           long dwScratch, long workspace, long workspaceBytes, boolean deterministic);

    /**
     * The plan's choices: {fwdAlgo, fwdMath, fwdWorkspaceBytes, bwdDataAlgo, bwdDataMath, bwdDataWorkspaceBytes,
     * bwdFilterAlgo, bwdFilterMath, bwdFilterWorkspaceBytes}.
     */
    public static native long[] convPlanInfo(long plan);

    /**
     * What the plan's search measured (native/cudnn.c: each search runs twice and the second pass decides): per
     * direction (forward, backward data, backward filter) a count c, then c records {algo, mathType, status, ms of
     * the first pass, ms of the second pass, workspace MiB}, fastest first; ms is -1 where a pass did not time it.
     */
    public static native float[] convPlanFindTimes(long plan);

    public static native void convPlanDestroy(long plan);

    /** y = alpha * conv(x, w) + beta * y. */
    public static native void convForward(long handle, long plan, long x, long w, long y, long workspace,
                                          long workspaceBytes, float alpha, float beta);

    /** dx = alpha * (gradient w.r.t. x of conv, given dy) + beta * dx. */
    public static native void convBackwardData(long handle, long plan, long w, long dy, long dx, long workspace,
                                               long workspaceBytes, float alpha, float beta);

    /** dw = alpha * (gradient w.r.t. w, given x and dy) + beta * dw (beta 1 accumulates). */
    public static native void convBackwardFilter(long handle, long plan, long x, long dy, long dw, long workspace,
                                                 long workspaceBytes, float alpha, float beta);
}
