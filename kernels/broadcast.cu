// Per-channel broadcasts and their reductions over [N, C, S] tensors (S = product of the spatial dims, 1 for
// [N, C]): Backend.addBias / biasGrad / addPerSampleChannel / perSampleChannelSum / scaleShift /
// scaleShiftBackward. CPU twins: the CpuBackend methods of the same names.
//
// Broadcast kernels are 1-D grid-stride over N*C*S. Reduction kernels use one block per output value with
// blockDim.x a multiple of 32, accumulate in double in the CPU's per-element expression, and are deterministic.
#include "common.cuh"

/** out[n,c,s] = in[n,c,s] + bias[c]. */
extern "C" __global__ void d4j_add_bias(float* out, const float* in, const float* bias, int N, int C, long long S) {
    long long total = (long long) N * C * S;
    D4J_GRID_LOOP(i, total) out[i] = in[i] + bias[(int) ((i / S) % C)];
}

/**
 * dBias[c] += sum over n, s of dOut[n,c,s] (ACCUMULATES, as parameter gradients do).
 * Launch: gridDim.x = C.
 */
extern "C" __global__ void d4j_bias_grad(float* dBias, const float* dOut, int N, int C, long long S) {
    __shared__ double scratch[32];
    int c = blockIdx.x;
    if (c >= C) return;
    double acc = 0.0;
    for (int n = 0; n < N; n++) {
        const float* plane = dOut + ((long long) n * C + c) * S;
        for (long long i = threadIdx.x; i < S; i += blockDim.x) acc += (double) plane[i];
    }
    acc = d4j::block_sum(acc, scratch);
    if (threadIdx.x == 0) dBias[c] += (float) acc;
}

/** out[n,c,s] = in[n,c,s] + v[n,c] (v is [N, C]; NC = N*C). */
extern "C" __global__ void d4j_add_per_sample_channel(float* out, const float* in, const float* v, long long NC,
                                                      long long S) {
    long long total = NC * S;
    D4J_GRID_LOOP(i, total) out[i] = in[i] + v[i / S];
}

/**
 * dv[k] = sum over s of dOut[k, s] for k in [0, NC) (ASSIGNS). Launch: gridDim.x = NC.
 */
extern "C" __global__ void d4j_per_sample_channel_sum(float* dv, const float* dOut, long long NC, long long S) {
    __shared__ double scratch[32];
    long long k = blockIdx.x;
    if (k >= NC) return;
    const float* plane = dOut + k * S;
    double acc = 0.0;
    for (long long i = threadIdx.x; i < S; i += blockDim.x) acc += (double) plane[i];
    acc = d4j::block_sum(acc, scratch);
    if (threadIdx.x == 0) dv[k] = (float) acc;
}

/** out[k,s] = in[k,s] * (1 + scale[k]) + shift[k], k in [0, NC) (the CPU rounds 1 + scale to float first). */
extern "C" __global__ void d4j_scale_shift(float* out, const float* in, const float* scale, const float* shift,
                                           long long NC, long long S) {
    long long total = NC * S;
    D4J_GRID_LOOP(i, total) {
        long long k = i / S;
        float a = 1.0f + scale[k];
        out[i] = in[i] * a + shift[k];
    }
}

/**
 * Backward of d4j_scale_shift (all ASSIGN): dIn = dOut * (1 + scale[k]); dScale[k] = sum dOut * in;
 * dShift[k] = sum dOut. Products are float, sums double, as on the CPU. dIn may not alias dOut's other uses
 * but may alias dOut itself (each element is read before it is written by the same thread).
 * Launch: gridDim.x = NC.
 */
extern "C" __global__ void d4j_scale_shift_backward(float* dIn, float* dScale, float* dShift, const float* dOut,
                                                    const float* in, const float* scale, long long NC,
                                                    long long S) {
    __shared__ double scratch[32];
    long long k = blockIdx.x;
    if (k >= NC) return;
    float a = 1.0f + scale[k];
    long long base = k * S;
    double accS = 0.0, accB = 0.0;
    for (long long i = threadIdx.x; i < S; i += blockDim.x) {
        float g = dOut[base + i];
        accS += (double) (g * in[base + i]);
        accB += (double) g;
        dIn[base + i] = g * a;
    }
    accS = d4j::block_sum(accS, scratch);
    accB = d4j::block_sum(accB, scratch);
    if (threadIdx.x == 0) {
        dScale[k] = (float) accS;
        dShift[k] = (float) accB;
    }
}
