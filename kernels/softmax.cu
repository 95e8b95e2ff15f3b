// Softmax over the last axis: Backend.softmax / softmaxBackward (CPU twins in CpuBackend).
//
// One block per row, blockDim.x a multiple of 32 (256 suggested); any row length. As on the CPU: the row max
// in float, e = (float) exp(x - max), the sum of e in double, y = e * (float) (1 / sum). The GPU uses expf
// (max 2 ulp) where Java rounds a double exp, so values can differ by a few ulp.
// Launch: gridDim.x = rows.
#include "common.cuh"

/** y[r, :] = softmax(x[r, :]); y may alias x. */
extern "C" __global__ void d4j_softmax(float* y, const float* x, long long rows, int cols) {
    __shared__ float fscratch[32];
    __shared__ double dscratch[32];
    long long r = blockIdx.x;
    if (r >= rows) return;
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) mx = fmaxf(mx, xr[j]);
    mx = d4j::block_max(mx, fscratch);
    double s = 0.0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float e = expf(xr[j] - mx);
        yr[j] = e;
        s += (double) e;
    }
    s = d4j::block_sum(s, dscratch);
    float inv = (float) (1.0 / s);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) yr[j] *= inv;
}

/** dx = y * (dy - sum_j dy_j y_j) per row; the dot is a double sum of float products, as on the CPU. */
extern "C" __global__ void d4j_softmax_backward(float* dx, const float* dy, const float* y, long long rows,
                                                int cols) {
    __shared__ double scratch[32];
    long long r = blockIdx.x;
    if (r >= rows) return;
    const float* gr = dy + r * cols;
    const float* pr = y + r * cols;
    float* dr = dx + r * cols;
    double dot = 0.0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dot += (double) (gr[j] * pr[j]);
    float d = (float) d4j::block_sum(dot, scratch);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dr[j] = pr[j] * (gr[j] - d);
}
