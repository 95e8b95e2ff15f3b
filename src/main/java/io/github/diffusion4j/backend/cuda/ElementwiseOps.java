package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Rounding;
import io.github.diffusion4j.tensor.Tensor;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD16Async;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;

/**
 * Elementwise ops of the CUDA backend: kernels/elementwise.cu (axpby, scale, mul, clamp, silu and its backward, each
 * for F32 tensors and for BF16 tensors, and the conversions between the two), and fill and a same-dtype copy, which
 * are driver calls (cuMemsetD32/D16Async, cuMemcpyDtoDAsync; counted as memory operations). CPU references: the
 * CpuBackend methods of the same names; conformance: {@code BackendConformance.elementwise / activations}, and
 * {@code CudaBf16GpuTest} for the bf16 kernels.
 */
final class ElementwiseOps {
    private final CudaBackend cb;
    private final KernelArgs.Typed kAxpby, kScale, kMul, kClamp, kSilu, kSiluBackward;
    private final KernelArgs kToBf16, kToF32, kAccumulate;

    ElementwiseOps(CudaBackend cb) {
        this.cb = cb;
        kAxpby = cb.typedKernel(Kernels.AXPBY);
        kScale = cb.typedKernel(Kernels.SCALE);
        kMul = cb.typedKernel(Kernels.MUL);
        kClamp = cb.typedKernel(Kernels.CLAMP);
        kSilu = cb.typedKernel(Kernels.SILU);
        kSiluBackward = cb.typedKernel(Kernels.SILU_BACKWARD);
        kToBf16 = cb.kernel(Kernels.CONVERT_F32_BF16);
        kToF32 = cb.kernel(Kernels.CONVERT_BF16_F32);
        kAccumulate = cb.kernel(Kernels.ACCUMULATE_BF16_F32);
    }

    /** The elementwise kernels run on tensors of one dtype, F32 or BF16 (DTypeStaging converts mixed ones). */
    static boolean handles(Tensor[] t) { return DTypeStaging.uniform(t); }

    void fill(Tensor out, float value) {
        cb.ensureContext();
        if (out.numel() == 0) return;
        cb.countMemoryOp();
        switch (out.dtype()) {
            case F32 -> CudaBackend.check(cuMemsetD32Async(cb.dp(out), Float.floatToRawIntBits(value), out.numel(),
                    cb.stream()), "cuMemsetD32Async");
            case BF16 -> CudaBackend.check(cuMemsetD16Async(cb.dp(out), Rounding.toBf16Bits(value), out.numel(),
                    cb.stream()), "cuMemsetD16Async");
            default -> Check.supported(cb, out.dtype());
        }
    }

    /** out = in: a device-to-device copy in one dtype, a conversion kernel between F32 and BF16. */
    void copy(Tensor out, Tensor in) {
        cb.ensureContext();
        Check.sameSize(out, in);
        long n = in.numel();
        if (n == 0) return;
        long dst = cb.a(out), src = cb.a(in);
        if (dst == src && out.dtype() == in.dtype()) return;
        long ob = out.dtype().bytes() * n, ib = in.dtype().bytes() * n;
        if (dst < src + ib && src < dst + ob) {
            throw new IllegalArgumentException("copy between overlapping ranges of one tensor is not supported on CUDA");
        }
        if (out.dtype() == in.dtype()) {
            cb.countMemoryOp();
            CudaBackend.check(cuMemcpyDtoDAsync(cb.dp(out), cb.dp(in), ob, cb.stream()), "cuMemcpyDtoDAsync");
        } else {
            convert(out, in);
        }
    }

    /** out += in for an F32 out and a BF16 in of its size (a bf16 filter gradient into the FP32 gradient). */
    void accumulate(Tensor out, Tensor in) {
        cb.ensureContext();
        Check.sameSize(out, in);
        Check.dtype("accumulate (sum)", DType.F32, out);
        Check.dtype("accumulate (addend)", DType.BF16, in);
        long n = in.numel();
        if (n == 0) return;
        kAccumulate.begin().ptr(cb.a(out)).ptr(cb.a(in)).i64(n).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    /** out = in converted between F32 and BF16 (checked: same size, one of each). */
    void convert(Tensor out, Tensor in) {
        long n = in.numel();
        if (out.dtype() == DType.BF16 && in.dtype() == DType.F32) {
            kToBf16.begin().ptr(cb.a(out)).ptr(cb.a(in)).i64(n).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
        } else if (out.dtype() == DType.F32 && in.dtype() == DType.BF16) {
            kToF32.begin().ptr(cb.a(out)).ptr(cb.a(in)).i64(n).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
        } else {
            throw new IllegalArgumentException("no conversion from " + in.dtype() + " to " + out.dtype());
        }
    }

    void axpby(Tensor out, float alpha, Tensor a, float beta, Tensor b) {
        cb.ensureContext();
        Check.sameSize(out, a);
        Check.sameSize(out, b);
        long n = out.numel();
        if (n == 0) return;
        kAxpby.of(out).begin().ptr(cb.a(out)).ptr(cb.a(a)).ptr(cb.a(b)).i64(n).f32(alpha).f32(beta).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void scale(Tensor out, Tensor a, float s) {
        cb.ensureContext();
        Check.sameSize(out, a);
        long n = out.numel();
        if (n == 0) return;
        kScale.of(out).begin().ptr(cb.a(out)).ptr(cb.a(a)).i64(n).f32(s).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void mul(Tensor out, Tensor a, Tensor b) {
        cb.ensureContext();
        Check.sameSize(out, a);
        Check.sameSize(out, b);
        long n = out.numel();
        if (n == 0) return;
        kMul.of(out).begin().ptr(cb.a(out)).ptr(cb.a(a)).ptr(cb.a(b)).i64(n).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void clamp(Tensor out, Tensor a, float lo, float hi) {
        cb.ensureContext();
        Check.sameSize(out, a);
        long n = out.numel();
        if (n == 0) return;
        kClamp.of(out).begin().ptr(cb.a(out)).ptr(cb.a(a)).i64(n).f32(lo).f32(hi).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void silu(Tensor y, Tensor x) {
        cb.ensureContext();
        Check.sameSize(y, x);
        long n = x.numel();
        if (n == 0) return;
        kSilu.of(y).begin().ptr(cb.a(y)).ptr(cb.a(x)).i64(n).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void siluBackward(Tensor dx, Tensor dy, Tensor x) {
        cb.ensureContext();
        Check.sameSize(dx, x);
        Check.sameSize(dy, x);
        long n = x.numel();
        if (n == 0) return;
        kSiluBackward.of(dx).begin().ptr(cb.a(dx)).ptr(cb.a(dy)).ptr(cb.a(x)).i64(n).launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }
}
