package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Softmax launchers of the CUDA backend: kernels/softmax.cu (one block per row). CPU reference: CpuBackend.softmax and
 * softmaxBackward; conformance: {@code BackendConformance.softmax}.
 */
final class SoftmaxOps {
    private final CudaBackend cb;
    private final KernelArgs kSoftmax, kSoftmaxBackward;

    SoftmaxOps(CudaBackend cb) {
        this.cb = cb;
        kSoftmax = cb.kernel(Kernels.SOFTMAX);
        kSoftmaxBackward = cb.kernel(Kernels.SOFTMAX_BACKWARD);
    }

    void softmax(Tensor y, Tensor x) {
        cb.ensureContext();
        Check.sameSize(y, x);
        int cols = x.dim(-1);
        if (x.numel() == 0) return;
        long rows = x.numel() / cols;
        kSoftmax.begin().ptr(cb.a(y)).ptr(cb.a(x)).i64(rows).i32(cols).launch(LaunchConfig.rows(rows), LaunchConfig.rowThreads(cols));
    }

    void softmaxBackward(Tensor dx, Tensor dy, Tensor y) {
        cb.ensureContext();
        Check.sameSize(dx, y);
        Check.sameSize(dy, y);
        int cols = y.dim(-1);
        if (y.numel() == 0) return;
        long rows = y.numel() / cols;
        kSoftmaxBackward.begin().ptr(cb.a(dx)).ptr(cb.a(dy)).ptr(cb.a(y)).i64(rows).i32(cols)
                .launch(LaunchConfig.rows(rows), LaunchConfig.rowThreads(cols));
    }
}
