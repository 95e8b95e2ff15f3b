// GroupNorm over [N, C, S] with G groups (S = spatial size): Backend.groupNorm / groupNormBackward.
// CPU twins: CpuBackend.groupNorm / groupNormBackward, whose mixed float/double expressions are copied term by
// term (which products are float, which sums double), so the GPU differs from the CPU only by the order of the
// double sums.
//
// Optional fused SiLU (fuseSilu = 1): the forward writes silu(groupnorm(x)) and the backward first turns dy into
// the gradient at the GroupNorm output, recomputing that output from x, mean, rstd, gamma, beta. The Backend
// interface itself uses fuseSilu = 0; the fused form saves one activation round trip in ResBlocks.
//
// Launch (all three kernels): blockDim.x a multiple of 32 (256 suggested);
//   d4j_group_norm_forward / d4j_group_norm_backward_input: gridDim.x = N * G (one block per sample and group)
//   d4j_group_norm_param_partials: gridDim.x = N * C (one block per sample and channel), then d4j_channel_sums
// Group sizes (C / G) * S must be below 2^32 (the launcher checks): the channel of an element within its group is
// found with 32-bit division.
#include "common.cuh"

namespace {

__device__ __forceinline__ float silu_f(float v) { return v / (1.0f + expf(-v)); }

/** d silu(u) / du, as CpuBackend.siluBackward: s * (1 + u (1 - s)). */
__device__ __forceinline__ float silu_grad(float u) {
    float s = 1.0f / (1.0f + expf(-u));
    return s * (1.0f + u * (1.0f - s));
}

}  // namespace

/**
 * y = (x - mean) * rstd * gamma[c] + beta[c] per (sample, group); mean and rstd ([N * G]) are written for the
 * backward pass. As on the CPU: mean and variance in double (two passes), rstd = (float) (1 / sqrt(var + eps)),
 * then per channel a = gamma * rstd, b = beta - mean * a (float) and y = x * a + b.
 */
extern "C" __global__ void d4j_group_norm_forward(float* y, float* mean, float* rstd, const float* x,
                                                  const float* gamma, const float* beta, int N, int C, long long S,
                                                  int G, float eps, int fuseSilu) {
    __shared__ double scratch[32];
    int ng = blockIdx.x;
    if (ng >= N * G) return;
    int cpg = C / G;
    long long gsize = (long long) cpg * S;
    long long base = (long long) ng * gsize;
    const float* xg = x + base;

    double s = 0.0;
    for (long long i = threadIdx.x; i < gsize; i += blockDim.x) s += (double) xg[i];
    double mu = d4j::block_sum(s, scratch) / (double) gsize;
    double v = 0.0;
    for (long long i = threadIdx.x; i < gsize; i += blockDim.x) {
        double d = (double) xg[i] - mu;
        v += d * d;
    }
    v = d4j::block_sum(v, scratch);
    float r = (float) (1.0 / sqrt(v / (double) gsize + (double) eps));
    float m = (float) mu;
    if (threadIdx.x == 0) {
        mean[ng] = m;
        rstd[ng] = r;
    }
    int g = ng % G;
    unsigned su = (unsigned) S;
    float* yg = y + base;
    for (long long i = threadIdx.x; i < gsize; i += blockDim.x) {
        int ch = g * cpg + (int) ((unsigned) i / su);
        float a = gamma[ch] * r;
        float b = beta[ch] - m * a;
        float out = xg[i] * a + b;
        yg[i] = fuseSilu ? silu_f(out) : out;
    }
}

/**
 * Per (sample, channel) partial sums of the parameter gradients, in double (ASSIGN):
 *   partials[n C + c]       = sum over s of dy * (x - mean) * rstd   (the terms of dGamma[c])
 *   partials[N C + n C + c] = sum over s of dy                       (the terms of dBeta[c])
 * With fuseSilu, dy is first multiplied by silu'(groupnorm output). d4j_channel_sums (broadcast.cu) then adds
 * them up over n into dGamma and dBeta (ACCUMULATE): one block per (n, c) plane instead of one per channel, so
 * that a layer of 128 channels still fills the GPU. partials holds 2 N C doubles.
 */
