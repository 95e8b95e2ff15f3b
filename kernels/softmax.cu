// Softmax over the last axis: Backend.softmax / softmaxBackward (CPU twins in CpuBackend).
//
// One block per row, blockDim.x a multiple of 32 (256 suggested); any row length. As on the CPU: the row max
// in float, e = (float) exp(x - max), the sum of e in double, y = e * (float) (1 / sum). The GPU uses expf
// (max 2 ulp) where Java rounds a double exp, so values can differ by a few ulp.
// Templates over the probabilities' element type T (float or d4j::bf16): d4j_softmax*_bf16 store y and dx in bf16
// and read y as bf16; the scores and their gradient dy stay float32 (SelfAttention).
// Launch: gridDim.x = rows.
#include "common.cuh"

namespace d4j_softmax_ops {
using d4j::bf16;
using d4j::load;
using d4j::store;

/**
 * y[r, :] = softmax(x[r, :]); y may alias x (each thread reads x[j] before it writes y[j], and the third pass
 * recomputes e rather than reading it back, so a bf16 y is rounded once, from the float e * inv, as on the CPU).
 * The scores x are float32 whatever the probabilities' element type T (SelfAttention keeps them float).
 */
template <typename T>
__device__ __forceinline__ void softmax(T* y, const float* x, long long rows, int cols) {
    __shared__ float fscratch[32];
    __shared__ double dscratch[32];
    long long r = blockIdx.x;
    if (r >= rows) return;
    const float* xr = x + r * cols;
    T* yr = y + r * cols;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) mx = fmaxf(mx, xr[j]);
    mx = d4j::block_max(mx, fscratch);
    double s = 0.0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += (double) expf(xr[j] - mx);
    s = d4j::block_sum(s, dscratch);
    float inv = (float) (1.0 / s);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) store(yr, j, expf(xr[j] - mx) * inv);
}

/**
 * dx = y * (dy - sum_j dy_j y_j) per row; the dot is a double sum of float products, as on the CPU. y and dx are
 * of the probabilities' element type T, dy (the gradient of the probabilities, from a float GEMM) is float32.
 */
template <typename T>
__device__ __forceinline__ void softmax_backward(T* dx, const float* dy, const T* y, long long rows, int cols) {
    __shared__ double scratch[32];
    long long r = blockIdx.x;
    if (r >= rows) return;
    const float* gr = dy + r * cols;
    const T* pr = y + r * cols;
    T* dr = dx + r * cols;
    double dot = 0.0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dot += (double) (gr[j] * load(pr, j));
    float d = (float) d4j::block_sum(dot, scratch);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) store(dr, j, load(pr, j) * (gr[j] - d));
}
}  // namespace d4j_softmax_ops

namespace S = d4j_softmax_ops;
using d4j::bf16;

extern "C" __global__ void d4j_softmax(float* y, const float* x, long long rows, int cols) { S::softmax(y, x, rows, cols); }
extern "C" __global__ void d4j_softmax_bf16(bf16* y, const float* x, long long rows, int cols) { S::softmax(y, x, rows, cols); }
extern "C" __global__ void d4j_softmax_backward(float* dx, const float* dy, const float* y, long long rows, int cols) { S::softmax_backward(dx, dy, y, rows, cols); }
extern "C" __global__ void d4j_softmax_backward_bf16(bf16* dx, const float* dy, const bf16* y, long long rows, int cols) { S::softmax_backward(dx, dy, y, rows, cols); }
