package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The fused diffusion launchers of the CUDA backend: kernels/diffusion.cu (qSample, drawTimesteps, diffusionStep,
 * repaintBlend, mseLoss, vlbLoss, dynamicThreshold, one kernel each), whose CPU references are the CpuBackend methods of the same names and whose
 * conformance tests carry the same names in {@code BackendConformance}.
 */
final class DiffusionOps {
    private final CudaBackend cb;
    private final KernelArgs kQSample, kDrawTimesteps, kDiffusionStep, kRepaintBlend, kMseLoss, kDynamicThreshold, kVlbLoss;

    DiffusionOps(CudaBackend cb) {
        this.cb = cb;
        kQSample = cb.kernel(Kernels.Q_SAMPLE);
        kDiffusionStep = cb.kernel(Kernels.DIFFUSION_STEP);
        kRepaintBlend = cb.kernel(Kernels.REPAINT_BLEND);
        kMseLoss = cb.kernel(Kernels.MSE_LOSS);
        kDrawTimesteps = cb.kernel(Kernels.DRAW_TIMESTEPS);
        kDynamicThreshold = cb.kernel(Kernels.DYNAMIC_THRESHOLD);
        kVlbLoss = cb.kernel(Kernels.VLB_LOSS);
    }

    /** One block per sample, as mseLoss. */
    void vlbLoss(Tensor vb, Tensor dV, Tensor x0, Tensor xt, Tensor pred, Tensor v, Tensor coefs, float gradScale) {
        cb.ensureContext();
        Check.vlbLoss(vb, dV, x0, xt, pred, v, coefs);
        int n = x0.dim(0);
        long per = x0.numel() / n;
        kVlbLoss.begin().ptr(cb.a(vb)).ptr(cb.an(dV)).ptr(cb.a(x0)).ptr(cb.a(xt)).ptr(cb.a(pred)).ptr(cb.a(v)).ptr(cb.a(coefs))
                .i32(n).i64(per).f32(gradScale).launch(LaunchConfig.rows(n), LaunchConfig.rowThreads(per));
    }

    /** One block per sample: radix selection of the quantile, then the clamp and scale. */
    void dynamicThreshold(Tensor x, float ratio, float maxValue) {
        cb.ensureContext();
        Check.dynamicThreshold(x, ratio, maxValue);
        int n = x.dim(0);
        kDynamicThreshold.begin().ptr(cb.a(x)).i32(n).i64(x.numel() / n).f32(ratio).f32(maxValue)
                .launch(LaunchConfig.rows(n), LaunchConfig.rowThreads(x.numel() / n));
    }

    void qSample(Tensor xt, Tensor target, Tensor x0, Tensor noise, Tensor t, Tensor sqrtAlphaBar,
                 Tensor sqrtOneMinusAlphaBar, int targetType, long seed, long offset) {
        cb.ensureContext();
        Check.sameSize(xt, x0);
        if (target != null) Check.sameSize(target, x0);
        if (noise != null) Check.sameSize(noise, x0);
        long n = t.numel(), total = x0.numel();
        if (n == 0 || total % n != 0) throw new IllegalArgumentException("qSample: " + n + " timesteps for tensor " + x0.shape());
        if (target != null && targetType != Backend.TARGET_EPSILON && targetType != Backend.TARGET_SAMPLE && targetType != Backend.TARGET_V) {
            throw new IllegalArgumentException("qSample: unknown target type " + targetType);
        }
        long steps = sqrtAlphaBar.numel();
        if (sqrtOneMinusAlphaBar.numel() != steps) throw new IllegalArgumentException("qSample: tables differ in length");
        if (total == 0) return;
        long off = noise == null ? offset : 0L;   // the offset only matters when noise is drawn here
        kQSample.begin().ptr(cb.a(xt)).ptr(cb.an(target)).ptr(cb.a(x0)).ptr(cb.an(noise)).ptr(cb.a(t)).ptr(cb.a(sqrtAlphaBar))
                .ptr(cb.a(sqrtOneMinusAlphaBar)).ptr(cb.errorWordAddress()).i64(total).i64(total / n)
                .i32((int) steps).i32(targetType).i64(seed).i64(off)
                .launch(LaunchConfig.philoxBlocks(total, off), LaunchConfig.THREADS);
    }

