// The forward (noising) process of DDPM training in one pass: draw eps with Philox, form x_t and the training
// target. No Backend method yet; the Java twin is x_t = sqrtAlphaBar[t] * x0 + sqrtOneMinusAlphaBar[t] * eps
// with eps = Philox.normal(seed, offset + i) (Backend.randn with the same seed and offset), evaluated in float in
// this order.
#include "common.cuh"
#include "philox.cuh"

/**
 * For x0 of [N, D] and per-sample timesteps t[N] (int32 indices when tIsInt, else float values truncated to an
 * index) into the schedule tables sqrtAlphaBar[T], sqrtOneMinusAlphaBar[T] (device memory, float):
 *   eps_i    = Philox.normal(seed, offset + i)                        i = n * D + d
 *   xt_i     = a_n * x0_i + b_n * eps_i                               a_n = sqrtAlphaBar[t_n], b_n = sqrtOneMinus...
 *   target_i = eps_i (predictionType 0, "epsilon"), x0_i (1, "sample"), a_n * eps_i - b_n * x0_i (2, "v_prediction")
 * xt and target must not alias x0. Timesteps outside [0, T) are clamped (the caller validates them).
 * Launch: grid-stride over d4j::block_count(N * D, offset) Philox blocks.
 */
extern "C" __global__ void d4j_add_noise(float* xt, float* target, const float* x0, const void* t, int tIsInt,
                                         const float* sqrtAlphaBar, const float* sqrtOneMinusAlphaBar, int T,
                                         int N, long long D, unsigned long long seed, unsigned long long offset,
                                         int predictionType) {
    long long n = (long long) N * D;
    if (n <= 0) return;
    unsigned long long first = offset >> 2;
    D4J_GRID_LOOP(k, d4j::block_count(n, offset)) {
        unsigned long long b = first + (unsigned long long) k;
        float4 e4 = d4j::philox_normal4(seed, b);
        unsigned long long g0 = b << 2;
#pragma unroll
        for (int l = 0; l < 4; l++) {
            unsigned long long i = g0 + (unsigned long long) l - offset;
            if (i >= (unsigned long long) n) continue;
            int s = (int) ((long long) i / D);
            int ti = tIsInt ? ((const int*) t)[s] : (int) ((const float*) t)[s];
            ti = ti < 0 ? 0 : ti >= T ? T - 1 : ti;
            float a = sqrtAlphaBar[ti], bb = sqrtOneMinusAlphaBar[ti];
            float eps = d4j::lane(e4, l), x = x0[i];
            xt[i] = a * x + bb * eps;
            target[i] = predictionType == 0 ? eps : predictionType == 1 ? x : a * eps - bb * x;
        }
    }
}
