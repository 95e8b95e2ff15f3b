// Reshaping kernels: Backend.upsampleNearest2x / upsampleNearest2xBackward / concatChannels / splitChannels.
// CPU twins in CpuBackend. Launch: 1-D grid-stride over the number of elements named per kernel.
#include "common.cuh"

/** y[k, i, j] = x[k, i / 2, j / 2] for y of [NC, 2H, 2W]. Grid over NC * 4 * H * W. */
extern "C" __global__ void d4j_upsample_nearest2x(float* y, const float* x, long long NC, int H, int W) {
    long long W2 = 2LL * W, plane2 = 4LL * H * W, total = NC * plane2;
    D4J_GRID_LOOP(o, total) {
        long long k = o / plane2;
        long long rem = o - k * plane2;
        long long i2 = rem / W2, j2 = rem - i2 * W2;
        y[o] = x[k * H * W + (i2 >> 1) * W + (j2 >> 1)];
    }
}

/**
 * dx[k, i, j] = sum of the 2x2 block of dy it was copied to (ASSIGNS), summed in the CPU's order: top-left,
 * top-right, bottom-left, bottom-right. Grid over NC * H * W.
 */
extern "C" __global__ void d4j_upsample_nearest2x_backward(float* dx, const float* dy, long long NC, int H, int W) {
    long long plane = (long long) H * W, total = NC * plane, W2 = 2LL * W;
    D4J_GRID_LOOP(o, total) {
        long long k = o / plane;
        long long rem = o - k * plane;
        long long i = rem / W, j = rem - i * W;
        const float* r0 = dy + k * 4 * plane + (2 * i) * W2 + 2 * j;
        const float* r1 = r0 + W2;
        dx[o] = r0[0] + r0[1] + r1[0] + r1[1];
    }
}

/**
 * Copies a channel range between [N, *, S] tensors: for every sample n and c in [0, count),
 *   dst[n, dstC0 + c, :] = src[n, srcC0 + c, :]
 * where dst has dstC channels and src has srcC. concatChannels launches it once per part (src = part,
 * srcC0 = 0, dstC0 = running channel offset); splitChannels the other way round. Grid over N * count * S.
 */
extern "C" __global__ void d4j_copy_channels(float* dst, const float* src, int N, int dstC, int dstC0, int srcC,
                                             int srcC0, int count, long long S) {
    long long block = (long long) count * S, total = (long long) N * block;
    // float4 groups with 32-bit indices when both whole tensors qualify (d4j::vec4_ok): every offset below is then
    // a multiple of S, hence of 4
    if (d4j::vec4_ok(S, (long long) N * (dstC > srcC ? dstC : srcC) * S, dst, src)) {
        unsigned q = (unsigned) (block >> 2), total4 = (unsigned) (total >> 2);
        unsigned dRow = (unsigned) ((long long) dstC * S >> 2), sRow = (unsigned) ((long long) srcC * S >> 2);
        unsigned d0 = (unsigned) ((long long) dstC0 * S >> 2), s0 = (unsigned) ((long long) srcC0 * S >> 2);
        const float4* src4 = (const float4*) src;
        float4* dst4 = (float4*) dst;
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
