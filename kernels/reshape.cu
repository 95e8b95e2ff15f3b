// Reshaping kernels: Backend.upsampleNearest2x / upsampleNearest2xBackward / concatChannels / splitChannels (CPU
// twins in CpuBackend), and the layout change of the convolutions that run in NHWC (transpose_inner: ConvOps, no
// Backend op). Templates over the element type T (float or d4j::bf16; d4j_NAME and d4j_NAME_bf16).
// Launch: 1-D grid-stride over the number of elements named per kernel.
#include "common.cuh"

namespace d4j_reshape {
using d4j::bf16;
using d4j::load;
using d4j::store;

/** Four consecutive elements of T as one machine word: float4 (16 bytes) for float, uint2 (8 bytes) for bf16. */
template <typename T> struct quad;
template <> struct quad<float> { using type = float4; };
template <> struct quad<bf16> { using type = uint2; };

/** y[k, i, j] = x[k, i / 2, j / 2] for y of [NC, 2H, 2W] (an exact copy in any element type). Grid over NC * 4 * H * W. */
template <typename T>
__device__ __forceinline__ void upsample_nearest2x(T* y, const T* x, long long NC, int H, int W) {
    long long W2 = 2LL * W, plane2 = 4LL * H * W, total = NC * plane2;
    D4J_GRID_LOOP(o, total) {
        long long k = o / plane2;
        long long rem = o - k * plane2;
        long long i2 = rem / W2, j2 = rem - i2 * W2;
        y[o] = x[k * H * W + (i2 >> 1) * W + (j2 >> 1)];
    }
}

/**
 * dx[k, i, j] = sum of the 2x2 block of dy it was copied to (ASSIGNS), summed in float in the CPU's order: top-left,
 * top-right, bottom-left, bottom-right; rounded once to T. Grid over NC * H * W.
 */
template <typename T>
__device__ __forceinline__ void upsample_nearest2x_backward(T* dx, const T* dy, long long NC, int H, int W) {
    long long plane = (long long) H * W, total = NC * plane, W2 = 2LL * W;
    D4J_GRID_LOOP(o, total) {
        long long k = o / plane;
        long long rem = o - k * plane;
        long long i = rem / W, j = rem - i * W;
        const T* r0 = dy + k * 4 * plane + (2 * i) * W2 + 2 * j;
        const T* r1 = r0 + W2;
        store(dx, o, load(r0, 0) + load(r0, 1) + load(r1, 0) + load(r1, 1));
    }
}

/**
 * Copies a channel range between [N, *, S] tensors: for every sample n and c in [0, count),
 *   dst[n, dstC0 + c, :] = src[n, srcC0 + c, :]
 * where dst has dstC channels and src has srcC (an exact copy in any element type). concatChannels launches it once
 * per part (src = part, srcC0 = 0, dstC0 = running channel offset); splitChannels the other way round. Grid over
 * N * count * S.
 */
template <typename T>
__device__ __forceinline__ void copy_channels(T* dst, const T* src, int N, int dstC, int dstC0, int srcC, int srcC0,
                                              int count, long long S) {
    long long block = (long long) count * S, total = (long long) N * block;
    using Q = typename quad<T>::type;
    // groups of four elements with 32-bit indices when S % 4 == 0, the larger tensor has fewer than 2^31 elements
    // and both pointers are aligned to a group: every offset below is then a multiple of S, hence of 4
    bool aligned = (((unsigned long long) dst | (unsigned long long) src) & (sizeof(Q) - 1)) == 0;
    if ((S & 3) == 0 && (long long) N * (dstC > srcC ? dstC : srcC) * S < (1LL << 31) && aligned) {
        unsigned q = (unsigned) (block >> 2), total4 = (unsigned) (total >> 2);
        unsigned dRow = (unsigned) ((long long) dstC * S >> 2), sRow = (unsigned) ((long long) srcC * S >> 2);
        unsigned d0 = (unsigned) ((long long) dstC0 * S >> 2), s0 = (unsigned) ((long long) srcC0 * S >> 2);
        const Q* src4 = (const Q*) src;
        Q* dst4 = (Q*) dst;
        for (unsigned o = d4j::gtid32(); o < total4; o += d4j::gstride32()) {
            unsigned n = o / q, rem = o - n * q;
            dst4[n * dRow + d0 + rem] = src4[n * sRow + s0 + rem];
        }
        return;
    }
    D4J_GRID_LOOP(o, total) {
        long long n = o / block;
        long long rem = o - n * block;   // = c * S + s
        dst[(n * dstC + dstC0) * S + rem] = src[(n * srcC + srcC0) * S + rem];
    }
}

/**
 * y[n, b, a] = x[n, a, b] for x of [N, A, B] (an exact copy in any element type): NCHW -> NHWC with A = C, B = H W,
 * and back with A = H W, B = C. Tiles of 32 x 32 through shared memory, so reads and writes are both coalesced.
 * Launch: blockDim.x == 256 (32 x 8 threads), a 1-D grid-stride loop over the N * ceil(A/32) * ceil(B/32) tiles.
 */
template <typename T>
__device__ __forceinline__ void transpose_inner(T* y, const T* x, int N, int A, int B) {
    __shared__ T tile[32][33];   // +1: the column reads hit 32 different banks
    const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
    const long long tilesA = (A + 31) / 32, tilesB = (B + 31) / 32, perSample = tilesA * tilesB;
    const long long tiles = (long long) N * perSample, plane = (long long) A * B;
    for (long long t = blockIdx.x; t < tiles; t += gridDim.x) {
        long long n = t / perSample, r = t - n * perSample;
        int a0 = (int) (r / tilesB) * 32, b0 = (int) (r - (r / tilesB) * tilesB) * 32;
        const T* xs = x + n * plane;
        T* ys = y + n * plane;
        for (int i = ty; i < 32; i += 8) {
            int a = a0 + i, b = b0 + tx;
            if (a < A && b < B) tile[i][tx] = xs[(long long) a * B + b];
        }
        __syncthreads();
        for (int i = ty; i < 32; i += 8) {
            int b = b0 + i, a = a0 + tx;
            if (a < A && b < B) ys[(long long) b * A + a] = tile[tx][i];
        }
        __syncthreads();   // the tile is refilled by the next iteration
    }
}
}  // namespace d4j_reshape

