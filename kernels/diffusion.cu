// The fused diffusion operations of the Backend interface, one pass each: Backend.qSample, diffusionStep,
// repaintBlend, mseLoss and drawTimesteps. CPU twins: the CpuBackend methods of the same names, whose javadoc (Backend.java)
// gives the per-element formulas; every float expression below is written in the same order (compiled with
// -fmad=false), so the elementwise outputs agree with the CPU bit for bit (mseLoss's per-sample sums are double
// sums in another order: they agree to double rounding).
//
// Kernels that draw Gaussian noise use one thread per Philox block (four consecutive global indices, so each
// Box-Muller pair is computed once), as random.cu does: element i has global index offset + i, and the grid
// strides over d4j::block_count(n, offset) blocks. The same loop is used when no noise is drawn (the draw is
// skipped), so one launch configuration serves both cases.
#include "common.cuh"
#include "philox.cuh"

/**
 * Forward diffusion with a timestep per sample, fused with the training target (Backend.qSample). For element
 * i of sample s = i / per:
 *   k = (int) t[s];  a = sqrtAlphaBar[k];  b = sqrtOneMinusAlphaBar[k]
 *   eps = noise != nullptr ? noise[i] : Philox.normal(seed, offset + i)
 *   xt[i] = a * x0[i] + b * eps
 *   target[i] = eps (targetType 0) | x0[i] (1) | a * eps - b * x0[i] (2)         (skipped when target == nullptr)
 * xt may alias x0 or noise (each element's inputs are read before its outputs are written). A timestep outside
 * [0, steps) cannot throw here as it does on the CPU: the sample's outputs become NaN and bit
 * d4j::ERROR_TIMESTEP_RANGE is set in *errorFlags, which the backend checks at its next synchronisation.
 * Launch: grid-stride over d4j::block_count(total, offset) Philox blocks.
 */
extern "C" __global__ void d4j_q_sample(float* xt, float* target, const float* x0, const float* noise,
                                        const float* t, const float* sqrtAlphaBar,
                                        const float* sqrtOneMinusAlphaBar, int* errorFlags, long long total,
                                        long long per, int steps, int targetType, unsigned long long seed,
                                        unsigned long long offset) {
    if (total <= 0) return;
    bool draw = noise == nullptr;
    unsigned long long first = offset >> 2;
    D4J_GRID_LOOP(k, d4j::block_count(total, offset)) {
        unsigned long long blk = first + (unsigned long long) k;
        float4 z = draw ? d4j::philox_normal4(seed, blk) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        unsigned long long g0 = blk << 2;
#pragma unroll
        for (int l = 0; l < 4; l++) {
            unsigned long long ui = g0 + (unsigned long long) l - offset;
            if (ui >= (unsigned long long) total) continue;
            long long i = (long long) ui;
            int step = (int) t[i / per];   // truncation toward zero, NaN -> 0, saturating: as Java's (int) cast
            float x = x0[i];
            float eps = draw ? d4j::lane(z, l) : noise[i];
            if (step < 0 || step >= steps) {
                atomicOr(errorFlags, d4j::ERROR_TIMESTEP_RANGE);
                xt[i] = __int_as_float(0x7fc00000);
                if (target != nullptr) target[i] = __int_as_float(0x7fc00000);
                continue;
            }
            float a = sqrtAlphaBar[step], b = sqrtOneMinusAlphaBar[step];
            xt[i] = a * x + b * eps;
            if (target != nullptr) target[i] = targetType == 0 ? eps : targetType == 1 ? x : a * eps - b * x;
        }
    }
}

/**
 * One fused sampler step (Backend.diffusionStep), per element i:
 *   x0 = fs * sample[i] + fm * modelOut[i];  if (clip) x0 = min(max(x0, -range), range)   (Java Math.min/max)
 *   predX0[i] = x0                                                    (when predX0 != nullptr)
 *   prev[i] = ka * x0 + kb * sample[i] + kc * modelOut[i]
 *           + kd * prevX0[i]                                          (only when prevX0 != nullptr)
 *           + sigma * Philox.normal(seed, offset + i)                 (only when sigma != 0)
 * summed left to right. All inputs of an element are read before its outputs are written, so prev and predX0
 * may alias any input. A learned variance (per > 0): modelOut is [N, 2 per]; element i of sample i / per reads its
 * prediction at (i / per) * 2 per + i % per, v at that + per, and its noise term is
 * expf(0.5f * (lvBase + lvScale * v)) * normal instead of sigma * normal (none when lvBase is -inf).
 * Launch: grid-stride over d4j::block_count(n, offset) Philox blocks.
 */
