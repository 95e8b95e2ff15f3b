// GroupNorm over [N, C, S] with G groups (S = spatial size): Backend.groupNorm / groupNormBackward.
// CPU twins: CpuBackend.groupNorm / groupNormBackward, whose mixed float/double expressions are copied term by
// term (which products are float, which sums double), so the GPU differs from the CPU only by the order of the
// double sums.
//
// Optional fused SiLU (fuseSilu = 1): the forward writes silu(groupnorm(x)) and the backward first turns dy into
// the gradient at the GroupNorm output, recomputing that output from x, mean, rstd, gamma, beta. The Backend
// interface itself uses fuseSilu = 0; the fused form saves one activation round trip in ResBlocks.
//
// Launch (both kernels): gridDim.x = N * G (one block per sample and group), blockDim.x a multiple of 32 (256
// suggested); d4j_group_norm_backward is followed by d4j_channel_sums for the parameter gradients.
// Group sizes (C / G) * S must be below 2^32 (the launcher checks): the channel of an element within its group is
// found with 32-bit division.
//
// Every kernel is a template over the activations' element type T (x, y, dy, dx and the addend; float:
// d4j_NAME, bf16: d4j_NAME_bf16), computed in float and rounded once on the store; mean, rstd, gamma, beta, the input
// offsets and the parameter gradients are float either way. The float4 paths move four elements at a time in both
// (d4j::load4 / store4: 16 or 8 bytes).
#include "common.cuh"
#include "philox.cuh"

namespace {

__device__ __forceinline__ float silu_f(float v) { return v / (1.0f + expf(-v)); }

/** d silu(u) / du, as CpuBackend.siluBackward: s * (1 + u (1 - s)). */
__device__ __forceinline__ float silu_grad(float u) {
    float s = 1.0f / (1.0f + expf(-u));
    return s * (1.0f + u * (1.0f - s));
}

/** One output of the forward pass: x a + b, then SiLU when fused (a = gamma rstd, b = beta - mean a per channel). */
__device__ __forceinline__ float gn_out(float xv, float a, float b, int fuseSilu) {
    float out = xv * a + b;
    return fuseSilu ? silu_f(out) : out;
}

/** Whether a group-norm kernel may move float4s: rows divide by 4 and every pointer is 16-byte aligned. */
__device__ __forceinline__ bool gn_vec4(long long S, const void* a, const void* b, const void* c, const void* d) {
    return (S & 3) == 0 && (((unsigned long long) a | (unsigned long long) b | (unsigned long long) c |
                             (unsigned long long) d) & 15) == 0;
}

/** The backward pass's first-pass terms of one element (see d4j_group_norm_backward). */
__device__ __forceinline__ void gn_back_terms(float xv, float d, float gm, float a, float b0, float m, float r,
                                              int fuseSilu, double& s1, double& s2, double& accG, double& accB) {
    if (fuseSilu) d = d * silu_grad(xv * a + b0);
    double gdy = (double) (gm * d);
    s1 += gdy;
    s2 += gdy * (double) (xv - m) * (double) r;
    accG += (double) (d * (xv - m) * r);
    accB += (double) d;
}

/** One dx of the backward pass's second pass, before the addend (see d4j_group_norm_backward). */
__device__ __forceinline__ float gn_back_dx(float xv, float d, float gm, float be, float m, float r, float a1,
                                            float a2, int fuseSilu) {
    if (fuseSilu) {
        float a = gm * r;
        d = d * silu_grad(xv * a + (be - m * a));
    }
    float xhat = (xv - m) * r;
    return r * (gm * d - a1 - xhat * a2);
}

/**
 * The GroupNorm input of one (sample, group). OFF = false: x itself. OFF = true: (x + xBias[c]) + xAdd[n C + c], a
 * ResBlock's first convolution before its bias and its time embedding (Backend.groupNormSiluDropoutOffset), rounded
 * as d4j_add_bias_per_sample_channel rounds it, so the tensor that kernel would write is never stored. bias and add
 * point at the group's first channel; su = S, sq = S / 4 find an element's channel.
 */
template <bool OFF, typename T>
struct GnIn {
    const T* x;
    const float* bias;
    const float* add;
    unsigned su, sq;

    __device__ __forceinline__ float at(long long i) const {
        float v = d4j::load(x, i);
        if (OFF) {
            int cl = (int) ((unsigned) i / su);
            v = (v + bias[cl]) + add[cl];
        }
        return v;
    }

