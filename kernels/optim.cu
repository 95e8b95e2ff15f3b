// Optimiser kernels over flat buffers (parameters, gradients and moments each live in one contiguous
// allocation, so one launch updates the whole model). CPU twins: CpuBackend.adamw (Backend.adamw) and, for
// d4j_ema, CpuBackend.axpby as train.Ema calls it (the Java Ema goes through Backend.axpby, so d4j_ema is an
// optional fused form with the same expression).
//
// Compiled with -fmad=false (no FMA contraction) and IEEE division/sqrt, so every float expression below rounds
// exactly like its Java twin and CPU and GPU updates agree bit for bit.
//
// Launch: 1-D grid-stride over n.
#include "common.cuh"

/**
 * AdamW with decoupled weight decay (PyTorch's torch.optim.AdamW, amsgrad = false), exactly as
 * CpuBackend.adamw evaluates it, per element i:
 *   g  = grads[i] * gradScale
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g * g
 *   p  = p - (lr * weightDecay) * decayMask[i] * p          (decayMask == nullptr: p - (lr * weightDecay) * p)
 *   p  = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * bc1 = 1 - beta1^t, bc2 = 1 - beta2^t are computed by the caller (in double, rounded to float). The scalar
 * factors are float expressions of the arguments, identical in every thread and to the Java code.
 */
extern "C" __global__ void d4j_adamw(float* params, const float* grads, float* m, float* v, const float* decayMask,
                                     long long n, float lr, float beta1, float beta2, float eps, float weightDecay,
                                     float bc1, float bc2, float gradScale) {
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
        params[i] = pi - stepSize * mi / (sqrtf(vi) / sqrtBc2 + eps);
    }
}

/** Exponential moving average of the weights: ema = decay * ema + (1 - decay) * params (Backend.axpby's order). */
extern "C" __global__ void d4j_ema(float* emaParams, const float* params, long long n, float decay) {
    float oneMinus = 1.0f - decay;
    D4J_GRID_LOOP(i, n) emaParams[i] = decay * emaParams[i] + oneMinus * params[i];
}
