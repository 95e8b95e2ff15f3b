// Elementwise kernels: Backend.axpby / scale / mul / clamp / silu / siluBackward, and the dtype conversion behind
// Backend.copy between dtypes (Backend.fill and a same-dtype Backend.copy are driver memsets and device-to-device
// copies). CPU twins: the CpuBackend methods of the same names.
//
// Each body is one template over the element type T of its tensors (float or d4j::bf16, common.cuh): it loads
// floats, computes in float and rounds once on the store. The extern "C" lines below each body name its
// instantiations: d4j_NAME for float tensors, d4j_NAME_bf16 for bf16 tensors (the launcher picks by the tensors'
// dtype; tensors of mixed dtypes go through float copies in CudaBackend's DTypeStaging).
//
// All assign (out may alias an input, as the Backend contract allows for elementwise ops). Every expression is
// written in the CPU twin's operation order; with -fmad=false (no FMA contraction) and IEEE float arithmetic
// the results are bit-identical to Java's, except silu/siluBackward, which use CUDA's expf (max 2 ulp) where
// Java rounds a double exp (see below).
//
// Launch: 1-D grid-stride over n (see common.cuh).
#include "common.cuh"

namespace d4j_elementwise {
using d4j::bf16;
using d4j::load;
using d4j::store;

/** out = alpha * a + beta * b (two products, one sum, each rounded to float, as in Java). */
template <typename T>
__device__ __forceinline__ void axpby(T* out, const T* a, const T* b, long long n, float alpha, float beta) {
    D4J_GRID_LOOP(i, n) store(out, i, alpha * load(a, i) + beta * load(b, i));
}

/** out = s * a. */
template <typename T>
__device__ __forceinline__ void scale(T* out, const T* a, long long n, float s) {
    D4J_GRID_LOOP(i, n) store(out, i, s * load(a, i));
}

/** out = a * b. */
template <typename T>
__device__ __forceinline__ void mul(T* out, const T* a, const T* b, long long n) {
    D4J_GRID_LOOP(i, n) store(out, i, load(a, i) * load(b, i));
}

/** out = max(lo, min(hi, a)) with Java's Math.max/min semantics (d4j::java_min/java_max in common.cuh). */
template <typename T>
__device__ __forceinline__ void clamp(T* out, const T* a, long long n, float lo, float hi) {
    D4J_GRID_LOOP(i, n) store(out, i, d4j::java_max(lo, d4j::java_min(hi, load(a, i))));
}

/**
 * y = x / (1 + exp(-x)). Java evaluates (float) Math.exp(-v) (a correctly rounded-ish double exp rounded to
 * float); expf is within 2 float ulp of exp, so y can differ from the CPU by a couple of ulp. Double exp is
 * avoided on purpose: FP64 runs at 1/64 rate on consumer GPUs and SiLU is applied to every activation.
 */
template <typename T>
__device__ __forceinline__ void silu(T* y, const T* x, long long n) {
    D4J_GRID_LOOP(i, n) {
        float v = load(x, i);
        store(y, i, v / (1.0f + expf(-v)));
    }
}

/** dx = dy * s * (1 + x (1 - s)), s = sigmoid(x) (same order as the CPU). */
template <typename T>
__device__ __forceinline__ void silu_backward(T* dx, const T* dy, const T* x, long long n) {
    D4J_GRID_LOOP(i, n) {
        float v = load(x, i);
        float s = 1.0f / (1.0f + expf(-v));
        store(dx, i, load(dy, i) * s * (1.0f + v * (1.0f - s)));
    }
}

/** out = out + in, in of another element type (a bf16 filter gradient added to the float32 gradient). */
template <typename To, typename Ti>
__device__ __forceinline__ void accumulate(To* out, const Ti* in, long long n) {
    D4J_GRID_LOOP(i, n) store(out, i, load(out, i) + load(in, i));
}

/** out = in converted to out's element type (rounded to nearest even when narrowing; exact when widening). */
template <typename To, typename Ti>
__device__ __forceinline__ void convert(To* out, const Ti* in, long long n) {
    D4J_GRID_LOOP(i, n) store(out, i, load(in, i));
}
}  // namespace d4j_elementwise

namespace E = d4j_elementwise;
using d4j::bf16;

extern "C" __global__ void d4j_axpby(float* out, const float* a, const float* b, long long n, float alpha, float beta) { E::axpby(out, a, b, n, alpha, beta); }
extern "C" __global__ void d4j_axpby_bf16(bf16* out, const bf16* a, const bf16* b, long long n, float alpha, float beta) { E::axpby(out, a, b, n, alpha, beta); }
extern "C" __global__ void d4j_scale(float* out, const float* a, long long n, float s) { E::scale(out, a, n, s); }
extern "C" __global__ void d4j_scale_bf16(bf16* out, const bf16* a, long long n, float s) { E::scale(out, a, n, s); }
extern "C" __global__ void d4j_mul(float* out, const float* a, const float* b, long long n) { E::mul(out, a, b, n); }
extern "C" __global__ void d4j_mul_bf16(bf16* out, const bf16* a, const bf16* b, long long n) { E::mul(out, a, b, n); }
extern "C" __global__ void d4j_clamp(float* out, const float* a, long long n, float lo, float hi) { E::clamp(out, a, n, lo, hi); }
extern "C" __global__ void d4j_clamp_bf16(bf16* out, const bf16* a, long long n, float lo, float hi) { E::clamp(out, a, n, lo, hi); }
extern "C" __global__ void d4j_silu(float* y, const float* x, long long n) { E::silu(y, x, n); }
extern "C" __global__ void d4j_silu_bf16(bf16* y, const bf16* x, long long n) { E::silu(y, x, n); }
extern "C" __global__ void d4j_silu_backward(float* dx, const float* dy, const float* x, long long n) { E::silu_backward(dx, dy, x, n); }
extern "C" __global__ void d4j_silu_backward_bf16(bf16* dx, const bf16* dy, const bf16* x, long long n) { E::silu_backward(dx, dy, x, n); }
extern "C" __global__ void d4j_convert_f32_bf16(bf16* out, const float* in, long long n) { E::convert(out, in, n); }
extern "C" __global__ void d4j_convert_bf16_f32(float* out, const bf16* in, long long n) { E::convert(out, in, n); }
extern "C" __global__ void d4j_accumulate_bf16_f32(float* out, const bf16* in, long long n) { E::accumulate(out, in, n); }
