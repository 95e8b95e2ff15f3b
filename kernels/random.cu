// Philox random tensors: Backend.randn / Backend.rand (CPU twin: CpuBackend.randn / rand via Philox.fillNormal /
// fillUniform). Element i of out gets global index g = offset + i.
//
// One thread per Philox block (four consecutive global indices), so each Box-Muller pair is computed once.
// Launch: 1-D grid of any size (grid-stride); the number of Philox blocks touched is
//   nblocks = ((offset + n - 1) >> 2) - (offset >> 2) + 1   (n > 0),
// and the launcher sizes the grid for that count.
#include "common.cuh"
#include "philox.cuh"

namespace {

/** Writes lanes of block b that fall into [offset, offset + n) of the global index range. */
__device__ __forceinline__ void store_block(float* out, long long n, unsigned long long offset,
                                            unsigned long long b, float4 v) {
    unsigned long long g0 = b << 2;
#pragma unroll
    for (int l = 0; l < 4; l++) {
        unsigned long long g = g0 + l;
        // i = g - offset, kept unsigned so that g < offset wraps to a huge value and is skipped
        unsigned long long i = g - offset;
        if (i < (unsigned long long) n) out[i] = d4j::lane(v, l);
    }
}

}  // namespace

/** out[i] = Philox.normal(seed, offset + i), i in [0, n). */
extern "C" __global__ void d4j_randn(float* out, long long n, unsigned long long seed, unsigned long long offset) {
    if (n <= 0) return;
    unsigned long long first = offset >> 2, last = (offset + (unsigned long long) n - 1) >> 2;
    long long nblocks = (long long) (last - first + 1);
    D4J_GRID_LOOP(k, nblocks) {
        unsigned long long b = first + (unsigned long long) k;
        store_block(out, n, offset, b, d4j::philox_normal4(seed, b));
    }
}

/** out[i] = Philox.uniform(seed, offset + i), in [0, 1). */
extern "C" __global__ void d4j_rand(float* out, long long n, unsigned long long seed, unsigned long long offset) {
    if (n <= 0) return;
    unsigned long long first = offset >> 2, last = (offset + (unsigned long long) n - 1) >> 2;
    long long nblocks = (long long) (last - first + 1);
    D4J_GRID_LOOP(k, nblocks) {
        unsigned long long b = first + (unsigned long long) k;
        store_block(out, n, offset, b, d4j::philox_uniform4(seed, b));
    }
}
