// Per-channel broadcasts and their reductions over [N, C, S] tensors (S = product of the spatial dims, 1 for
// [N, C]): Backend.addBias / biasGrad / addPerSampleChannel / perSampleChannelSum / scaleShift /
// scaleShiftBackward. CPU twins: the CpuBackend methods of the same names.
//
// The broadcasts are templates over the activations' element type T (float: d4j_NAME, bf16: d4j_NAME_bf16; the
// per-channel and per-sample values, bias, v, scale and shift, are float either way), computed in float and rounded
// once on the store. Broadcast kernels are 1-D grid-stride over N*C*S (or, for float, over N*C*S/4 float4 groups,
// see d4j::vec4_ok). Reduction
// kernels use one block per output value (per (n, c) plane for the per-channel sums, which a second pass adds up
// over n) with blockDim.x a multiple of 32, accumulate in double in the CPU's per-element expression, and are
// deterministic.
#include "common.cuh"

namespace d4j_broadcast {

// lane-wise float4 sums for the per-row broadcasts below: each lane rounds as the scalar expression does
__device__ __forceinline__ float4 operator+(float4 a, float b) {
    return make_float4(a.x + b, a.y + b, a.z + b, a.w + b);
}
__device__ __forceinline__ float4 operator+(float4 a, float4 b) {
    return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
}

/**
 * The loop the per-row broadcasts share: out[i] = f(in[i], other[i], row) for every element i of a tensor of rows
 * of S elements, row = i / S (an (n, c) plane; its channel is row % C). other may be null (f then gets 0). f is
 * called with floats and a long long row element by element, or with float4s and an unsigned row four elements at a
 * time (32-bit index maths) when S % 4 == 0, every pointer is 16-byte aligned and the tensor has fewer than 2^31
 * elements (d4j::vec4_ok); its per-row values are then read once per four elements, and each lane rounds as the
 * scalar expression does.
 */
template <typename T, typename F>
__device__ __forceinline__ void per_row(T* out, const T* in, const T* other, long long total, long long S, F f) {
    if constexpr (!d4j::is_f32<T>::value) {
        D4J_GRID_LOOP(i, total) {
            d4j::store(out, i, f(d4j::load(in, i), other != nullptr ? d4j::load(other, i) : 0.0f, i / S));
        }
        return;
    } else if (d4j::vec4_ok(S, total, out, in) && (other == nullptr || d4j::vec4_ok(S, total, other, other))) {
        unsigned q = (unsigned) (S >> 2), total4 = (unsigned) (total >> 2);
        const float4* in4 = (const float4*) in;
        const float4* o4 = (const float4*) other;
        float4* out4 = (float4*) out;
        for (unsigned i = d4j::gtid32(); i < total4; i += d4j::gstride32()) {
            out4[i] = f(in4[i], o4 != nullptr ? o4[i] : make_float4(0.0f, 0.0f, 0.0f, 0.0f), i / q);
        }
        return;
    }
    else {
        D4J_GRID_LOOP(i, total) out[i] = f(in[i], other != nullptr ? other[i] : 0.0f, i / S);
    }
}

/** out[n,c,s] = in[n,c,s] + bias[c], as on the CPU; float4 where per_row can. */
template <typename T>
__device__ __forceinline__ void add_bias(T* out, const T* in, const float* bias, int N, int C, long long S) {
    per_row(out, in, (const T*) nullptr, (long long) N * C * S, S, [=](auto x, auto, auto row) {
        using R = decltype(row);
        return x + bias[row % (R) C];
    });
}

/**
 * out[n,c,s] = (in[n,c,s] + bias[c]) + other[n,c,s]: d4j_add_bias then d4j_axpby(1, 1) in one pass, with the same
 * rounding (a convolution's bias and a residual add). When otherBias is not null, other's own per-channel bias is
 * added first: (in + bias[c]) + (other + otherBias[c]), as d4j_add_bias on other followed by the above (a ResBlock's
 * 1x1 skip convolution). out may alias in, not other.
 */
template <typename T>
__device__ __forceinline__ void add_bias_add(T* out, const T* in, const float* bias, const T* other,
                                             const float* otherBias, int N, int C, long long S) {
    per_row(out, in, other, (long long) N * C * S, S, [=](auto x, auto o, auto row) {
        using R = decltype(row);
        R ch = row % (R) C;
        return (x + bias[ch]) + (otherBias != nullptr ? o + otherBias[ch] : o);
    });
}

/**
 * out[n,c,s] = (in[n,c,s] + bias[c]) + v[n,c]: d4j_add_bias then d4j_add_per_sample_channel in one pass, with the
 * same rounding (a convolution's bias and a time embedding).
 */
template <typename T>
__device__ __forceinline__ void add_bias_per_sample_channel(T* out, const T* in, const float* bias, const float* v,
                                                            int N, int C, long long S) {
    per_row(out, in, (const T*) nullptr, (long long) N * C * S, S, [=](auto x, auto, auto row) {
        using R = decltype(row);
        return (x + bias[row % (R) C]) + v[row];
    });
}

/** out[n,c,s] = in[n,c,s] + v[n,c] (v is [N, C]; NC = N*C). */
template <typename T>
__device__ __forceinline__ void add_per_sample_channel(T* out, const T* in, const float* v, long long NC, long long S) {
    per_row(out, in, (const T*) nullptr, NC * S, S, [=](auto x, auto, auto row) { return x + v[row]; });
}

/** out[k,s] = in[k,s] * (1 + scale[k]) + shift[k], k in [0, NC) (the CPU rounds 1 + scale to float first). */
template <typename T>
__device__ __forceinline__ void scale_shift(T* out, const T* in, const float* scale, const float* shift, long long NC,
                                            long long S) {
    long long total = NC * S;
    D4J_GRID_LOOP(i, total) {
        long long k = i / S;
        float a = 1.0f + scale[k];
        d4j::store(out, i, d4j::load(in, i) * a + shift[k]);
    }
}

}  // namespace d4j_broadcast

