package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Per-channel and per-sample broadcast launchers of the CUDA backend: kernels/broadcast.cu (bias adds, the bias adds
 * joined with a residual or the time embedding, scale-shift, and the two-pass per-channel sums that bias and
 * GroupNorm parameter gradients use). CPU references: the CpuBackend methods of the same names; conformance:
 * {@code BackendConformance.broadcasts}.
 */
final class BroadcastOps {
    private final CudaBackend cb;
    private final KernelArgs.Typed kAddBias, kAddPerSampleChannel, kAddBiasAdd, kAddBiasPerSampleChannel, kScaleShift,
            kPlaneSums;
    private final KernelArgs kChannelSums;
    private final KernelArgs.Typed kPerSampleChannelSum, kScaleShiftBackward;

    BroadcastOps(CudaBackend cb) {
        this.cb = cb;
        kAddBias = cb.typedKernel(Kernels.ADD_BIAS);
        kPlaneSums = cb.typedKernel(Kernels.PLANE_SUMS);
        kChannelSums = cb.kernel(Kernels.CHANNEL_SUMS);
        kAddPerSampleChannel = cb.typedKernel(Kernels.ADD_PER_SAMPLE_CHANNEL);
        kAddBiasAdd = cb.typedKernel(Kernels.ADD_BIAS_ADD);
        kAddBiasPerSampleChannel = cb.typedKernel(Kernels.ADD_BIAS_PER_SAMPLE_CHANNEL);
        kPerSampleChannelSum = cb.typedKernel(Kernels.PER_SAMPLE_CHANNEL_SUM);
        kScaleShift = cb.typedKernel(Kernels.SCALE_SHIFT);
        kScaleShiftBackward = cb.typedKernel(Kernels.SCALE_SHIFT_BACKWARD);
    }

    /**
     * The broadcasts run natively on activations (out, in, and a residual other) of one dtype, F32 or BF16, with F32
     * per-channel and per-sample values (bias, time embedding, scale, shift): tensor 0 is out, tensor 1 in, and
     * {@code activations} lists the positions of the other activation tensors.
     */
    static boolean handles(Tensor[] t, int... activations) {
        int[] all = new int[activations.length + 2];
        all[1] = 1;
        System.arraycopy(activations, 0, all, 2, activations.length);
        return t[0] != null && t[1] != null && DTypeStaging.activations(t, all);
    }

    /** biasGrad (dBias, dOut) runs natively into an F32 bias gradient from an F32 or BF16 output gradient. */
    static boolean biasGradHandles(Tensor[] t) {
        return t[0].dtype() == DType.F32 && (t[1].dtype() == DType.F32 || t[1].dtype() == DType.BF16);
    }

    /** Blocks of a broadcast over n elements in rows of sp: float4 groups for F32, one element per thread for BF16. */
    private static int blocks(Tensor out, long n, long sp) {
        return out.dtype() == DType.F32 ? CudaBackend.vecBlocks(n, sp) : LaunchConfig.blocks(n);
    }

    /**
     * The checks shared by the per-channel bias broadcasts over in [N, C, *spatial]: out of in's size, bias of C
     * values. Returns whether there is anything to compute.
     */
    private boolean biasBroadcast(Tensor out, Tensor in, Tensor bias) {
        cb.ensureContext();
        Check.sameSize(out, in);
        if (bias.numel() != in.shape().c()) throw new IllegalArgumentException("bias " + bias.shape() + " for " + in.shape());
        return in.numel() != 0;
    }

    void addBias(Tensor out, Tensor in, Tensor bias) {
        if (!biasBroadcast(out, in, bias)) return;
        long sp = in.shape().spatial();
        kAddBias.of(out).begin().ptr(cb.a(out)).ptr(cb.a(in)).ptr(cb.a(bias)).i32(in.dim(0)).i32(in.shape().c()).i64(sp)
                .launch(blocks(out, in.numel(), sp), LaunchConfig.THREADS);
    }

    void biasGrad(Tensor dBias, Tensor dOut) {
        cb.ensureContext();
        int n = dOut.dim(0), c = dOut.shape().c();
        long sp = dOut.shape().spatial();
        if (dBias.numel() != c) throw new IllegalArgumentException("bias grad " + dBias.shape() + " for " + dOut.shape());
        if (n == 0 || c == 0) return;
        // per (n, c) plane sums in double, then per channel over n: N C blocks fill the GPU where C did not
        long nc = (long) n * c;
        long partials = cb.scratchArena().allocate(8 * nc).address();
        // a thread per plane of at most 8 elements, else a warp per plane (8 per block of 256)
        long units = sp <= 8 ? nc : (nc + 7) / 8 * LaunchConfig.THREADS;
        kPlaneSums.of(dOut).begin().ptr(partials).ptr(cb.a(dOut)).i64(nc).i64(sp).launch(LaunchConfig.blocks(units), LaunchConfig.THREADS);
        channelSums(cb.a(dBias), 0L, partials, n, c);
    }