    __device__ __forceinline__ float4 at4(long long j) const {
        float4 v = d4j::load4(x, j);
        if (OFF) {
            int cl = (int) ((unsigned) j / sq);
            float b = bias[cl], e = add[cl];
            v = make_float4((v.x + b) + e, (v.y + b) + e, (v.z + b) + e, (v.w + b) + e);
        }
        return v;
    }

    /** f(v) for each of this thread's values of the group, in d4j::strided_each's order (blockDim.x apart). */
    template <typename F>
    __device__ __forceinline__ void each(long long gsize, bool v4, F f) const {
        d4j::strided_each(gsize, threadIdx.x, blockDim.x, v4, [&](long long j) { return at4(j); },
                          [&](long long i) { return at(i); }, f);
    }
};

}  // namespace

/**
 * y = (x - mean) * rstd * gamma[c] + beta[c] per (sample, group); mean and rstd ([N * G]) are written for the
 * backward pass. Mean and variance in double from one read of the group (sums shifted by the group's first element;
 * equal to the CPU's two passes, the mean then the squared deviations, up to double rounding); rstd = (float) (1 / sqrt(var + eps)), then per channel a = gamma * rstd,
 * b = beta - mean * a (float) and y = x * a + b.
 *
 * With p > 0, dropout of the (SiLU'd) output in the same pass (Backend.groupNormSiluDropout): element e of the
 * tensor becomes out * keep when Philox.uniform(seed, offset + e) >= p, else 0, exactly what d4j_dropout would write
 * from the stored output (keep = 1f / (1f - p), computed by the caller as for d4j_dropout).
 *
 * gn_forward<true> (d4j_group_norm_forward_offset) normalizes (x + xBias[c]) + xAdd[n C + c] instead (GnIn).
 */
template <bool OFF, typename T>
__device__ __forceinline__ void gn_forward(T* y, float* mean, float* rstd, const T* x, const float* xBias,
                                           const float* xAdd, const float* gamma, const float* beta, int N, int C,
                                           long long S, int G, float eps, int fuseSilu, float p,
                                           float keep, unsigned long long seed, unsigned long long offset,
                                           double* scratch) {
    int ng = blockIdx.x;
    int cpg = C / G;
    long long gsize = (long long) cpg * S;
    long long base = (long long) ng * gsize;
    const T* xg = x + base;
    int c0 = (ng % G) * cpg;
    GnIn<OFF, T> in{xg, OFF ? xBias + c0 : nullptr, OFF ? xAdd + (long long) (ng / G) * C + c0 : nullptr, (unsigned) S,
                 (unsigned) S >> 2};
    T* yg = y + base;
    // float4 loads and stores where rows divide by 4 and both tensors are 16-byte aligned (a group starts at a
    // multiple of S, so its start is too); the double sums then run in float4 lane order within each thread
    bool v4 = gn_vec4(S, x, y, x, y);
    long long q = gsize >> 2;

    double mu, v;
    // one read: sums of d = x - k and d^2, shifted by the group's first element k (a value of the group, so
    // within its range: no cancellation worth the name, unlike plain sums of x and x^2), in double; then
    // mean = k + sum d / n and the squared deviations sum d^2 - (sum d)^2 / n. Equal to the two-pass result up
    // to double rounding.
    double k = (double) in.at(0), sd = 0.0, sd2 = 0.0;
    in.each(gsize, v4, [&](float t) {
        double d = (double) t - k;
        sd += d;
        sd2 += d * d;
    });
    sd = d4j::block_sum(sd, scratch);
    sd2 = d4j::block_sum(sd2, scratch);
    mu = k + sd / (double) gsize;
    v = sd2 - sd * (sd / (double) gsize);
    if (v < 0.0) v = 0.0;
    float r = (float) (1.0 / sqrt(v / (double) gsize + (double) eps));
    float m = (float) mu;
    if (threadIdx.x == 0) {
        mean[ng] = m;
        rstd[ng] = r;
    }
    int g = ng % G;
    unsigned su = (unsigned) S, sq = su >> 2;
    unsigned long long g0 = offset + (unsigned long long) base;   // dropout: global index of the group's start
    if (v4 && (p <= 0.0f || (g0 & 3) == 0)) {
        // four elements of one channel per turn; with dropout, they are exactly one Philox block
        for (long long j = threadIdx.x; j < q; j += blockDim.x) {
            int ch = g * cpg + (int) ((unsigned) j / sq);
            float a = gamma[ch] * r;
            float b = beta[ch] - m * a;
            float4 t = in.at4(j);
            float4 o = make_float4(gn_out(t.x, a, b, fuseSilu), gn_out(t.y, a, b, fuseSilu),
                                   gn_out(t.z, a, b, fuseSilu), gn_out(t.w, a, b, fuseSilu));
            if (p > 0.0f) {
                float4 u = d4j::philox_uniform4(seed, (g0 >> 2) + (unsigned long long) j);
                o = make_float4(u.x >= p ? o.x * keep : 0.0f, u.y >= p ? o.y * keep : 0.0f,
                                u.z >= p ? o.z * keep : 0.0f, u.w >= p ? o.w * keep : 0.0f);
            }
            d4j::store4(yg, j, o);
        }
        return;
    }
    if (p <= 0.0f) {
        for (long long i = threadIdx.x; i < gsize; i += blockDim.x) {
            int ch = g * cpg + (int) ((unsigned) i / su);
            float a = gamma[ch] * r;
            float b = beta[ch] - m * a;
            d4j::store(yg, i, gn_out(in.at(i), a, b, fuseSilu));
        }
        return;
    }
    // with dropout: one Philox block (four consecutive global indices offset + element) per thread and turn, as
    // d4j_dropout draws them, and the same out * keep
    long long blocks = d4j::block_count(gsize, g0);
    for (long long k = threadIdx.x; k < blocks; k += blockDim.x) {
        unsigned long long kb = (g0 >> 2) + (unsigned long long) k;
        float4 u = d4j::philox_uniform4(seed, kb);
#pragma unroll
        for (int l = 0; l < 4; l++) {
            unsigned long long i = (kb << 2) + (unsigned long long) l - g0;   // wraps (skipped) before the group
            if (i >= (unsigned long long) gsize) continue;
            int ch = g * cpg + (int) ((unsigned) i / su);
            float a = gamma[ch] * r;
            float b = beta[ch] - m * a;
            float out = gn_out(in.at(i), a, b, fuseSilu);
            d4j::store(yg, i, d4j::lane(u, l) >= p ? out * keep : 0.0f);
        }
    }
}