extern "C" __global__ void d4j_group_norm_param_partials(double* partials, const float* dy, const float* x,
                                                         const float* mean, const float* rstd, const float* gamma,
                                                         const float* beta, int N, int C, long long S, int G,
                                                         int fuseSilu) {
    __shared__ double scratch[32];
    long long nc = blockIdx.x;
    if (nc >= (long long) N * C) return;
    int n = (int) (nc / C), ch = (int) (nc - (long long) n * C);
    int cpg = C / G, g = ch / cpg;
    float ga = gamma[ch], be = fuseSilu ? beta[ch] : 0.0f;
    float m = mean[n * G + g], r = rstd[n * G + g];
    long long base = nc * S;
    double accG = 0.0, accB = 0.0;
    for (long long i = threadIdx.x; i < S; i += blockDim.x) {
        float xv = x[base + i];
        float d = dy[base + i];
        if (fuseSilu) {
            float a = ga * r;
            d = d * silu_grad(xv * a + (be - m * a));
        }
        accG += (double) (d * (xv - m) * r);
        accB += (double) d;
    }
    accG = d4j::block_sum(accG, scratch);
    accB = d4j::block_sum(accB, scratch);
    if (threadIdx.x == 0) {
        partials[nc] = accG;
        partials[(long long) N * C + nc] = accB;
    }
}

/**
 * dx = rstd * (gamma dy - mean(gamma dy) - xhat * mean(gamma dy xhat)) per (sample, group) (ASSIGNS), with
 * xhat = (x - mean) * rstd; CPU: s1 += (double) (gamma * dy), s2 += s1-term * (x - mean) * rstd in double,
 * a1 = (float) (s1 / gsize), a2 = (float) (s2 / gsize). dx may alias dy (each element is re-read before the
 * same thread overwrites it, after the block-wide sums).
 */
extern "C" __global__ void d4j_group_norm_backward_input(float* dx, const float* dy, const float* x,
                                                         const float* mean, const float* rstd, const float* gamma,
                                                         const float* beta, int N, int C, long long S, int G,
                                                         int fuseSilu) {
    __shared__ double scratch[32];
    int ng = blockIdx.x;
    if (ng >= N * G) return;
    int gi = ng % G, cpg = C / G;
    long long gsize = (long long) cpg * S;
    long long base = (long long) ng * gsize;
    float m = mean[ng], r = rstd[ng];
    unsigned su = (unsigned) S;

    double s1 = 0.0, s2 = 0.0;
    for (long long i = threadIdx.x; i < gsize; i += blockDim.x) {
        int ch = gi * cpg + (int) ((unsigned) i / su);
        float gm = gamma[ch];
        float xv = x[base + i];
        float d = dy[base + i];
        if (fuseSilu) {
            float a = gm * r;
            d = d * silu_grad(xv * a + (beta[ch] - m * a));
        }
        double gdy = (double) (gm * d);
        s1 += gdy;
        s2 += gdy * (double) (xv - m) * (double) r;
    }
    s1 = d4j::block_sum(s1, scratch);
    s2 = d4j::block_sum(s2, scratch);
    float a1 = (float) (s1 / (double) gsize), a2 = (float) (s2 / (double) gsize);
    for (long long i = threadIdx.x; i < gsize; i += blockDim.x) {
        int ch = gi * cpg + (int) ((unsigned) i / su);
        float gm = gamma[ch];
        float xv = x[base + i];
        float d = dy[base + i];
        if (fuseSilu) {
            float a = gm * r;
            d = d * silu_grad(xv * a + (beta[ch] - m * a));
        }
        float xhat = (xv - m) * r;
        dx[base + i] = r * (gm * d - a1 - xhat * a2);
    }
}
