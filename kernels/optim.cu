// Optimiser kernels over flat buffers (parameters, gradients and moments each live in one contiguous
// allocation, so one launch updates the whole model). No CPU twin exists in the Backend interface yet; the
// Java AdamW / Ema of the train package must evaluate exactly these float expressions, in this order, for
// CPU and GPU runs to agree bit for bit (the kernels are compiled with -fmad=false, so no FMA contraction).
//
// Launch: 1-D grid-stride over n.
#include "common.cuh"

/**
 * AdamW with decoupled weight decay, in PyTorch's formulation (torch.optim.AdamW, amsgrad = false):
 *   p  = p * (1 - lr * weightDecay)
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g * g
 *   p  = p - (lr / bias1Correction) * m / (sqrt(v) / sqrt(bias2Correction) + eps)
 * with bias1Correction = 1 - beta1^t and bias2Correction = 1 - beta2^t for step t >= 1 (computed by the caller,
 * in double, rounded to float). Every intermediate is a float; the scalar factors are computed once per thread
 * from the arguments, identically everywhere.
 */
extern "C" __global__ void d4j_adamw(float* params, const float* grads, float* m, float* v, long long n, float lr,
                                     float beta1, float beta2, float eps, float weightDecay, float bias1Correction,
                                     float bias2Correction) {
    float decay = 1.0f - lr * weightDecay;
    float oneMinusB1 = 1.0f - beta1, oneMinusB2 = 1.0f - beta2;
    float stepSize = lr / bias1Correction;
    float bc2Sqrt = sqrtf(bias2Correction);
    D4J_GRID_LOOP(i, n) {
        float g = grads[i];
        float p = params[i] * decay;
        float mi = beta1 * m[i] + oneMinusB1 * g;
        float vi = beta2 * v[i] + oneMinusB2 * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = p - stepSize * mi / (sqrtf(vi) / bc2Sqrt + eps);
    }
}

/** Exponential moving average of the weights: ema = decay * ema + (1 - decay) * params. */
extern "C" __global__ void d4j_ema(float* emaParams, const float* params, long long n, float decay) {
    float oneMinus = 1.0f - decay;
    D4J_GRID_LOOP(i, n) emaParams[i] = decay * emaParams[i] + oneMinus * params[i];
}
