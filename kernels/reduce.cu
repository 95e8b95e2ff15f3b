// Reductions: Backend.sum / sumSquares / allFinite / sumPerSample (CPU twins in CpuBackend).
//
// Deterministic two-pass scheme for whole-tensor sums, accumulated in double like the CPU:
//   pass 1  d4j_sum_partials: gridDim.x blocks, each reduces a fixed strided slice of x into partials[block]
//   pass 2  d4j_sum_finalize: ONE block reduces partials[0..count) into out[0]
// The result depends only on the data and on gridDim.x/blockDim.x, which the launcher keeps fixed
// (256 threads; blocks = min(ceil(n / 1024), 1024)). The CPU sums sequentially, so the two agree to double
// rounding (~1e-16 relative), not bit for bit.
#include "common.cuh"

/**
 * partials[blockIdx.x] = sum of x[i] (squares = 0) or x[i]^2 (squares = 1) over the block's slice, in double.
 * Launch: 1-D grid, blockDim.x a multiple of 32 (<= 1024).
 */
extern "C" __global__ void d4j_sum_partials(double* partials, const float* x, long long n, int squares) {
    __shared__ double scratch[32];
    double acc = 0.0;
    if (squares) {
        D4J_GRID_LOOP(i, n) {
            double v = (double) x[i];
            acc += v * v;
        }
    } else {
        D4J_GRID_LOOP(i, n) acc += (double) x[i];
    }
    acc = d4j::block_sum(acc, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

/** out[0] = sum of partials[0..count). Launch: ONE block, blockDim.x a multiple of 32. */
extern "C" __global__ void d4j_sum_finalize(double* out, const double* partials, int count) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
    acc = d4j::block_sum(acc, scratch);
    if (threadIdx.x == 0) out[0] = acc;
}

/**
 * flag[0] = 1 if some x[i] is NaN or infinite. The launcher zeroes flag first; every writer stores the same
 * value, so the unsynchronised stores are harmless and the result deterministic.
 */
extern "C" __global__ void d4j_nonfinite_flag(int* flag, const float* x, long long n) {
    int found = 0;
    D4J_GRID_LOOP(i, n) {
        if (!isfinite(x[i])) found = 1;
    }
    if (found) flag[0] = 1;
}

/**
 * out[s] = (float) sum over x[s, 0..per) in double (Backend.sumPerSample: assigns).
 * Launch: gridDim.x = number of samples, blockDim.x a multiple of 32.
 */
extern "C" __global__ void d4j_sum_per_sample(float* out, const float* x, int samples, long long per) {
    __shared__ double scratch[32];
    int s = blockIdx.x;
    if (s >= samples) return;   // uniform per block, so block_sum's barriers are safe
    const float* row = x + (long long) s * per;
    double acc = 0.0;
    for (long long i = threadIdx.x; i < per; i += blockDim.x) acc += (double) row[i];
    acc = d4j::block_sum(acc, scratch);
    if (threadIdx.x == 0) out[s] = (float) acc;
}
