package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Tensor;

/**
 * The model seen by samplers and guidance: a network that, given a noisy batch x_t, its timesteps and optional
 * class labels, predicts epsilon, x0 or v (whatever the scheduler's {@code prediction_type} says). The U-Net
 * implements it.
 *
 * <p>Contract: the result has the shape of {@code xt} and lives on the same backend; the caller does not close it,
 * and it stays valid until the next call of {@code predict} on the same denoiser (so a model may return a buffer
 * it reuses).
 */
@FunctionalInterface
public interface Denoiser {
    /**
     * @param xt        noisy samples [N, C, H, W]
     * @param timesteps [N] timesteps (integral values as floats, 0 ... T-1)
     * @param labels    [N] class ids as floats, or null for an unconditional model
     */
    Tensor predict(Tensor xt, Tensor timesteps, Tensor labels);
}