template <typename T>
__device__ __forceinline__ void gn_forward_plain(T* y, float* mean, float* rstd, const T* x, const float* gamma,
                                                 const float* beta, int N, int C, long long S, int G, float eps,
                                                 int fuseSilu, float p, float keep, unsigned long long seed,
                                                 unsigned long long offset) {
    __shared__ double scratch[32];
    if ((int) blockIdx.x >= N * G) return;
    gn_forward<false>(y, mean, rstd, x, (const float*) nullptr, (const float*) nullptr, gamma, beta, N, C, S, G, eps,
                      fuseSilu, p, keep, seed, offset, scratch);
}

extern "C" __global__ void d4j_group_norm_forward(float* y, float* mean, float* rstd, const float* x,
                                                  const float* gamma, const float* beta, int N, int C, long long S,
                                                  int G, float eps, int fuseSilu, float p, float keep,
                                                  unsigned long long seed, unsigned long long offset) {
    gn_forward_plain(y, mean, rstd, x, gamma, beta, N, C, S, G, eps, fuseSilu, p, keep, seed, offset);
}

extern "C" __global__ void d4j_group_norm_forward_bf16(d4j::bf16* y, float* mean, float* rstd, const d4j::bf16* x,
                                                       const float* gamma, const float* beta, int N, int C,
                                                       long long S, int G, float eps, int fuseSilu, float p,
                                                       float keep, unsigned long long seed, unsigned long long offset) {
    gn_forward_plain(y, mean, rstd, x, gamma, beta, N, C, S, G, eps, fuseSilu, p, keep, seed, offset);
}

/**
 * d4j_group_norm_forward of the input (x + xBias[c]) + xAdd[n C + c] (a ResBlock's first convolution before its bias
 * and time embedding), which is read as needed and never stored: the pass of d4j_add_bias_per_sample_channel saved.
 * A kernel of its own so that the plain one keeps its registers.
 */
template <typename T>
__device__ __forceinline__ void gn_forward_offset(T* y, float* mean, float* rstd, const T* x, const float* xBias,
                                                  const float* xAdd, const float* gamma, const float* beta, int N,
                                                  int C, long long S, int G, float eps, int fuseSilu, float p,
                                                  float keep, unsigned long long seed, unsigned long long offset) {
    __shared__ double scratch[32];
    if ((int) blockIdx.x >= N * G) return;
    gn_forward<true>(y, mean, rstd, x, xBias, xAdd, gamma, beta, N, C, S, G, eps, fuseSilu, p, keep, seed,
                     offset, scratch);
}