    /** d4j_channel_sums: the per-channel second pass of bias and GroupNorm parameter gradients (see the kernel). */
    void channelSums(long dstA, long dstB, long partials, int n, int c) {
        kChannelSums.begin().ptr(dstA).ptr(dstB).ptr(partials).i32(n).i32(c)
                .launch((c + 31) / 32, CHANNEL_SUMS_THREADS);
    }

    /** 32 channels times 32 slices of the samples per block of d4j_channel_sums. */
    private static final int CHANNEL_SUMS_THREADS = 1024;

    void addBiasAdd(Tensor out, Tensor in, Tensor bias, Tensor other, Tensor otherBias) {
        boolean work = biasBroadcast(out, in, bias);
        Check.sameSize(other, in);
        if (otherBias != null && otherBias.numel() != in.shape().c()) {
            throw new IllegalArgumentException("bias " + otherBias.shape() + " for " + other.shape());
        }
        if (!work) return;
        long sp = in.shape().spatial();
        kAddBiasAdd.of(out).begin().ptr(cb.a(out)).ptr(cb.a(in)).ptr(cb.a(bias)).ptr(cb.a(other)).ptr(cb.an(otherBias)).i32(in.dim(0))
                .i32(in.shape().c()).i64(sp).launch(blocks(out, in.numel(), sp), LaunchConfig.THREADS);
    }

    void addBiasPerSampleChannel(Tensor out, Tensor in, Tensor bias, Tensor v) {
        boolean work = biasBroadcast(out, in, bias);
        int n = in.dim(0), c = in.shape().c();
        if (v.numel() != (long) n * c) throw new IllegalArgumentException("per-sample-channel values " + v.shape() + " for " + in.shape());
        if (!work) return;
        long sp = in.shape().spatial();
        kAddBiasPerSampleChannel.of(out).begin().ptr(cb.a(out)).ptr(cb.a(in)).ptr(cb.a(bias)).ptr(cb.a(v)).i32(n).i32(c).i64(sp)
                .launch(blocks(out, in.numel(), sp), LaunchConfig.THREADS);
    }

    void addPerSampleChannel(Tensor out, Tensor in, Tensor v) {
        cb.ensureContext();
        Check.sameSize(out, in);
        long nc = (long) in.dim(0) * in.shape().c(), sp = in.shape().spatial();
        if (v.numel() != nc) throw new IllegalArgumentException("per-channel vector " + v.shape() + " for " + in.shape());
        if (nc * sp == 0) return;
        kAddPerSampleChannel.of(out).begin().ptr(cb.a(out)).ptr(cb.a(in)).ptr(cb.a(v)).i64(nc).i64(sp).launch(blocks(out, nc * sp, sp), LaunchConfig.THREADS);
    }

    void perSampleChannelSum(Tensor dv, Tensor dOut) {
        cb.ensureContext();
        long nc = (long) dOut.dim(0) * dOut.shape().c(), sp = dOut.shape().spatial();
        if (dv.numel() != nc) throw new IllegalArgumentException("per-channel grad " + dv.shape() + " for " + dOut.shape());
        if (nc == 0) return;
        kPerSampleChannelSum.of(dOut).begin().ptr(cb.a(dv)).ptr(cb.a(dOut)).i64(nc).i64(sp)
                .launch(LaunchConfig.rows(nc), LaunchConfig.rowThreads(sp));
    }

    void scaleShift(Tensor out, Tensor in, Tensor scale, Tensor shift) {
        cb.ensureContext();
        Check.sameSize(out, in);
        long nc = (long) in.dim(0) * in.shape().c(), sp = in.shape().spatial();
        if (scale.numel() != nc || shift.numel() != nc) {
            throw new IllegalArgumentException("scale/shift " + scale.shape() + " for " + in.shape());
        }
        if (nc * sp == 0) return;
        kScaleShift.of(out).begin().ptr(cb.a(out)).ptr(cb.a(in)).ptr(cb.a(scale)).ptr(cb.a(shift)).i64(nc).i64(sp)
                .launch(LaunchConfig.blocks(nc * sp), LaunchConfig.THREADS);
    }

    void scaleShiftBackward(Tensor dIn, Tensor dScale, Tensor dShift, Tensor dOut, Tensor in, Tensor scale) {
        cb.ensureContext();
        long nc = (long) in.dim(0) * in.shape().c(), sp = in.shape().spatial();
        Check.sameSize(dIn, in);
        Check.sameSize(dOut, in);
        if (dScale.numel() != nc || dShift.numel() != nc || scale.numel() != nc) {
            throw new IllegalArgumentException("scaleShiftBackward: per-channel tensors must have " + nc + " values");
        }
        if (nc == 0) return;
        kScaleShiftBackward.of(dOut).begin().ptr(cb.a(dIn)).ptr(cb.a(dScale)).ptr(cb.a(dShift)).ptr(cb.a(dOut)).ptr(cb.a(in)).ptr(cb.a(scale))
                .i64(nc).i64(sp).launch(LaunchConfig.rows(nc), LaunchConfig.rowThreads(sp));
    }
}
