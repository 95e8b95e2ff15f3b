// Sinusoidal timestep embedding: Backend.timestepEmbedding (CPU twin: CpuBackend.timestepEmbedding).
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
