// Philox random tensors: Backend.randn / Backend.rand (CPU twin: CpuBackend.randn / rand via Philox.fillNormal /
// fillUniform). Element i of out gets global index g = offset + i.
//
// One thread per Philox block (four consecutive global indices), so each Box-Muller pair is computed once.
// Launch: 1-D grid of any size (grid-stride) over d4j::block_count(n, offset) blocks.
#include "common.cuh"
#include "philox.cuh"

/** out[i] = Philox.normal(seed, offset + i), i in [0, n). */
extern "C" __global__ void d4j_randn(float* out, long long n, unsigned long long seed, unsigned long long offset) {
    if (n <= 0) return;
    unsigned long long first = offset >> 2;
    D4J_GRID_LOOP(k, d4j::block_count(n, offset)) {
        unsigned long long b = first + (unsigned long long) k;
        d4j::store_block(out, n, offset, b, d4j::philox_normal4(seed, b));
    }
}

/** out[i] = Philox.uniform(seed, offset + i), in [0, 1). */
extern "C" __global__ void d4j_rand(float* out, long long n, unsigned long long seed, unsigned long long offset) {
    if (n <= 0) return;
    unsigned long long first = offset >> 2;
    D4J_GRID_LOOP(k, d4j::block_count(n, offset)) {
        unsigned long long b = first + (unsigned long long) k;
        d4j::store_block(out, n, offset, b, d4j::philox_uniform4(seed, b));
    }
}

/**
 * Dropout with the mask regenerated from Philox uniforms (Backend.dropout and dropoutBackward, which are the
 * same operation on different tensors; CPU twin: CpuBackend.dropoutApply): out[i] = u >= p ? in[i] * keep : 0
 * with u = Philox.uniform(seed, offset + i) and keep = 1f / (1f - p) computed by the caller in float.
 * out may alias in. A template over the element type T of out and in (d4j_dropout: float, d4j_dropout_bf16: bf16,
 * computed in float and rounded once on the store). Launch: grid-stride over d4j::block_count(n, offset) Philox
 * blocks.
 */
namespace d4j_random {
template <typename T>
__device__ __forceinline__ void dropout(T* out, const T* in, long long n, float p, float keep, unsigned long long seed,
                                        unsigned long long offset) {
    if (n <= 0) return;
    unsigned long long first = offset >> 2;
    D4J_GRID_LOOP(k, d4j::block_count(n, offset)) {
        unsigned long long b = first + (unsigned long long) k;
        float4 u = d4j::philox_uniform4(seed, b);
        unsigned long long g0 = b << 2;
#pragma unroll
        for (int l = 0; l < 4; l++) {
            unsigned long long i = g0 + (unsigned long long) l - offset;
            if (i < (unsigned long long) n) {
                d4j::store(out, (long long) i, d4j::lane(u, l) >= p ? d4j::load(in, (long long) i) * keep : 0.0f);
            }
        }
    }
}
}  // namespace d4j_random

extern "C" __global__ void d4j_dropout(float* out, const float* in, long long n, float p, float keep,
                                       unsigned long long seed, unsigned long long offset) {
    d4j_random::dropout(out, in, n, p, keep, seed, offset);
}

extern "C" __global__ void d4j_dropout_bf16(d4j::bf16* out, const d4j::bf16* in, long long n, float p, float keep,
                                            unsigned long long seed, unsigned long long offset) {
    d4j_random::dropout(out, in, n, p, keep, seed, offset);
}
