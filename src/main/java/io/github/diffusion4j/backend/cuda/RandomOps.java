package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Philox launchers of the CUDA backend: kernels/random.cu (randn, rand, dropout and its backward, with the mapping of
 * {@code tensor/Philox}). CPU reference: the CpuBackend methods of the same names; conformance:
 * {@code BackendConformance.random / dropout}.
 */
final class RandomOps {
    private final CudaBackend cb;
    private final KernelArgs.Typed kDropout;
    private final KernelArgs kRandn, kRand;

    RandomOps(CudaBackend cb) {
        this.cb = cb;
        kRandn = cb.kernel(Kernels.RANDN);
        kRand = cb.kernel(Kernels.RAND);
        kDropout = cb.typedKernel(Kernels.DROPOUT);
    }

    void dropout(Tensor y, Tensor x, float p, long seed, long offset) {
        dropoutApply(y, x, p, seed, offset);
    }

    void dropoutBackward(Tensor dx, Tensor dy, float p, long seed, long offset) {
        dropoutApply(dx, dy, p, seed, offset);
    }

    private void dropoutApply(Tensor out, Tensor in, float p, long seed, long offset) {
        cb.ensureContext();
        Check.sameSize(out, in);
        Check.dropout(p);
        long n = in.numel();
        if (n == 0) return;
        float keep = 1f / (1f - p);
        kDropout.of(out).begin().ptr(cb.a(out)).ptr(cb.a(in)).i64(n).f32(p).f32(keep).i64(seed).i64(offset)
                .launch(LaunchConfig.philoxBlocks(n, offset), LaunchConfig.THREADS);
    }

    void randn(Tensor out, long seed, long offset) {
        cb.ensureContext();
        long n = out.numel();
        if (n == 0) return;
        kRandn.begin().ptr(cb.a(out)).i64(n).i64(seed).i64(offset).launch(LaunchConfig.philoxBlocks(n, offset), LaunchConfig.THREADS);
    }

    void rand(Tensor out, long seed, long offset) {
        cb.ensureContext();
        long n = out.numel();
        if (n == 0) return;
        kRand.begin().ptr(cb.a(out)).i64(n).i64(seed).i64(offset).launch(LaunchConfig.philoxBlocks(n, offset), LaunchConfig.THREADS);
    }
}
