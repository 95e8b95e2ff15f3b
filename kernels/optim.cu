// Optimiser kernels over flat buffers (parameters, gradients and moments each live in one contiguous
// allocation, so one launch updates the whole model). CPU twins: CpuBackend.updateGate (UpdateGate.decide),
// CpuBackend.adamw and CpuBackend.emaUpdate; conformance: BackendConformance.adamw and .updateGate.
//
// Compiled with -fmad=false (no FMA contraction) and IEEE division/sqrt, so every float expression below rounds
// exactly like its Java twin and CPU and GPU updates agree bit for bit.
//
// Launch: 1-D grid-stride over n.
#include "common.cuh"

/**
 * The optimizer update's gate (tensor.UpdateGate, whose decide() is the Java reference of this kernel): one thread
 * turns the sum of squares of the gradients (the double that d4j_sum_finalize wrote) and the gate's own step count
 * into the gradient norm, the non-finite skip, the clip factor and gradient scale, the bias corrections and the EMA
 * decay of this update, so that neither AdamW nor the EMA needs a value from the host. Gate elements: 0 norm,
 * 1 clip, 2 scale, 3 skip, 4 bc1, 5 bc2, 6 EMA decay, 7 step count t. Launch: 1 block of 1 thread.
 */
extern "C" __global__ void d4j_update_gate(float* gate, const double* sumSquares, float gradClip, int microBatches,
                                           float beta1, float beta2, int emaWarmup, float emaTarget, double emaPower,
                                           double emaInvGamma) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    double norm = sqrt(*sumSquares) / microBatches;
    bool skip = !isfinite(norm);
    gate[0] = (float) norm;
    gate[3] = skip ? 1.0f : 0.0f;
    if (skip) {
        gate[1] = 0.0f;
        gate[2] = 0.0f;
        return;
    }
    float clip = gradClip > 0 && norm > gradClip ? (float) (gradClip / norm) : 1.0f;
    float t = gate[7] + 1.0f;
    gate[1] = clip;
    gate[2] = clip / (float) microBatches;
    gate[7] = t;
    gate[4] = (float) (1.0 - pow((double) beta1, (double) t));
    gate[5] = (float) (1.0 - pow((double) beta2, (double) t));
    double tt = (double) t, d;
    if (emaWarmup == 0) d = fmin((double) emaTarget, (1.0 + tt) / (10.0 + tt));
    else if (emaWarmup == 1) d = fmax(0.0, fmin((double) emaTarget, 1.0 - pow(1.0 + tt / emaInvGamma, -emaPower)));
    else d = emaTarget;
    gate[6] = (float) d;
}

/**
 * AdamW with decoupled weight decay (PyTorch's torch.optim.AdamW, amsgrad = false), exactly as
 * CpuBackend.adamw evaluates it, per element i, with gradScale, bc1 and bc2 read from the gate:
 *   g  = grads[i] * gradScale
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g * g
 *   p  = p - (lr * weightDecay) * decayMask[i] * p          (decayMask == nullptr: p - (lr * weightDecay) * p)
 *   p  = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * and nothing at all when the gate says skip. paramsCopy (nullptr: none) receives p, new or (on a skip) unchanged, in
 * its element type C: float (d4j_adamw) or bf16 rounded to nearest even (d4j_adamw_bf16: the weight copy a bf16
 * model computes with, written by the same pass).
 */
namespace d4j_optim {
template <typename C>
__device__ __forceinline__ void adamw(float* params, C* paramsCopy, const float* grads, float* m, float* v,
                                      const float* decayMask, long long n, float lr, float beta1, float beta2,
                                      float eps, float weightDecay, const float* gate) {
    if (gate[3] != 0.0f) {
        // skipped: nothing changes, but the copy is written anyway, so that it is the masters' after every call
        // (the host marks it up to date without knowing whether the update was skipped)
        if (paramsCopy != nullptr) D4J_GRID_LOOP(i, n) d4j::store(paramsCopy, i, params[i]);
        return;
    }
    float gradScale = gate[2], bc1 = gate[4], bc2 = gate[5];
    float stepSize = lr / bc1;
    float sqrtBc2 = sqrtf(bc2);
    float decay = lr * weightDecay;
    float ob1 = 1.0f - beta1, ob2 = 1.0f - beta2;
    D4J_GRID_LOOP(i, n) {
        float gi = grads[i] * gradScale;
        float mi = beta1 * m[i] + ob1 * gi;
        float vi = beta2 * v[i] + ob2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float pi = params[i];
        if (decayMask != nullptr) pi -= decay * decayMask[i] * pi;
        else pi -= decay * pi;
        pi = pi - stepSize * mi / (sqrtf(vi) / sqrtBc2 + eps);
        params[i] = pi;
        if (paramsCopy != nullptr) d4j::store(paramsCopy, i, pi);
    }
}
}  // namespace d4j_optim

extern "C" __global__ void d4j_adamw(float* params, float* paramsCopy, const float* grads, float* m, float* v,
                                     const float* decayMask, long long n, float lr, float beta1, float beta2, float eps,
                                     float weightDecay, const float* gate) {
    d4j_optim::adamw(params, paramsCopy, grads, m, v, decayMask, n, lr, beta1, beta2, eps, weightDecay, gate);
}

extern "C" __global__ void d4j_adamw_bf16(float* params, d4j::bf16* paramsCopy, const float* grads, float* m, float* v,
                                          const float* decayMask, long long n, float lr, float beta1, float beta2,
                                          float eps, float weightDecay, const float* gate) {
    d4j_optim::adamw(params, paramsCopy, grads, m, v, decayMask, n, lr, beta1, beta2, eps, weightDecay, gate);
}

/**
 * Exponential moving average of the weights with the gate's decay: ema = decay * ema + (1 - decay) * params
 * (Backend.axpby's order); nothing when the gate says skip.
 */
extern "C" __global__ void d4j_ema(float* emaParams, const float* params, long long n, const float* gate) {
    if (gate[3] != 0.0f) return;
    float decay = gate[6];
    float oneMinus = 1.0f - decay;
    D4J_GRID_LOOP(i, n) emaParams[i] = decay * emaParams[i] + oneMinus * params[i];
}