namespace B = d4j_broadcast;
using d4j::bf16;

extern "C" __global__ void d4j_add_bias(float* out, const float* in, const float* bias, int N, int C, long long S) { B::add_bias(out, in, bias, N, C, S); }
extern "C" __global__ void d4j_add_bias_bf16(bf16* out, const bf16* in, const float* bias, int N, int C, long long S) { B::add_bias(out, in, bias, N, C, S); }
extern "C" __global__ void d4j_add_bias_add(float* out, const float* in, const float* bias, const float* other, const float* otherBias, int N, int C, long long S) { B::add_bias_add(out, in, bias, other, otherBias, N, C, S); }
extern "C" __global__ void d4j_add_bias_add_bf16(bf16* out, const bf16* in, const float* bias, const bf16* other, const float* otherBias, int N, int C, long long S) { B::add_bias_add(out, in, bias, other, otherBias, N, C, S); }
extern "C" __global__ void d4j_add_bias_per_sample_channel(float* out, const float* in, const float* bias, const float* v, int N, int C, long long S) { B::add_bias_per_sample_channel(out, in, bias, v, N, C, S); }
extern "C" __global__ void d4j_add_bias_per_sample_channel_bf16(bf16* out, const bf16* in, const float* bias, const float* v, int N, int C, long long S) { B::add_bias_per_sample_channel(out, in, bias, v, N, C, S); }
extern "C" __global__ void d4j_add_per_sample_channel(float* out, const float* in, const float* v, long long NC, long long S) { B::add_per_sample_channel(out, in, v, NC, S); }
extern "C" __global__ void d4j_add_per_sample_channel_bf16(bf16* out, const bf16* in, const float* v, long long NC, long long S) { B::add_per_sample_channel(out, in, v, NC, S); }
extern "C" __global__ void d4j_scale_shift(float* out, const float* in, const float* scale, const float* shift, long long NC, long long S) { B::scale_shift(out, in, scale, shift, NC, S); }
extern "C" __global__ void d4j_scale_shift_bf16(bf16* out, const bf16* in, const float* scale, const float* shift, long long NC, long long S) { B::scale_shift(out, in, scale, shift, NC, S); }

