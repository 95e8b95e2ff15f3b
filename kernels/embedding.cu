// Embeddings: the sinusoidal timestep embedding (Backend.timestepEmbedding) and one-hot class rows
// (Backend.oneHot). CPU twins: CpuBackend.timestepEmbedding / oneHot.
//
// Timestep embedding:
//
//   half = dim / 2, denom = half - (ddpmStyle ? 1 : 0)
//   arg = t_n * exp(-ln(maxPeriod) * j / denom)       (double, same operation order as the Java code)
//   out[n, j] = sin(arg), out[n, half + j] = cos(arg), out[n, dim - 1] = 0 when dim is odd
//
// Computed in double and rounded once, like the Java reference, so large timesteps (t * freq ~ 1000) keep
// their accuracy. Launch: 1-D grid-stride over n * half (pairs); the odd-dim zero column is written by the
// threads of j == 0.
#include "common.cuh"

extern "C" __global__ void d4j_timestep_embedding(float* out, const float* timesteps, int n, int dim,
                                                  float maxPeriod, int ddpmStyle) {
    int half = dim / 2;
    long long total = (long long) n * (half > 0 ? half : 1);
    double negLog = -log((double) maxPeriod);
    double denom = (double) (half - (ddpmStyle ? 1 : 0));
    D4J_GRID_LOOP(k, total) {
        int s = (int) (k / (half > 0 ? half : 1));
        int j = (int) (k - (long long) s * (half > 0 ? half : 1));
        float* row = out + (long long) s * dim;
        if (half > 0) {
            double arg = (double) timesteps[s] * exp(negLog * (double) j / denom);
            double sn, cs;
            sincos(arg, &sn, &cs);
            row[j] = (float) sn;
            row[half + j] = (float) cs;
        }
        if ((dim & 1) == 1 && j == 0) row[dim - 1] = 0.0f;
    }
}

/**
 * One-hot rows (Backend.oneHot): out[s, c] = 1 if c == (int) ids[s] else 0, out [n, k]. An id that is not an
 * integer in [0, k) cannot throw here as it does on the CPU: its row stays all zero and bit
 * d4j::ERROR_CLASS_ID is set in *errorFlags, which the backend checks at its next synchronisation.
 * Launch: 1-D grid-stride over n * k.
 */
extern "C" __global__ void d4j_one_hot(float* out, const float* ids, int* errorFlags, int n, int k) {
    long long total = (long long) n * k;
    D4J_GRID_LOOP(o, total) {
        int s = (int) (o / k);
        int c = (int) (o - (long long) s * k);
        float v = ids[s];
        int id = (int) v;
        bool valid = (float) id == v && id >= 0 && id < k;
        out[o] = valid && c == id ? 1.0f : 0.0f;
        if (!valid && c == 0) atomicOr(errorFlags, d4j::ERROR_CLASS_ID);
    }
}
