package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Reshaping launchers of the CUDA backend: kernels/reshape.cu (nearest upsampling and its backward, channel concat and
 * split; CPU reference: the CpuBackend methods of the same names; conformance: {@code BackendConformance.reshaping}),
 * and {@link #transposeInner}, the layout change of the convolutions that run in NHWC ({@link ConvOps}; test:
 * {@code NhwcConvGpuTest}).
 * Templates over the element type: every tensor of an op F32, or every one BF16 ({@link DTypeStaging#uniform}).
 */
final class ReshapeOps {
    private final CudaBackend cb;
    private final KernelArgs.Typed kUpsample, kUpsampleBackward, kCopyChannels, kTranspose;

    ReshapeOps(CudaBackend cb) {
        this.cb = cb;
        kUpsample = cb.typedKernel(Kernels.UPSAMPLE_NEAREST2X);
        kUpsampleBackward = cb.typedKernel(Kernels.UPSAMPLE_NEAREST2X_BACKWARD);
        kCopyChannels = cb.typedKernel(Kernels.COPY_CHANNELS);
        kTranspose = cb.typedKernel(Kernels.TRANSPOSE_INNER);
    }

    void upsampleNearest2x(Tensor y, Tensor x) {
        cb.ensureContext();
        if (x.rank() != 4) throw new IllegalArgumentException("upsample needs [N, C, H, W], got " + x.shape());
        long nc = (long) x.dim(0) * x.dim(1);
        int h = x.dim(2), w = x.dim(3);
        if (y.numel() != 4L * x.numel()) throw new IllegalArgumentException("upsample output " + y.shape() + " for " + x.shape());
        if (x.numel() == 0) return;
        kUpsample.of(y).begin().ptr(cb.a(y)).ptr(cb.a(x)).i64(nc).i32(h).i32(w).launch(LaunchConfig.blocks(y.numel()), LaunchConfig.THREADS);
    }

    void upsampleNearest2xBackward(Tensor dx, Tensor dy) {
        cb.ensureContext();
        if (dx.rank() != 4) throw new IllegalArgumentException("upsample gradient needs [N, C, H, W], got " + dx.shape());
        long nc = (long) dx.dim(0) * dx.dim(1);
        int h = dx.dim(2), w = dx.dim(3);
        if (dy.numel() != 4L * dx.numel()) throw new IllegalArgumentException("upsample gradient " + dy.shape() + " for " + dx.shape());
        if (dx.numel() == 0) return;
        kUpsampleBackward.of(dx).begin().ptr(cb.a(dx)).ptr(cb.a(dy)).i64(nc).i32(h).i32(w).launch(LaunchConfig.blocks(dx.numel()), LaunchConfig.THREADS);
    }

    void concatChannels(Tensor out, Tensor... parts) {
        cb.ensureContext();
        int n = out.dim(0), cOut = out.shape().c();
        long sp = out.shape().spatial();
        int total = 0;
        for (Tensor p : parts) total += p.shape().c();
        if (total != cOut) throw new IllegalArgumentException("concat of " + total + " channels into " + out.shape());
        int c0 = 0;
        for (Tensor p : parts) {
            int pc = p.shape().c();
            if (p.dim(0) != n || p.shape().spatial() != sp) {
                throw new IllegalArgumentException("concat part " + p.shape() + " does not match " + out.shape());
            }
            long count = (long) n * pc * sp;
            if (count > 0) {
                kCopyChannels.of(out).begin().ptr(cb.a(out)).ptr(cb.a(p)).i32(n).i32(cOut).i32(c0).i32(pc).i32(0).i32(pc).i64(sp)
                        .launch(CudaBackend.vecBlocks(count, sp), LaunchConfig.THREADS);
            }
            c0 += pc;
        }
    }

    void splitChannels(Tensor[] parts, Tensor in) {
        cb.ensureContext();
        int n = in.dim(0), cIn = in.shape().c();
        long sp = in.shape().spatial();
        int total = 0;
        for (Tensor p : parts) total += p.shape().c();
        if (total != cIn) throw new IllegalArgumentException("split of " + cIn + " channels into parts of " + total);
        int c0 = 0;
        for (Tensor p : parts) {
            int pc = p.shape().c();
            if (p.dim(0) != n || p.shape().spatial() != sp) {
                throw new IllegalArgumentException("split part " + p.shape() + " does not match " + in.shape());
            }
            long count = (long) n * pc * sp;
            if (count > 0) {
                kCopyChannels.of(p).begin().ptr(cb.a(p)).ptr(cb.a(in)).i32(n).i32(pc).i32(0).i32(cIn).i32(c0).i32(pc).i64(sp)
                        .launch(CudaBackend.vecBlocks(count, sp), LaunchConfig.THREADS);
            }
            c0 += pc;
        }
    }

    /**
     * y[n, b, a] = x[n, a, b] for n * a * b elements of {@code dtype} at device addresses x and y (the staging
     * buffers of NHWC convolutions are not tensors): NCHW to NHWC with (a, b) = (C, H W), NHWC to NCHW with
     * (H W, C), a filter [K, C, kh, kw] to [K, kh, kw, C] with (C, kh kw). x and y must not overlap.
     */
    void transposeInner(long y, long x, DType dtype, int n, int a, int b) {
        cb.ensureContext();
        if (n < 0 || a < 0 || b < 0) throw new IllegalArgumentException("transpose of [" + n + ", " + a + ", " + b + "]");
        if (dtype != DType.F32 && dtype != DType.BF16) throw new IllegalArgumentException("transpose of " + dtype);
        long tiles = (long) n * ((a + 31) / 32) * ((b + 31) / 32);
        if (tiles == 0) return;
        kTranspose.of(dtype).begin().ptr(y).ptr(x).i32(n).i32(a).i32(b)
                .launch((int) Math.min(tiles, LaunchConfig.MAX_BLOCKS), LaunchConfig.THREADS);
    }
}
