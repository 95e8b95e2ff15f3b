package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Tensor;

import static jcuda.driver.JCudaDriver.cuMemsetD32Async;

/**
 * The reductions of the CUDA backend: kernels/reduce.cu (sum and sum of squares in double through per-block partials
 * and one finalising block, the non-finite flag, per-sample sums). The scalar results land in CudaBackend's scratch
 * block, whose header (and error word) {@link CudaBackend#readScratch} copies to the host. CPU reference: the
 * CpuBackend methods of the same names; conformance: {@code BackendConformance.reductions}.
 */
final class ReduceOps {
    private final CudaBackend cb;
    private final KernelArgs kSumPartials, kSumFinalize, kNonfinite, kSumPerSample;

    ReduceOps(CudaBackend cb) {
        this.cb = cb;
        kSumPartials = cb.kernel(Kernels.SUM_PARTIALS);
        kSumFinalize = cb.kernel(Kernels.SUM_FINALIZE);
        kNonfinite = cb.kernel(Kernels.NONFINITE_FLAG);
        kSumPerSample = cb.kernel(Kernels.SUM_PER_SAMPLE);
    }

    private double reduce(Tensor x, boolean squares) {
        cb.ensureContext();
        if (x.numel() == 0) return 0.0;
        queueSum(x, squares);
        return cb.readScratch(true).getDouble(0);
    }

    /**
     * Queues the sum (or sum of squares) of x in double into the scratch block's result slot and returns that slot's
     * device address, for a kernel that reads it on the device (the update gate); nothing waits. An empty x sums
     * to 0 (one block writes a zero partial).
     */
    long queueSum(Tensor x, boolean squares) {
        long n = x.numel();
        int blocks = LaunchConfig.reduceBlocks(Math.max(n, 1));
        long partials = cb.scratchAddress(CudaBackend.SCRATCH_PARTIALS), result = cb.scratchAddress(CudaBackend.SCRATCH_RESULT);
        kSumPartials.begin().ptr(partials).ptr(cb.a(x)).i64(n).i32(squares ? 1 : 0).launch(blocks, LaunchConfig.REDUCE_THREADS);
        kSumFinalize.begin().ptr(result).ptr(partials).i32(blocks).launch(1, LaunchConfig.REDUCE_THREADS);
        return result;
    }

    double sum(Tensor x) {
        return reduce(x, false);
    }

    double sumSquares(Tensor x) {
        return reduce(x, true);
    }

    boolean allFinite(Tensor x) {
        cb.ensureContext();
        long n = x.numel();
        if (n == 0) return true;
        cb.countMemoryOp();
        CudaBackend.check(cuMemsetD32Async(cb.scratchPointer(CudaBackend.SCRATCH_NONFINITE), 0, 1, cb.stream()),
                "cuMemsetD32Async");
        kNonfinite.begin().ptr(cb.scratchAddress(CudaBackend.SCRATCH_NONFINITE)).ptr(cb.a(x)).i64(n)
                .launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
        return cb.readScratch(true).getInt((int) CudaBackend.SCRATCH_NONFINITE) == 0;
    }

    void sumPerSample(Tensor out, Tensor x) {
        cb.ensureContext();
        int n = x.dim(0);
        long per = x.numel() / Math.max(n, 1);
        if (out.numel() != n) throw new IllegalArgumentException("sumPerSample: out " + out.shape() + " for " + x.shape());
        if (n == 0) return;
        kSumPerSample.begin().ptr(cb.a(out)).ptr(cb.a(x)).i32(n).i64(per).launch(n, LaunchConfig.rowThreads(per));
    }
}
