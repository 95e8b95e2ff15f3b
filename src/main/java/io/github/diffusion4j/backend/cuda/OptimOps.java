package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The optimiser launcher of the CUDA backend: kernels/optim.cu (AdamW over the flat parameter buffer in one pass).
 * CPU reference: CpuBackend.adamw; conformance: {@code BackendConformance.adamw}.
 */
final class OptimOps {
    private final CudaBackend cb;
    private final KernelArgs kAdamw;

    OptimOps(CudaBackend cb) {
        this.cb = cb;
        kAdamw = cb.kernel(Kernels.ADAMW);
    }

    void adamw(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor decayMask, float lr, float beta1, float beta2,
               float eps, float weightDecay, float bc1, float bc2, float gradScale) {
        cb.ensureContext();
        Check.sameSize(params, grads);
        Check.sameSize(params, m);
        Check.sameSize(params, v);
        if (decayMask != null) Check.sameSize(params, decayMask);
        long n = params.numel();
        if (n == 0) return;
        kAdamw.begin().ptr(cb.a(params)).ptr(cb.a(grads)).ptr(cb.a(m)).ptr(cb.a(v)).ptr(cb.an(decayMask)).i64(n).f32(lr).f32(beta1)
                .f32(beta2).f32(eps).f32(weightDecay).f32(bc1).f32(bc2).f32(gradScale)
                .launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }
}
