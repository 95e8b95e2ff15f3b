// Elementwise kernels: Backend.axpby / scale / mul / clamp / silu / siluBackward (Backend.fill and Backend.copy are
// driver memsets and device-to-device copies). CPU twins: the CpuBackend methods of the same names.
//
// All assign (out may alias an input, as the Backend contract allows for elementwise ops). Every expression is
// written in the CPU twin's operation order; with -fmad=false (no FMA contraction) and IEEE float arithmetic
// the results are bit-identical to Java's, except silu/siluBackward, which use CUDA's expf (max 2 ulp) where
// Java rounds a double exp (see below).
//
// Launch: 1-D grid-stride over n (see common.cuh).
#include "common.cuh"

/** out = alpha * a + beta * b (two products, one sum, each rounded to float, as in Java). */
extern "C" __global__ void d4j_axpby(float* out, const float* a, const float* b, long long n, float alpha,
                                     float beta) {
    D4J_GRID_LOOP(i, n) out[i] = alpha * a[i] + beta * b[i];
}

/** out = s * a. */
extern "C" __global__ void d4j_scale(float* out, const float* a, long long n, float s) {
    D4J_GRID_LOOP(i, n) out[i] = s * a[i];
}

/** out = a * b. */
extern "C" __global__ void d4j_mul(float* out, const float* a, const float* b, long long n) {
    D4J_GRID_LOOP(i, n) out[i] = a[i] * b[i];
}

/** out = max(lo, min(hi, a)) with Java's Math.max/min semantics (d4j::java_min/java_max in common.cuh). */
extern "C" __global__ void d4j_clamp(float* out, const float* a, long long n, float lo, float hi) {
    D4J_GRID_LOOP(i, n) out[i] = d4j::java_max(lo, d4j::java_min(hi, a[i]));
}

/**
 * y = x / (1 + exp(-x)). Java evaluates (float) Math.exp(-v) (a correctly rounded-ish double exp rounded to
 * float); expf is within 2 float ulp of exp, so y can differ from the CPU by a couple of ulp. Double exp is
 * avoided on purpose: FP64 runs at 1/64 rate on consumer GPUs and SiLU is applied to every activation.
 */
extern "C" __global__ void d4j_silu(float* y, const float* x, long long n) {
    D4J_GRID_LOOP(i, n) {
        float v = x[i];
        y[i] = v / (1.0f + expf(-v));
    }
}

/** dx = dy * s * (1 + x (1 - s)), s = sigmoid(x) (same order as the CPU). */
extern "C" __global__ void d4j_silu_backward(float* dx, const float* dy, const float* x, long long n) {
    D4J_GRID_LOOP(i, n) {
        float v = x[i];
        float s = 1.0f / (1.0f + expf(-v));
        dx[i] = dy[i] * s * (1.0f + v * (1.0f - s));
    }
}