extern "C" __global__ void d4j_diffusion_step(float* prev, float* predX0, const float* sample, const float* modelOut,
                                              const float* prevX0, long long n, float fs, float fm, int clip,
                                              float range, float ka, float kb, float kc, float kd, float sigma,
                                              long long per, float lvBase, float lvScale,
                                              unsigned long long seed, unsigned long long offset) {
    if (n <= 0) return;
    bool draw = sigma != 0.0f || (per > 0 && lvBase > -3.0e38f);   // lvBase -inf: a learned variance of 0, no draw
    unsigned long long first = offset >> 2;
    D4J_GRID_LOOP(k, d4j::block_count(n, offset)) {
        unsigned long long blk = first + (unsigned long long) k;
        float4 z = draw ? d4j::philox_normal4(seed, blk) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        unsigned long long g0 = blk << 2;
#pragma unroll
        for (int l = 0; l < 4; l++) {
            unsigned long long ui = g0 + (unsigned long long) l - offset;
            if (ui >= (unsigned long long) n) continue;
            long long i = (long long) ui;
            long long mi = per > 0 ? (i / per) * 2 * per + i % per : i;
            float x = sample[i], m = modelOut[mi];
            float hx = prevX0 != nullptr ? prevX0[i] : 0.0f;
            float x0 = fs * x + fm * m;
            if (clip) x0 = d4j::java_min(d4j::java_max(x0, -range), range);
            float p = ka * x0 + kb * x + kc * m;
            if (prevX0 != nullptr) p += kd * hx;
            if (per > 0) {
                if (draw) p += expf(0.5f * (lvBase + lvScale * modelOut[mi + per])) * d4j::lane(z, l);
            } else if (draw) {
                p += sigma * d4j::lane(z, l);
            }
            if (predX0 != nullptr) predX0[i] = x0;
            prev[i] = p;
        }
    }
}

/**
 * RePaint blend (Backend.repaintBlend), per element i with M = maskN:
 *   m = keepMask[i % M];  known = a * original[i] (+ b * Philox.normal(seed, offset + i) when b != 0)
 *   out[i] = m * known + (1 - m) * sample[i]
 * out may alias sample. Launch: grid-stride over d4j::block_count(n, offset) Philox blocks.
 */
extern "C" __global__ void d4j_repaint_blend(float* out, const float* sample, const float* original,
                                             const float* keepMask, long long n, long long maskN, float a, float b,
                                             unsigned long long seed, unsigned long long offset) {
    if (n <= 0) return;
    bool draw = b != 0.0f;
    unsigned long long first = offset >> 2;
    D4J_GRID_LOOP(k, d4j::block_count(n, offset)) {
        unsigned long long blk = first + (unsigned long long) k;
        float4 z = draw ? d4j::philox_normal4(seed, blk) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        unsigned long long g0 = blk << 2;
#pragma unroll
        for (int l = 0; l < 4; l++) {
            unsigned long long ui = g0 + (unsigned long long) l - offset;
            if (ui >= (unsigned long long) n) continue;
            long long i = (long long) ui;
            float m = keepMask[i % maskN];
            float known = a * original[i];
            if (draw) known += b * d4j::lane(z, l);
            out[i] = m * known + (1.0f - m) * sample[i];
        }
    }
}

/**
 * Per-sample MSE and the gradient of the weighted batch loss (Backend.mseLoss). For sample s (one block) and its
 * elements i in [s * per, (s + 1) * per):
 *   diff = modelOut[i] - target[i]
 *   mse[s] = (float) ((sum of (double) diff * diff) / per)
 *   dOut[i] = (gradScale * w[s]) * (2f / per) * diff,  w[s] = weights != nullptr ? weights[s] : 1  (dOut optional)
 * dOut may alias modelOut or target (each element is read before the same thread writes it).
 * Launch: gridDim.x = samples, blockDim.x a multiple of 32.
 */
