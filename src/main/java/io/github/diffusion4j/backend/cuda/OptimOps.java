package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.tensor.UpdateGate;

/**
 * The optimiser launchers of the CUDA backend: kernels/optim.cu (the update's gate, decided by one thread from the
 * gradients' sum of squares; AdamW over the flat parameter buffer in one pass; the EMA), all reading their scalars
 * from the gate on the device, so an update needs nothing from the host. CPU reference: CpuBackend.updateGate
 * ({@link UpdateGate#decide}), adamw and emaUpdate; conformance: {@code BackendConformance.adamw} and
 * {@code updateGate}.
 */
final class OptimOps {
    private final CudaBackend cb;
    private final ReduceOps reduceOps;
    private final KernelArgs.Typed kAdamw;
    private final KernelArgs kEma, kGate;

    OptimOps(CudaBackend cb, ReduceOps reduceOps) {
        this.cb = cb;
        this.reduceOps = reduceOps;
        kAdamw = cb.typedKernel(Kernels.ADAMW);
        kEma = cb.kernel(Kernels.EMA);
        kGate = cb.kernel(Kernels.UPDATE_GATE);
    }

    void updateGate(Tensor gate, Tensor grads, UpdateGate g) {
        cb.ensureContext();
        Check.updateGate(gate, grads);
        long sum = reduceOps.queueSum(grads, true);   // the sum of squares stays on the device
        kGate.begin().ptr(cb.a(gate)).ptr(sum).f32(g.gradClip()).i32(g.microBatches()).f32(g.beta1()).f32(g.beta2())
                .i32(g.emaWarmup()).f32(g.emaTarget()).f64(g.emaPower()).f64(g.emaInvGamma()).launch(1, 1);
    }

    /** The masters, gradients and moments are F32; the weight copy (or none) F32 or BF16 (d4j_adamw_bf16). */
    static boolean adamwHandles(Tensor[] t) {
        return t[1] == null || t[1].dtype() == DType.F32 || t[1].dtype() == DType.BF16;
    }

    void adamw(Tensor params, Tensor paramsCopy, Tensor grads, Tensor m, Tensor v, Tensor decayMask, float lr,
               float beta1, float beta2, float eps, float weightDecay, Tensor gate) {
        cb.ensureContext();
        Check.adamw(params, paramsCopy, grads, m, v, decayMask, gate);
        long n = params.numel();
        if (n == 0) return;
        kAdamw.of(paramsCopy == null ? params : paramsCopy).begin().ptr(cb.a(params)).ptr(cb.an(paramsCopy)).ptr(cb.a(grads)).ptr(cb.a(m)).ptr(cb.a(v))
                .ptr(cb.an(decayMask)).i64(n).f32(lr).f32(beta1).f32(beta2).f32(eps).f32(weightDecay).ptr(cb.a(gate))
                .launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }

    void emaUpdate(Tensor shadow, Tensor params, Tensor gate) {
        cb.ensureContext();
        Check.emaUpdate(shadow, params, gate);
        long n = params.numel();
        if (n == 0) return;
        kEma.begin().ptr(cb.a(shadow)).ptr(cb.a(params)).i64(n).ptr(cb.a(gate))
                .launch(LaunchConfig.blocks(n), LaunchConfig.THREADS);
    }
}
