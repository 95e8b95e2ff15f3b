package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Tensor;

/**
 * Embedding launchers of the CUDA backend: kernels/embedding.cu (one-hot class rows, which flag bad ids in the error
 * word, and the sinusoidal timestep embedding). CPU reference: the CpuBackend methods of the same names; conformance:
 * {@code BackendConformance.oneHot / timestepEmbedding}.
 */
final class EmbeddingOps {
    private final CudaBackend cb;
    private final KernelArgs kOneHot, kTimestepEmbedding;

    EmbeddingOps(CudaBackend cb) {
        this.cb = cb;
        kTimestepEmbedding = cb.kernel(Kernels.TIMESTEP_EMBEDDING);
        kOneHot = cb.kernel(Kernels.ONE_HOT);
    }

    void oneHot(Tensor out, Tensor ids) {
        cb.ensureContext();
        int n = out.dim(0), k = out.dim(1);
        if (ids.numel() != n) throw new IllegalArgumentException("oneHot: ids " + ids.shape() + " for " + out.shape());
        if (out.numel() == 0) return;
        kOneHot.begin().ptr(cb.a(out)).ptr(cb.a(ids)).ptr(cb.errorWordAddress()).i32(n).i32(k)
                .launch(LaunchConfig.blocks(out.numel()), LaunchConfig.THREADS);
    }

    void timestepEmbedding(Tensor out, Tensor timesteps, float maxPeriod, boolean ddpmStyle) {
        cb.ensureContext();
        int n = out.dim(0), dim = out.dim(1), half = dim / 2;
        if (timesteps.numel() != n) throw new IllegalArgumentException("timesteps " + timesteps.shape() + " for " + out.shape());
        if (out.numel() == 0) return;
        long work = (long) n * Math.max(half, 1);
        kTimestepEmbedding.begin().ptr(cb.a(out)).ptr(cb.a(timesteps)).i32(n).i32(dim).f32(maxPeriod).i32(ddpmStyle ? 1 : 0)
                .launch(LaunchConfig.blocks(work), LaunchConfig.THREADS);
    }
}
