package io.github.diffusion4j.train;

import io.github.diffusion4j.diffusion.Denoiser;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.Tensor;

/**
 * A model in inference mode as the samplers see it. Each call starts a new step on the backend (its scratch
 * activations of the previous call may be reused), which matches the Denoiser contract: the output stays valid
 * until the next call.
 */
public record ModelDenoiser(Model model) implements Denoiser {
    @Override public Tensor predict(Tensor xt, Tensor timesteps, Tensor labels) {
        xt.backend().beginStep();
        return model.forward(Ctx.inference(xt.backend()), xt, timesteps, labels);
    }
}