extern "C" __global__ void d4j_mse_loss(float* mse, float* dOut, const float* modelOut, const float* target,
                                        const float* weights, int samples, long long per, float gradScale) {
    __shared__ double scratch[32];
    int s = blockIdx.x;
    if (s >= samples) return;   // uniform per block, so block_sum's barriers are safe
    float scale = gradScale * (weights != nullptr ? weights[s] : 1.0f) * (2.0f / (float) per);
    long long base = (long long) s * per;
    double acc = 0.0;
    for (long long j = threadIdx.x; j < per; j += blockDim.x) {
        float diff = modelOut[base + j] - target[base + j];
        acc += (double) diff * (double) diff;
        if (dOut != nullptr) dOut[base + j] = scale * diff;
    }
    acc = d4j::block_sum(acc, scratch);
    if (threadIdx.x == 0) mse[s] = (float) (acc / (double) per);
}

namespace d4j {
/** improved-diffusion's approx_standard_normal_cdf and its derivative (float). */
__device__ __forceinline__ float vlb_cdf(float z) {
    return 0.5f * (1.0f + tanhf(0.7978845608f * (z + 0.044715f * z * z * z)));
}
__device__ __forceinline__ float vlb_pdf(float z) {
    float th = tanhf(0.7978845608f * (z + 0.044715f * z * z * z));
    return 0.5f * (1.0f - th * th) * 0.7978845608f * (1.0f + 3.0f * 0.044715f * z * z);
}
}  // namespace d4j

/**
 * Improved DDPM's variational-bound term for a learned-range variance (Backend.vlbLoss; CPU twin: CpuBackend.vlbLoss
 * with VlbTerm, in double there, float here): per sample s of `per` elements with the 7 coefficients
 * {c1, c2, minLog, maxLog, p, q, first} at coefs[7 s]:
 *   mu~ = c1 x0 + c2 xt;  mu = c1 (p xt + q pred) + c2 xt;  logVar = minLog + (v + 1) / 2 (maxLog - minLog)
 *   first == 0: L = KL(N(mu~, e^minLog) || N(mu, e^logVar));  else L = -log of the discretised Gaussian likelihood
 *   vb[s] = sum L / (per ln 2) (double accumulation);  dV[i] = gradScale * dL/dv / (per ln 2) (dV optional)
 * dV may alias v (each element is read before the same thread writes it). Launch: gridDim.x = samples, blockDim.x a
 * multiple of 32.
 */
extern "C" __global__ void d4j_vlb_loss(float* vb, float* dV, const float* x0, const float* xt, const float* pred,
                                        const float* v, const float* coefs, int samples, long long per, float gradScale) {
    __shared__ double scratch[32];
    int s = blockIdx.x;
    if (s >= samples) return;   // uniform per block, so block_sum's barriers are safe
    const float* c = coefs + 7 * (long long) s;
    float c1 = c[0], c2 = c[1], minLog = c[2], maxLog = c[3], p = c[4], q = c[5];
    bool first = c[6] != 0.0f;
    float dLogVarDv = (maxLog - minLog) * 0.5f;
    double norm = (double) per * 0.6931471805599453;
    float gscale = (float) ((double) gradScale / norm);
    long long base = (long long) s * per;
    double acc = 0.0;
    for (long long j = threadIdx.x; j < per; j += blockDim.x) {
        long long i = base + j;
        float x = x0[i], t = xt[i];
        float mu = c1 * (p * t + q * pred[i]) + c2 * t;
        float logVar = minLog + (v[i] + 1.0f) * 0.5f * (maxLog - minLog);
        float loss, dv;
        if (!first) {
            float d = c1 * x + c2 * t - mu;
            float e1 = expf(minLog - logVar), e2 = expf(-logVar);
            loss = 0.5f * (-1.0f + logVar - minLog + e1 + d * d * e2);
            dv = 0.5f * (1.0f - e1 - d * d * e2) * dLogVarDv;
        } else {
            float inv = expf(-0.5f * logVar), centred = x - mu;
            float plus = inv * (centred + 1.0f / 255.0f), minus = inv * (centred - 1.0f / 255.0f);
            float dLds;
            if (x < -0.999f) {
                float cp = d4j::vlb_cdf(plus);
                loss = -logf(fmaxf(cp, 1e-12f));
                dLds = cp > 1e-12f ? d4j::vlb_pdf(plus) * plus / cp : 0.0f;
            } else if (x > 0.999f) {
                float om = 1.0f - d4j::vlb_cdf(minus);
                loss = -logf(fmaxf(om, 1e-12f));
                dLds = om > 1e-12f ? -d4j::vlb_pdf(minus) * minus / om : 0.0f;
            } else {
                float delta = d4j::vlb_cdf(plus) - d4j::vlb_cdf(minus);
                loss = -logf(fmaxf(delta, 1e-12f));
                dLds = delta > 1e-12f ? (d4j::vlb_pdf(plus) * plus - d4j::vlb_pdf(minus) * minus) / delta : 0.0f;
            }
            dv = 0.5f * dLds * dLogVarDv;
        }
        acc += (double) loss;
        if (dV != nullptr) dV[i] = gscale * dv;
    }
    acc = d4j::block_sum(acc, scratch);
    if (threadIdx.x == 0) vb[s] = (float) (acc / norm);
}

