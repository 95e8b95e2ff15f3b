// Shared device helpers for kernels/*.cu: index loops and deterministic block reductions.
//
// Launch conventions (the Java launcher follows them):
//   * elementwise kernels take a 64-bit element count and use grid-stride loops, so any grid size is correct;
//     the launcher uses 256 threads per block and min(ceil(n / 256), 65535 * 8) blocks;
//   * row/group kernels use one thread block per row/group (gridDim.x = rows) with a power-of-two block size
//     of at most 1024 threads, documented per kernel;
//   * reductions are deterministic: fixed tree shapes, no atomics on floats, so a result depends only on the
//     data and the launch configuration (which the launcher keeps fixed).
#pragma once

#include <stdint.h>

namespace d4j {

/** Global thread index and stride for a 1-D grid-stride loop over 64-bit counts. */
__device__ __forceinline__ long long gtid() { return (long long) blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long gstride() { return (long long) gridDim.x * blockDim.x; }

#define D4J_GRID_LOOP(i, n) for (long long i = ::d4j::gtid(); i < (long long) (n); i += ::d4j::gstride())

/** 32-bit versions, for loops whose counts are known to be below 2^31 (no 64-bit division in the index maths). */
__device__ __forceinline__ unsigned gtid32() { return blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ unsigned gstride32() { return gridDim.x * blockDim.x; }

/**
 * Whether a kernel over `total` floats laid out as rows of S may work on float4 groups: S % 4 == 0 (a group never
 * straddles two rows), fewer than 2^31 elements (32-bit indices, and i + stride cannot wrap), and 16-byte aligned
 * pointers (arena and cuMemAlloc memory are; a view at an odd offset is not).
 */
__device__ __forceinline__ bool vec4_ok(long long S, long long total, const void* a, const void* b) {
    return (S & 3) == 0 && total < (1LL << 31) && (((unsigned long long) a | (unsigned long long) b) & 15) == 0;
}

/**
 * Calls f(v) for one thread's share of a row's values, in order: load(i) for i = start, start + step, ... below n;
 * or, with vec4 (n % 4 == 0 and the row 16-byte aligned), the float4 groups load4(j) for j = start, start + step, ...
 * below n / 4, each group's four values in order.
 */
template <typename Load4, typename Load, typename F>
__device__ __forceinline__ void strided_each(long long n, long long start, long long step, bool vec4, Load4 load4,
                                             Load load, F f) {
    if (vec4) {
        for (long long j = start; j < (n >> 2); j += step) {
            float4 v = load4(j);
            f(v.x);
            f(v.y);
            f(v.z);
            f(v.w);
        }
    } else {
        for (long long i = start; i < n; i += step) f(load(i));
    }
}

/**
 * One thread's share of a row sum of p, in double, in strided_each's order. The caller reduces the shares
 * (warp_sum / block_sum); the result depends only on (n, step, vec4).
 */
__device__ __forceinline__ double strided_sum(const float* p, long long n, long long start, long long step, bool vec4) {
    double acc = 0.0;
    strided_each(n, start, step, vec4, [=](long long j) { return ((const float4*) p)[j]; },
                 [=](long long i) { return p[i]; }, [&](float v) { acc += (double) v; });
    return acc;
}

/** Sum over a warp (all 32 lanes active); the result is valid in every lane. */
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/**
 * Sum over the thread block; every thread calls it with its own value and gets the block total. blockDim.x
 * must be a multiple of 32 (at most 1024). {@code scratch} is shared memory of at least 32 T. Contains the
 * __syncthreads() needed to reuse {@code scratch} immediately afterwards.
 */
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T t = lane < nwarps ? scratch[lane] : (T) 0;
    t = warp_sum(t);   // every warp reduces the partials the same way: all threads see the same total
    __syncthreads();
    return t;
}

/** Maximum over the thread block, as block_sum. */
__device__ __forceinline__ float block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < nwarps ? scratch[lane] : -INFINITY;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, o));
    __syncthreads();
    return t;
}