namespace R = d4j_reshape;
using d4j::bf16;

extern "C" __global__ void d4j_upsample_nearest2x(float* y, const float* x, long long NC, int H, int W) { R::upsample_nearest2x(y, x, NC, H, W); }
extern "C" __global__ void d4j_upsample_nearest2x_bf16(bf16* y, const bf16* x, long long NC, int H, int W) { R::upsample_nearest2x(y, x, NC, H, W); }
extern "C" __global__ void d4j_upsample_nearest2x_backward(float* dx, const float* dy, long long NC, int H, int W) { R::upsample_nearest2x_backward(dx, dy, NC, H, W); }
extern "C" __global__ void d4j_upsample_nearest2x_backward_bf16(bf16* dx, const bf16* dy, long long NC, int H, int W) { R::upsample_nearest2x_backward(dx, dy, NC, H, W); }
extern "C" __global__ void d4j_copy_channels(float* dst, const float* src, int N, int dstC, int dstC0, int srcC, int srcC0, int count, long long S) { R::copy_channels(dst, src, N, dstC, dstC0, srcC, srcC0, count, S); }
extern "C" __global__ void d4j_copy_channels_bf16(bf16* dst, const bf16* src, int N, int dstC, int dstC0, int srcC, int srcC0, int count, long long S) { R::copy_channels(dst, src, N, dstC, dstC0, srcC, srcC0, count, S); }
extern "C" __global__ void d4j_transpose_inner(float* y, const float* x, int N, int A, int B) { R::transpose_inner(y, x, N, A, B); }
extern "C" __global__ void d4j_transpose_inner_bf16(bf16* y, const bf16* x, int N, int A, int B) { R::transpose_inner(y, x, N, A, B); }
