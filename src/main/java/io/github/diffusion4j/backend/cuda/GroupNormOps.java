package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The GroupNorm launchers of the CUDA backend: kernels/groupnorm.cu ({@code d4j_group_norm_*}), whose CPU reference is
 * {@code backend/cpu/CpuGroupNorm} and whose conformance test is {@code BackendConformance.groupNorm / groupNormSilu}.
 * The SiLU, the dropout mask, the input offsets (a convolution's bias and the time embedding) and a residual
 * gradient's add are built into the two kernels, so {@code groupNormSilu} is one pass each way. They are templates
 * over the activations' dtype: x, y, dy, dx and the addend F32 or BF16, everything else F32
 * ({@code DTypeStaging.activationsAt} in CudaBackend's dispatch).
 */
final class GroupNormOps {
    private final CudaBackend cb;
    private final KernelArgs.Typed kGroupNorm, kGroupNormBackward, kGroupNormOffset, kGroupNormBackwardOffset;

    GroupNormOps(CudaBackend cb) {
        this.cb = cb;
        kGroupNorm = cb.typedKernel(Kernels.GROUP_NORM_FORWARD);
        kGroupNormBackward = cb.typedKernel(Kernels.GROUP_NORM_BACKWARD);
        kGroupNormOffset = cb.typedKernel(Kernels.GROUP_NORM_FORWARD_OFFSET);
        kGroupNormBackwardOffset = cb.typedKernel(Kernels.GROUP_NORM_BACKWARD_OFFSET);
    }

    void groupNorm(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups, float eps) {
        groupNormForward(y, mean, rstd, x, gamma, beta, groups, eps, false);
    }

    void groupNormBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor mean, Tensor rstd,
                           Tensor gamma, int groups) {
        groupNormBackward(dx, dGamma, dBeta, dy, x, null, null, mean, rstd, gamma, null, groups, null);
    }

    /** d4j_group_norm_* have the SiLU (and the dropout) built in (fuseSilu = 1): one pass each way. */
    void groupNormSilu(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor xBias, Tensor xAdd, Tensor gamma,
                       Tensor beta, int groups, float eps, float p, long seed, long offset) {
        groupNormForward(y, mean, rstd, x, xBias, xAdd, gamma, beta, groups, eps, true, p, seed, offset);
    }

    void groupNormSiluBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor xBias, Tensor xAdd,
                               Tensor mean, Tensor rstd, Tensor gamma, Tensor beta, int groups, float eps,
                               Tensor addend) {
        if (addend != null) Check.sameSize(addend, x);
        groupNormBackward(dx, dGamma, dBeta, dy, x, xBias, xAdd, mean, rstd, gamma, beta, groups, addend);
    }

    private void groupNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups,
                                  float eps, boolean silu) {
        groupNormForward(y, mean, rstd, x, null, null, gamma, beta, groups, eps, silu, 0f, 0L, 0L);
    }

    /** xBias == null: GroupNorm of x; else of (x + xBias[c]) + xAdd[n, c] (d4j_group_norm_forward_offset). */
    private void groupNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor xBias, Tensor xAdd, Tensor gamma,
                                  Tensor beta, int groups, float eps, boolean silu, float dropP, long dropSeed,
                                  long dropOffset) {
        cb.ensureContext();
        Check.dropout(dropP);
        Check.groupNormOffsets(x, xBias, xAdd);
        Check.groupNorm(y, mean, rstd, x, gamma, beta, groups);
        int n = x.dim(0), c = x.shape().c();
        long sp = x.shape().spatial();
        if (x.numel() == 0) return;
        checkGroupSize(c / groups * sp);
        float keep = dropP > 0f ? 1f / (1f - dropP) : 1f;
        // statistics from one read of the group (the CPU's two passes were slower on the H200:
        // bench/results/gpu-2026-11-27-h200-stop12)
        int grid = LaunchConfig.rows((long) n * groups), threads = LaunchConfig.rowThreads(c / groups * sp);
        if (xBias == null) {
            kGroupNorm.of(x).begin().ptr(cb.a(y)).ptr(cb.a(mean)).ptr(cb.a(rstd)).ptr(cb.a(x)).ptr(cb.a(gamma)).ptr(cb.a(beta)).i32(n).i32(c)
                    .i64(sp).i32(groups).f32(eps).i32(silu ? 1 : 0).f32(dropP).f32(keep).i64(dropSeed)
                    .i64(dropOffset).launch(grid, threads);
        } else {
            kGroupNormOffset.of(x).begin().ptr(cb.a(y)).ptr(cb.a(mean)).ptr(cb.a(rstd)).ptr(cb.a(x)).ptr(cb.a(xBias)).ptr(cb.a(xAdd))
                    .ptr(cb.a(gamma)).ptr(cb.a(beta)).i32(n).i32(c).i64(sp).i32(groups).f32(eps)
                    .i32(silu ? 1 : 0).f32(dropP).f32(keep).i64(dropSeed).i64(dropOffset).launch(grid, threads);
        }
    }

    /** The GroupNorm kernels find an element's channel within its group with 32-bit division. */
    private static void checkGroupSize(long elements) {
        if (elements >= (1L << 32)) throw new IllegalArgumentException("groupNorm: a group of " + elements
                + " elements is too large for the CUDA kernels (at most 2^32 - 1)");
    }

    /** beta == null: plain GroupNorm; otherwise dy is the gradient at silu(groupNorm(x)) (fuseSilu = 1). */
    private void groupNormBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor xBias,
                                   Tensor xAdd, Tensor mean, Tensor rstd, Tensor gamma, Tensor beta, int groups,
                                   Tensor addend) {
        cb.ensureContext();
        Check.groupNormOffsets(x, xBias, xAdd);
        Check.groupNorm(dx, mean, rstd, x, gamma, beta, groups);
        Check.sameSize(dy, x);
        int n = x.dim(0), c = x.shape().c();
        long sp = x.shape().spatial();
        if (x.numel() == 0) return;
        checkGroupSize(c / groups * sp);
        long betaPtr = cb.an(beta);
        int fuse = beta == null ? 0 : 1;
        // one kernel: the parameter gradients' per-(n, c) partials and dx (which may alias dy), then the per-channel
        // pass into dGamma and dBeta
        long nc = (long) n * c;
        long partials = cb.scratchArena().allocate(16 * nc).address();
        int grid = LaunchConfig.rows((long) n * groups), threads = LaunchConfig.rowThreads(c / groups * sp);
        if (xBias == null) {
            kGroupNormBackward.of(x).begin().ptr(partials).ptr(cb.a(dx)).ptr(cb.a(dy)).ptr(cb.an(addend)).ptr(cb.a(x)).ptr(cb.a(mean))
                    .ptr(cb.a(rstd)).ptr(cb.a(gamma)).ptr(betaPtr).i32(n).i32(c).i64(sp).i32(groups).i32(fuse)
                    .launch(grid, threads);
        } else {
            kGroupNormBackwardOffset.of(x).begin().ptr(partials).ptr(cb.a(dx)).ptr(cb.a(dy)).ptr(cb.an(addend)).ptr(cb.a(x))
                    .ptr(cb.a(xBias)).ptr(cb.a(xAdd)).ptr(cb.a(mean)).ptr(cb.a(rstd)).ptr(cb.a(gamma)).ptr(betaPtr).i32(n).i32(c)
                    .i64(sp).i32(groups).i32(fuse).launch(grid, threads);
        }
        cb.broadcastOps.channelSums(cb.a(dGamma), cb.a(dBeta), partials, n, c);
    }
}
