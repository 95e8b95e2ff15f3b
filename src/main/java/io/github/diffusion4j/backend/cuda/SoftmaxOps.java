package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.Tensor;

import java.util.function.Predicate;

/**
 * Softmax launchers of the CUDA backend: kernels/softmax.cu (one block per row). CPU reference: CpuBackend.softmax and
 * softmaxBackward; conformance: {@code BackendConformance.softmax}. Templates over the probabilities' dtype (y and dx,
 * F32 or BF16; {@link #SOFTMAX} / {@link #SOFTMAX_BACKWARD}): the scores x and the probabilities' gradient dy stay F32,
 * as SelfAttention keeps them.
 */
final class SoftmaxOps {
    private final CudaBackend cb;
    /** The dtypes d4j_softmax takes: y (position 0) F32 or BF16, x F32. */
    static final Predicate<Tensor[]> SOFTMAX = DTypeStaging.activationsAt(0);
    /** The dtypes d4j_softmax_backward takes: dx and y (positions 0 and 2) of one dtype, F32 or BF16; dy F32. */
    static final Predicate<Tensor[]> SOFTMAX_BACKWARD = DTypeStaging.activationsAt(0, 2);

    private final KernelArgs.Typed kSoftmax, kSoftmaxBackward;

    SoftmaxOps(CudaBackend cb) {
        this.cb = cb;
        kSoftmax = cb.typedKernel(Kernels.SOFTMAX);
        kSoftmaxBackward = cb.typedKernel(Kernels.SOFTMAX_BACKWARD);
    }

    void softmax(Tensor y, Tensor x) {
        cb.ensureContext();
        Check.sameSize(y, x);
        int cols = x.dim(-1);
        if (x.numel() == 0) return;
        long rows = x.numel() / cols;
        kSoftmax.of(y).begin().ptr(cb.a(y)).ptr(cb.a(x)).i64(rows).i32(cols).launch(LaunchConfig.rows(rows), LaunchConfig.rowThreads(cols));
    }

    void softmaxBackward(Tensor dx, Tensor dy, Tensor y) {
        cb.ensureContext();
        Check.sameSize(dx, y);
        Check.sameSize(dy, y);
        int cols = y.dim(-1);
        if (y.numel() == 0) return;
        long rows = y.numel() / cols;
        kSoftmaxBackward.of(dx).begin().ptr(cb.a(dx)).ptr(cb.a(dy)).ptr(cb.a(y)).i64(rows).i32(cols)
                .launch(LaunchConfig.rows(rows), LaunchConfig.rowThreads(cols));
    }
}