extern "C" __global__ void d4j_group_norm_forward_offset(float* y, float* mean, float* rstd, const float* x,
                                                         const float* xBias, const float* xAdd, const float* gamma,
                                                         const float* beta, int N, int C, long long S, int G,
                                                         float eps, int fuseSilu, float p, float keep,
                                                         unsigned long long seed, unsigned long long offset) {
    gn_forward_offset(y, mean, rstd, x, xBias, xAdd, gamma, beta, N, C, S, G, eps, fuseSilu, p, keep, seed, offset);
}

extern "C" __global__ void d4j_group_norm_forward_offset_bf16(d4j::bf16* y, float* mean, float* rstd,
                                                              const d4j::bf16* x, const float* xBias,
                                                              const float* xAdd, const float* gamma,
                                                              const float* beta, int N, int C, long long S, int G,
                                                              float eps, int fuseSilu, float p, float keep,
                                                              unsigned long long seed, unsigned long long offset) {
    gn_forward_offset(y, mean, rstd, x, xBias, xAdd, gamma, beta, N, C, S, G, eps, fuseSilu, p, keep, seed, offset);
}

/**
 * The whole GroupNorm backward of one (sample, group) per block, in two passes over the group's elements:
 *
 * Pass 1 reads dy and x once and forms, in double,
 *   - the parameter gradients' partial sums per (sample, channel) (ASSIGN; d4j_channel_sums then adds them up over n
 *     into dGamma and dBeta):
 *       partials[n C + c]       = sum over s of dy * (x - mean) * rstd   (the terms of dGamma[c])
 *       partials[N C + n C + c] = sum over s of dy                       (the terms of dBeta[c])
 *   - the group sums of the input gradient, as on the CPU: s1 = sum (double) (gamma dy),
 *     s2 = sum (double) (gamma dy) * (x - mean) * rstd.
 * Pass 2 writes dx = rstd * (gamma dy - a1 - xhat * a2) with a1 = (float) (s1 / gsize), a2 = (float) (s2 / gsize),
 * xhat = (x - mean) * rstd (ASSIGNS), plus addend[i] when addend is not null (a residual branch's gradient: the
 * same rounding as a separate d4j_axpby x + y; Backend.groupNormSiluBackwardAdd). dx may alias dy (not addend): pass 2
 * re-reads each element in the thread that then overwrites it, after the block-wide sums that end pass 1.
 *
 * With fuseSilu, dy is first multiplied by silu'(groupnorm output), recomputed from x, mean, rstd, gamma, beta.
 *
 * Pass 1 walks the group channel by channel so that each channel's sums stay within a warp: with W = blockDim.x / 32
 * warps and cpg = C / G channels per group, a team of wpc = max(1, W / cpg) warps shares a channel (its threads
 * striding over the channel's S elements), and the W / wpc teams take the channels in turn. A channel's sums are warp
 * sums, added over its team's warps in warp order. (Before, a separate kernel with one block per (sample, channel)
 * read dy and x a second time for the parameter gradients: 3.5 ms of a 60 ms H200 training step.)
 *
 * Launch: gridDim.x = N * G, blockDim.x a multiple of 32, at most 256 (__launch_bounds__). The result depends only
 * on the data, the shape and blockDim.x: deterministic.
 */