/**
 * partial[k] = sum over s of in[k, s], in double (ASSIGNS), k in [0, NC): the first pass of a per-channel
 * reduction over [N, C, S] (k = n C + c), d4j_channel_sums the second.
 *
 * Planes of at most 8 elements (a Linear layer's bias: S = 1) take one thread each; larger ones one warp each, with
 * no block-wide barrier (the earlier one-block-per-plane form spent most of its time in block reductions of 16 to
 * 1024 elements). Either way the order of the additions depends only on S and on the plane's alignment, so the
 * result is deterministic. Launch: blockDim.x a multiple of 32; any grid (grid-stride over threads or warps); the
 * launcher uses 256 threads and ceil(NC / 256) blocks for S <= 8, ceil(NC / 8) otherwise.
 */
namespace d4j_broadcast {
template <typename T>
__device__ __forceinline__ void plane_sums(double* partial, const T* in, long long NC, long long S) {
    if (S <= 8) {
        D4J_GRID_LOOP(k, NC) {
            const T* plane = in + k * S;
            double acc = 0.0;
            for (long long i = 0; i < S; i++) acc += (double) d4j::load(plane, i);
            partial[k] = acc;
        }
        return;
    }
    int lane = threadIdx.x & 31;
    long long warps = d4j::gstride() >> 5;
    for (long long k = d4j::gtid() >> 5; k < NC; k += warps) {   // uniform within a warp
        const T* plane = in + k * S;
        double share = 0.0;
        if constexpr (d4j::is_f32<T>::value) {
            bool vec4 = (S & 3) == 0 && ((unsigned long long) plane & 15) == 0;
            share = d4j::strided_sum(plane, S, lane, 32, vec4);
        } else {
            for (long long i = lane; i < S; i += 32) share += (double) d4j::load(plane, i);
        }
        double acc = d4j::warp_sum(share);
        if (lane == 0) partial[k] = acc;
    }
}
}  // namespace d4j_broadcast

extern "C" __global__ void d4j_plane_sums(double* partial, const float* in, long long NC, long long S) { B::plane_sums(partial, in, NC, S); }
extern "C" __global__ void d4j_plane_sums_bf16(double* partial, const bf16* in, long long NC, long long S) { B::plane_sums(partial, in, NC, S); }

/**
 * The second pass: dstA[c] += (float) (sum over n of partials[n C + c]) and, when dstB is not null,
 * dstB[c] += (float) (sum over n of partials[N C + n C + c]) (ACCUMULATE, as parameter gradients do). Bias gradients:
 * d4j_plane_sums then this; GroupNorm's: d4j_group_norm_backward then this.
 *
 * Launch: gridDim.x = ceil(C / 32), blockDim.x = 32 * L with L <= 32 (the launcher uses 1024). A block owns 32
 * channels (lane = threadIdx.x % 32, so a warp reads 32 consecutive channels of one sample); slice j =
 * threadIdx.x / 32 sums n = j, j + L, j + 2L, ... in double, and the L slice sums are then added in order j = 0 .. L-1.
 * The result depends only on the data and L, so it is deterministic. (One thread per channel walking all N samples
 * serially, as this kernel did before, took 4.6 ms of a 60 ms ddpm-cifar10 training step on an H200.)
 */
