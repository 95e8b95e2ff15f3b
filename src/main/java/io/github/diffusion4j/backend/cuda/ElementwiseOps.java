package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.Tensor;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;

/**
 * Elementwise ops of the CUDA backend: kernels/elementwise.cu (axpby, scale, mul, clamp, silu and its backward), and
 * fill and copy, which are driver calls (cuMemsetD32Async, cuMemcpyDtoDAsync; counted as memory operations). CPU
 * references: the CpuBackend methods of the same names; conformance: {@code BackendConformance.elementwise /
 * activations}.
 */
final class ElementwiseOps {
    private final CudaBackend cb;
    private final KernelArgs kAxpby, kScale, kMul, kClamp, kSilu, kSiluBackward;

    ElementwiseOps(CudaBackend cb) {
        this.cb = cb;
        kAxpby = cb.kernel(Kernels.AXPBY);
        kScale = cb.kernel(Kernels.SCALE);
        kMul = cb.kernel(Kernels.MUL);
        kClamp = cb.kernel(Kernels.CLAMP);
        kSilu = cb.kernel(Kernels.SILU);
        kSiluBackward = cb.kernel(Kernels.SILU_BACKWARD);
    }

    void fill(Tensor out, float value) {
        cb.ensureContext();
        if (out.numel() == 0) return;
        cb.countMemoryOp();
        CudaBackend.check(cuMemsetD32Async(cb.dp(out), Float.floatToRawIntBits(value), out.numel(), cb.stream()),
                "cuMemsetD32Async");
    }

    void copy(Tensor out, Tensor in) {
        cb.ensureContext();
        Check.sameSize(out, in);
        long n = in.numel();
        if (n == 0) return;
        long dst = cb.a(out), src = cb.a(in);
        if (dst == src) return;
        if (dst < src + 4 * n && src < dst + 4 * n) {
            throw new IllegalArgumentException("copy between overlapping ranges of one tensor is not supported on CUDA");
        }
        cb.countMemoryOp();
        CudaBackend.check(cuMemcpyDtoDAsync(cb.dp(out), cb.dp(in), 4 * n, cb.stream()), "cuMemcpyDtoDAsync");
    }

    void axpby(Tensor out, float alpha, Tensor a, float beta, Tensor b) {
        cb.ensureContext();
        Check.sameSize(out, a);
        Check.sameSize(out, b);
        long n = out.numel();
        if (n == 0) return;
        kAxpby.begin().ptr(cb.a(out)).ptr(cb.a(a)).ptr(cb.a(b)).i64(n).f32(alpha).f32(beta).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void scale(Tensor out, Tensor a, float s) {
        cb.ensureContext();
        Check.sameSize(out, a);
        long n = out.numel();
        if (n == 0) return;
        kScale.begin().ptr(cb.a(out)).ptr(cb.a(a)).i64(n).f32(s).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void mul(Tensor out, Tensor a, Tensor b) {
        cb.ensureContext();
        Check.sameSize(out, a);
        Check.sameSize(out, b);
        long n = out.numel();
        if (n == 0) return;
        kMul.begin().ptr(cb.a(out)).ptr(cb.a(a)).ptr(cb.a(b)).i64(n).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void clamp(Tensor out, Tensor a, float lo, float hi) {
        cb.ensureContext();
        Check.sameSize(out, a);
        long n = out.numel();
        if (n == 0) return;
        kClamp.begin().ptr(cb.a(out)).ptr(cb.a(a)).i64(n).f32(lo).f32(hi).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void silu(Tensor y, Tensor x) {
        cb.ensureContext();
        Check.sameSize(y, x);
        long n = x.numel();
        if (n == 0) return;
        kSilu.begin().ptr(cb.a(y)).ptr(cb.a(x)).i64(n).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void siluBackward(Tensor dx, Tensor dy, Tensor x) {
        cb.ensureContext();
        Check.sameSize(dx, x);
        Check.sameSize(dy, x);
        long n = x.numel();
        if (n == 0) return;
        kSiluBackward.begin().ptr(cb.a(dx)).ptr(cb.a(dy)).ptr(cb.a(x)).i64(n).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }
}
