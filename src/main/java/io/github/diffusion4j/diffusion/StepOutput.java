package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Tensor;

/**
 * The result of a scheduler step (diffusers' {@code SchedulerOutput}): the sample at the previous (less noisy)
 * timestep and the model's estimate of the clean sample x0 at this step. Both are owned by the caller.
 */
public record StepOutput(Tensor prevSample, Tensor predOriginalSample) implements AutoCloseable {
    @Override public void close() {
        prevSample.close();
        predOriginalSample.close();
    }
}