/**
 * Imagen's dynamic thresholding (Backend.dynamicThreshold; CPU twin: CpuBackend.dynamicThreshold), in place per
 * sample s of `per` elements:
 *   q = the `ratio` quantile of |x| over the sample: with pos = (double) ratio * (per - 1), lo = floor(pos), the order
 *       statistics a = |x|_(lo) and b = |x|_(min(lo + 1, per - 1)), q = a + (b - a) * (float) (pos - lo)
 *       (torch.quantile's linear interpolation)
 *   t = java_min(java_max(q, 1), maxValue);  x = java_min(java_max(x, -t), t) / t
 * The order statistics by radix selection on the bits of |x| (non-negative floats order as their bit patterns),
 * 8 bits per pass, a 256-bin histogram in shared memory. Launch: gridDim.x = samples, blockDim.x a multiple of 32.
 */
extern "C" __global__ void d4j_dynamic_threshold(float* x, int samples, long long per, float ratio, float maxValue) {
    __shared__ int hist[256];
    __shared__ unsigned int sPrefix;
    __shared__ long long sRank;
    int s = blockIdx.x;
    if (s >= samples || per <= 0) return;   // uniform per block, so the barriers are safe
    float* v = x + (long long) s * per;
    double pos = (double) ratio * (double) (per - 1);
    long long lo = (long long) floor(pos);
    float order[2];
    for (int which = 0; which < 2; which++) {
        long long rank = lo + which < per - 1 ? lo + which : per - 1;
        unsigned int prefix = 0u, mask = 0u;
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
            __syncthreads();
            for (long long j = threadIdx.x; j < per; j += blockDim.x) {
                unsigned int bits = __float_as_uint(fabsf(v[j]));
                if ((bits & mask) == prefix) atomicAdd(&hist[(bits >> shift) & 255u], 1);
            }
            __syncthreads();
            if (threadIdx.x == 0) {
                long long r = rank;
                unsigned int b = 0u;
                while (b < 255u && r >= (long long) hist[b]) r -= hist[b++];
                sPrefix = prefix | (b << shift);
                sRank = r;
            }
            __syncthreads();
            prefix = sPrefix;
            rank = sRank;
            mask |= 255u << shift;
            __syncthreads();   // every thread has read sPrefix before the next pass may change it
        }
        order[which] = __uint_as_float(prefix);
    }
    float q = order[0] + (order[1] - order[0]) * (float) (pos - (double) lo);
    float t = d4j::java_min(d4j::java_max(q, 1.0f), maxValue);
    for (long long j = threadIdx.x; j < per; j += blockDim.x) v[j] = d4j::java_min(d4j::java_max(v[j], -t), t) / t;
}

/**
 * Training timesteps and their loss weights (Backend.drawTimesteps; CPU twin: CpuBackend.drawTimesteps): t[i] is the
 * i-th value of Philox.Stream(seed, position).nextInt(bound), which takes word (position & 3) of Philox block
 * position >> 2, rejects it when it is at or above 2^32 - (2^32 mod bound) (unbiased), and returns it mod bound;
 * w[i] = weightTable[t[i]] when w != nullptr. Rejections make each draw depend on the ones before, so one thread
 * walks the stream (n is a batch size: a few hundred Philox blocks). Launch: one block of one thread.
 */
extern "C" __global__ void d4j_draw_timesteps(float* t, float* w, const float* weightTable, int n, int bound,
                                              unsigned long long seed, unsigned long long position) {
    if (blockIdx.x != 0 || threadIdx.x != 0 || bound <= 0) return;
    unsigned long long limit = (1ull << 32) - ((1ull << 32) % (unsigned long long) bound);
    for (int i = 0; i < n; i++) {
        unsigned long long v;
        do {
            v = d4j::philox_word(d4j::philox_block(seed, position >> 2), (int) (position & 3));
            position++;
        } while (v >= limit);
        int s = (int) (v % (unsigned long long) bound);
        t[i] = (float) s;
        if (w != nullptr) w[i] = weightTable[s];
    }
}