template <bool OFF, typename T>
__device__ __forceinline__ void gn_backward(double* partials, T* dx, const T* dy, const T* addend,
                                            const T* x, const float* xBias, const float* xAdd, const float* mean,
                                            const float* rstd, const float* gamma, const float* beta, int N, int C,
                                            long long S, int G, int fuseSilu, double* scratch, double* teamG,
                                            double* teamB) {
    int ng = blockIdx.x;
    int n = ng / G, gi = ng % G, cpg = C / G;
    long long gsize = (long long) cpg * S;
    long long base = (long long) ng * gsize;
    GnIn<OFF, T> in{x + base, OFF ? xBias + gi * cpg : nullptr, OFF ? xAdd + (long long) n * C + gi * cpg : nullptr,
                 (unsigned) S, (unsigned) S >> 2};
    float m = mean[ng], r = rstd[ng];
    long long nc = (long long) N * C;

    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    int wpc = warps / cpg > 1 ? warps / cpg : 1;   // warps per channel
    int teams = warps / wpc, team = warp / wpc, member = warp - team * wpc;
    int teamThreads = wpc * 32, teamTid = member * 32 + lane;
    // float4 moves where rows divide by 4 and every tensor is 16-byte aligned (as in the forward kernel)
    bool v4 = gn_vec4(S, dx, dy, x, addend != nullptr ? addend : x);

    double s1 = 0.0, s2 = 0.0;
    for (int cl = team < teams ? team : cpg; cl < cpg; cl += teams) {   // uniform within a warp
        int ch = gi * cpg + cl;
        float gm = gamma[ch];
        float a = gm * r, b0 = (fuseSilu ? beta[ch] : 0.0f) - m * a;
        long long c4 = (long long) cl * (S >> 2), cs = (long long) cl * S;   // the channel's start in the group
        const T* dc = dy + base + cs;
        double accG = 0.0, accB = 0.0;
        if (v4) {
            for (long long s4 = teamTid; s4 < (S >> 2); s4 += teamThreads) {
                float4 xv = in.at4(c4 + s4), d = d4j::load4(dc, s4);
                gn_back_terms(xv.x, d.x, gm, a, b0, m, r, fuseSilu, s1, s2, accG, accB);
                gn_back_terms(xv.y, d.y, gm, a, b0, m, r, fuseSilu, s1, s2, accG, accB);
                gn_back_terms(xv.z, d.z, gm, a, b0, m, r, fuseSilu, s1, s2, accG, accB);
                gn_back_terms(xv.w, d.w, gm, a, b0, m, r, fuseSilu, s1, s2, accG, accB);
            }
        } else {
            for (long long s = teamTid; s < S; s += teamThreads) {
                gn_back_terms(in.at(cs + s), d4j::load(dc, s), gm, a, b0, m, r, fuseSilu, s1, s2, accG, accB);
            }
        }
        accG = d4j::warp_sum(accG);
        accB = d4j::warp_sum(accB);
        if (wpc == 1) {
            if (lane == 0) {
                partials[(long long) n * C + ch] = accG;
                partials[nc + (long long) n * C + ch] = accB;
            }
        } else if (lane == 0) {   // wpc > 1: each team has at most one channel; added up after the barrier
            teamG[warp] = accG;
            teamB[warp] = accB;
        }
    }
    s1 = d4j::block_sum(s1, scratch);   // its barriers also publish teamG / teamB
    s2 = d4j::block_sum(s2, scratch);
    if (wpc > 1 && threadIdx.x < cpg) {
        int cl = threadIdx.x, ch = gi * cpg + cl;
        double g = 0.0, b = 0.0;
        for (int w = cl * wpc; w < (cl + 1) * wpc; w++) {
            g += teamG[w];
            b += teamB[w];
        }
        partials[(long long) n * C + ch] = g;
        partials[nc + (long long) n * C + ch] = b;
    }

    float a1 = (float) (s1 / (double) gsize), a2 = (float) (s2 / (double) gsize);
    unsigned su = (unsigned) S;
    // + addend in its own rounding step (never contracted into the product before it): d4j_axpby's x + y exactly
    if (v4) {
        unsigned sq = su >> 2;
        const T* dg = dy + base;
        const T* eg = addend != nullptr ? addend + base : nullptr;
        T* og = dx + base;
        for (long long j = threadIdx.x; j < (gsize >> 2); j += blockDim.x) {
            int ch = gi * cpg + (int) ((unsigned) j / sq);
            float gm = gamma[ch], be = fuseSilu ? beta[ch] : 0.0f;
            float4 xv = in.at4(j), d = d4j::load4(dg, j);
            float4 o = make_float4(gn_back_dx(xv.x, d.x, gm, be, m, r, a1, a2, fuseSilu),
                                   gn_back_dx(xv.y, d.y, gm, be, m, r, a1, a2, fuseSilu),
                                   gn_back_dx(xv.z, d.z, gm, be, m, r, a1, a2, fuseSilu),
                                   gn_back_dx(xv.w, d.w, gm, be, m, r, a1, a2, fuseSilu));
            if (eg != nullptr) {
                float4 e = d4j::load4(eg, j);
                o = make_float4(__fadd_rn(o.x, e.x), __fadd_rn(o.y, e.y), __fadd_rn(o.z, e.z), __fadd_rn(o.w, e.w));
            }
            d4j::store4(og, j, o);
        }
        return;
    }
    for (long long i = threadIdx.x; i < gsize; i += blockDim.x) {
        int ch = gi * cpg + (int) ((unsigned) i / su);
        float v = gn_back_dx(in.at(i), d4j::load(dy, base + i), gamma[ch], fuseSilu ? beta[ch] : 0.0f, m, r, a1, a2,
                             fuseSilu);
        d4j::store(dx, base + i, addend != nullptr ? __fadd_rn(v, d4j::load(addend, base + i)) : v);
    }
}