/**
 * Java's Math.min / Math.max on floats: a NaN operand gives NaN (fminf/fmaxf would drop it), and -0.0 < +0.0.
 * Used wherever a CPU twin clamps with Math.min/max (clamp, diffusionStep's x0 clipping).
 */
__device__ __forceinline__ float java_min(float a, float b) {
    if (a != a) return a;
    if (b != b) return b;
    if (a == 0.0f && b == 0.0f) return __int_as_float(__float_as_int(a) | __float_as_int(b));  // -0 wins
    return a <= b ? a : b;
}

__device__ __forceinline__ float java_max(float a, float b) {
    if (a != a) return a;
    if (b != b) return b;
    if (a == 0.0f && b == 0.0f) return __int_as_float(__float_as_int(a) & __float_as_int(b));  // +0 wins
    return a >= b ? a : b;
}

/**
 * Element types. Tensors hold float (F32) or bfloat16 (BF16: the top 16 bits of a float32); a kernel templated on
 * its tensors' element types loads every element as a float (load), computes in float and rounds once on the store
 * (store): round to nearest, ties to even, NaN kept a quiet NaN, as the CPU reference (tensor/Rounding.java) and
 * __float2bfloat16_rn. The bit manipulation is the same on the GPU and in the CUDA emulation, so both round alike.
 */
struct bf16 {
    unsigned short bits;
};

__device__ __forceinline__ float load(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float load(const bf16* p, long long i) { return __uint_as_float((unsigned) p[i].bits << 16); }

__device__ __forceinline__ bf16 to_bf16(float f) {
    unsigned b = __float_as_uint(f);
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return bf16{(unsigned short) ((b >> 16) | 0x0040u)};   // NaN stays quiet NaN
    return bf16{(unsigned short) ((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16)};
}

/** Whether T is float (a kernel's float4 paths exist for float tensors only). */
template <typename T> struct is_f32 { static constexpr bool value = false; };
template <> struct is_f32<float> { static constexpr bool value = true; };

__device__ __forceinline__ void store(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void store(bf16* p, long long i, float v) { p[i] = to_bf16(v); }

/**
 * Elements 4j .. 4j + 3 of p as one float4: one 16-byte load for float, one 8-byte load for bf16 (p must be aligned
 * to that; element 4j is the low half of the first word, as the GPU is little-endian). store4 writes them back,
 * each rounded as store rounds it.
 */
__device__ __forceinline__ float4 load4(const float* p, long long j) { return ((const float4*) p)[j]; }
__device__ __forceinline__ float4 load4(const bf16* p, long long j) {
    uint2 u = ((const uint2*) p)[j];
    return make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xFFFF0000u), __uint_as_float(u.y << 16),
                       __uint_as_float(u.y & 0xFFFF0000u));
}
__device__ __forceinline__ void store4(float* p, long long j, float4 v) { ((float4*) p)[j] = v; }
__device__ __forceinline__ void store4(bf16* p, long long j, float4 v) {
    uint2 u;
    u.x = (unsigned) to_bf16(v.x).bits | ((unsigned) to_bf16(v.y).bits << 16);
    u.y = (unsigned) to_bf16(v.z).bits | ((unsigned) to_bf16(v.w).bits << 16);
    ((uint2*) p)[j] = u;
}

/**
 * Bits of the backend's device-side error word (set with atomicOr by kernels that validate data they cannot
 * check on the host without a device-to-host copy; the Java side reads and clears the word at its next
 * synchronisation point and throws). Keep in sync with CudaBackend.ERROR_*.
 */
constexpr int ERROR_TIMESTEP_RANGE = 1;   // qSample: a timestep outside [0, T)
constexpr int ERROR_CLASS_ID = 2;         // oneHot: a class id that is not an integer in [0, K)

}  // namespace d4j