extern "C" __global__ void d4j_channel_sums(float* dstA, float* dstB, const double* partials, int N, int C) {
    __shared__ double sumA[32][32];
    __shared__ double sumB[32][32];
    int lane = threadIdx.x & 31, slice = threadIdx.x >> 5, slices = blockDim.x >> 5;
    int c = blockIdx.x * 32 + lane;
    long long nc = (long long) N * C;
    double a = 0.0, b = 0.0;
    if (c < C) {
        for (int n = slice; n < N; n += slices) {
            a += partials[(long long) n * C + c];
            if (dstB != nullptr) b += partials[nc + (long long) n * C + c];
        }
    }
    sumA[slice][lane] = a;
    sumB[slice][lane] = b;
    __syncthreads();
    if (slice == 0 && c < C) {
        double ta = 0.0, tb = 0.0;
        for (int j = 0; j < slices; j++) {
            ta += sumA[j][lane];
            tb += sumB[j][lane];
        }
        dstA[c] += (float) ta;
        if (dstB != nullptr) dstB[c] += (float) tb;
    }
}




/**
 * dv[k] = sum over s of dOut[k, s] for k in [0, NC) (ASSIGNS; dOut of element type T, dv float). Launch:
 * gridDim.x = NC.
 */
template <typename T>
__device__ __forceinline__ void per_sample_channel_sum(float* dv, const T* dOut, long long NC, long long S) {
    __shared__ double scratch[32];
    long long k = blockIdx.x;
    if (k >= NC) return;
    const T* plane = dOut + k * S;
    double acc = 0.0;
    for (long long i = threadIdx.x; i < S; i += blockDim.x) acc += (double) d4j::load(plane, i);
    acc = d4j::block_sum(acc, scratch);
    if (threadIdx.x == 0) dv[k] = (float) acc;
}

extern "C" __global__ void d4j_per_sample_channel_sum(float* dv, const float* dOut, long long NC, long long S) { per_sample_channel_sum(dv, dOut, NC, S); }
extern "C" __global__ void d4j_per_sample_channel_sum_bf16(float* dv, const d4j::bf16* dOut, long long NC, long long S) { per_sample_channel_sum(dv, dOut, NC, S); }


/**
 * Backward of d4j_scale_shift (all ASSIGN): dIn = dOut * (1 + scale[k]); dScale[k] = sum dOut * in;
 * dShift[k] = sum dOut. Products are float, sums double, as on the CPU. dIn may not alias dOut's other uses
 * but may alias dOut itself (each element is read before it is written by the same thread).
 * Launch: gridDim.x = NC.
 */
template <typename T>
__device__ __forceinline__ void scale_shift_backward(T* dIn, float* dScale, float* dShift, const T* dOut, const T* in,
                                                     const float* scale, long long NC, long long S) {
    __shared__ double scratch[32];
    long long k = blockIdx.x;
    if (k >= NC) return;
    float a = 1.0f + scale[k];
    long long base = k * S;
    double accS = 0.0, accB = 0.0;
    for (long long i = threadIdx.x; i < S; i += blockDim.x) {
        float g = d4j::load(dOut, base + i);
        accS += (double) (g * d4j::load(in, base + i));
        accB += (double) g;
        d4j::store(dIn, base + i, g * a);
    }
    accS = d4j::block_sum(accS, scratch);
    accB = d4j::block_sum(accB, scratch);
    if (threadIdx.x == 0) {
        dScale[k] = (float) accS;
        dShift[k] = (float) accB;
    }
}

extern "C" __global__ void d4j_scale_shift_backward(float* dIn, float* dScale, float* dShift, const float* dOut, const float* in, const float* scale, long long NC, long long S) { scale_shift_backward(dIn, dScale, dShift, dOut, in, scale, NC, S); }
extern "C" __global__ void d4j_scale_shift_backward_bf16(d4j::bf16* dIn, float* dScale, float* dShift, const d4j::bf16* dOut, const d4j::bf16* in, const float* scale, long long NC, long long S) { scale_shift_backward(dIn, dScale, dShift, dOut, in, scale, NC, S); }