    /** One thread walks the Philox stream (rejection sampling makes each draw depend on the ones before). */
    void drawTimesteps(Tensor t, Tensor weights, Tensor weightTable, long seed, long position) {
        cb.ensureContext();
        Check.drawTimesteps(t, weights, weightTable);
        if (t.numel() == 0) return;
        kDrawTimesteps.begin().ptr(cb.a(t)).ptr(cb.an(weights)).ptr(cb.a(weightTable)).i32((int) t.numel())
                .i32((int) weightTable.numel()).i64(seed).i64(position).launch(1, 1);
    }

    void diffusionStep(Tensor prev, Tensor predX0, Tensor sample, Tensor modelOut, Tensor prevX0, StepCoefficients k,
                       long seed, long offset) {
        cb.ensureContext();
        Check.diffusionStep(prev, predX0, sample, modelOut, prevX0, k);
        long n = sample.numel();
        if (n == 0) return;
        long off = k.drawsNoise() ? offset : 0L;
        long per = k.learnedVariance() ? n / sample.dim(0) : 0L;
        kDiffusionStep.begin().ptr(cb.a(prev)).ptr(cb.an(predX0)).ptr(cb.a(sample)).ptr(cb.a(modelOut)).ptr(cb.an(prevX0)).i64(n)
                .f32(k.x0FromSample()).f32(k.x0FromModel()).i32(k.clip() ? 1 : 0).f32(k.clipRange()).f32(k.a())
                .f32(k.b()).f32(k.c()).f32(k.d()).f32(k.sigma()).i64(per).f32(k.lvBase()).f32(k.lvScale()).i64(seed).i64(off)
                .launch(LaunchConfig.philoxBlocks(n, off), LaunchConfig.THREADS);
    }

    void repaintBlend(Tensor out, Tensor sample, Tensor original, Tensor keepMask, float sqrtAlphaBar,
                      float sqrtOneMinusAlphaBar, long seed, long offset) {
        cb.ensureContext();
        Check.sameSize(out, sample);
        Check.sameSize(original, sample);
        long total = sample.numel(), masks = keepMask.numel();
        if (masks == 0 || total % masks != 0) {
            throw new IllegalArgumentException("repaintBlend: mask " + keepMask.shape() + " does not tile " + sample.shape());
        }
        if (total == 0) return;
        long off = sqrtOneMinusAlphaBar != 0f ? offset : 0L;
        kRepaintBlend.begin().ptr(cb.a(out)).ptr(cb.a(sample)).ptr(cb.a(original)).ptr(cb.a(keepMask)).i64(total).i64(masks)
                .f32(sqrtAlphaBar).f32(sqrtOneMinusAlphaBar).i64(seed).i64(off)
                .launch(LaunchConfig.philoxBlocks(total, off), LaunchConfig.THREADS);
    }

    void mseLoss(Tensor mse, Tensor dOut, Tensor modelOut, Tensor target, Tensor weights, float gradScale) {
        cb.ensureContext();
        Check.sameSize(modelOut, target);
        if (dOut != null) Check.sameSize(dOut, modelOut);
        long n = mse.numel(), total = modelOut.numel();
        if (n == 0 || total % n != 0) throw new IllegalArgumentException("mseLoss: " + n + " samples for " + modelOut.shape());
        if (weights != null && weights.numel() != n) throw new IllegalArgumentException("mseLoss: weights " + weights.shape());
        long per = total / n;
        kMseLoss.begin().ptr(cb.a(mse)).ptr(cb.an(dOut)).ptr(cb.a(modelOut)).ptr(cb.a(target)).ptr(cb.an(weights)).i32((int) n)
                .i64(per).f32(gradScale).launch(LaunchConfig.rows(n), LaunchConfig.rowThreads(per));
    }
}