// at most 256 threads (LaunchConfig.rowThreads) and at least 4 blocks per SM: ptxas then keeps it to 63 registers
// without spills (68 unbounded on sm_90, which left room for only 3 blocks of 256)
template <typename T>
__device__ __forceinline__ void gn_backward_plain(double* partials, T* dx, const T* dy, const T* addend, const T* x,
                                                  const float* mean, const float* rstd, const float* gamma,
                                                  const float* beta, int N, int C, long long S, int G, int fuseSilu) {
    __shared__ double scratch[32];
    __shared__ double teamG[32], teamB[32];
    if ((int) blockIdx.x >= N * G) return;   // uniform per block, so the barriers below are safe
    gn_backward<false>(partials, dx, dy, addend, x, (const float*) nullptr, (const float*) nullptr, mean, rstd, gamma,
                       beta, N, C, S, G, fuseSilu, scratch, teamG, teamB);
}

extern "C" __global__ void __launch_bounds__(256, 4) d4j_group_norm_backward(double* partials, float* dx, const float* dy, const float* addend,
                                                   const float* x,
                                                   const float* mean, const float* rstd, const float* gamma,
                                                   const float* beta, int N, int C, long long S, int G,
                                                   int fuseSilu) {
    gn_backward_plain(partials, dx, dy, addend, x, mean, rstd, gamma, beta, N, C, S, G, fuseSilu);
}

extern "C" __global__ void __launch_bounds__(256, 4) d4j_group_norm_backward_bf16(double* partials, d4j::bf16* dx,
                                                   const d4j::bf16* dy, const d4j::bf16* addend, const d4j::bf16* x,
                                                   const float* mean, const float* rstd, const float* gamma,
                                                   const float* beta, int N, int C, long long S, int G,
                                                   int fuseSilu) {
    gn_backward_plain(partials, dx, dy, addend, x, mean, rstd, gamma, beta, N, C, S, G, fuseSilu);
}

/**
 * d4j_group_norm_backward of the GroupNorm whose input was (x + xBias[c]) + xAdd[n C + c]
 * (d4j_group_norm_forward_offset): that input is recomputed where it is read. The gradients are those of that input,
 * which are also those of x, of xBias (summed over n and s) and of xAdd (summed over s).
 */
template <typename T>
__device__ __forceinline__ void gn_backward_offset(double* partials, T* dx, const T* dy, const T* addend, const T* x,
                                                   const float* xBias, const float* xAdd, const float* mean,
                                                   const float* rstd, const float* gamma, const float* beta, int N,
                                                   int C, long long S, int G, int fuseSilu) {
    __shared__ double scratch[32];
    __shared__ double teamG[32], teamB[32];
    if ((int) blockIdx.x >= N * G) return;
    gn_backward<true>(partials, dx, dy, addend, x, xBias, xAdd, mean, rstd, gamma, beta, N, C, S, G, fuseSilu, scratch,
                      teamG, teamB);
}

extern "C" __global__ void __launch_bounds__(256, 4) d4j_group_norm_backward_offset(double* partials, float* dx,
                                                   const float* dy, const float* addend, const float* x,
                                                   const float* xBias, const float* xAdd, const float* mean,
                                                   const float* rstd, const float* gamma, const float* beta, int N,
                                                   int C, long long S, int G, int fuseSilu) {
    gn_backward_offset(partials, dx, dy, addend, x, xBias, xAdd, mean, rstd, gamma, beta, N, C, S, G, fuseSilu);
}

extern "C" __global__ void __launch_bounds__(256, 4) d4j_group_norm_backward_offset_bf16(double* partials,
                                                   d4j::bf16* dx, const d4j::bf16* dy, const d4j::bf16* addend,
                                                   const d4j::bf16* x, const float* xBias, const float* xAdd,
                                                   const float* mean, const float* rstd, const float* gamma,
                                                   const float* beta, int N, int C, long long S, int G, int fuseSilu) {
    gn_backward_offset(partials, dx, dy, addend, x, xBias, xAdd, mean, rstd, gamma, beta, N, C, S, G, fuseSilu);
}
