package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Sinusoidal timestep embedding (DDPM's {@code get_timestep_embedding}) followed by an MLP:
 * Linear(dim → hidden), SiLU, Linear(hidden → hidden). The timesteps are not differentiated.
 */
public final class TimeEmbedding {
    public final int dim, hidden;
    public final Linear fc1, fc2;
    private final SiLU act = new SiLU();

    public TimeEmbedding(ParamStore.Scope scope, int dim, int hidden) {
        this.dim = dim;
        this.hidden = hidden;
        this.fc1 = new Linear(scope.child("fc1"), dim, hidden);
        this.fc2 = new Linear(scope.child("fc2"), hidden, hidden);
    }

    /** timesteps [N] (float) → embedding [N, hidden]. */
    public Tensor forward(Tensor timesteps) {
        Backend b = timesteps.backend();
        Tensor sin = b.scratch(Shape.of((int) timesteps.numel(), dim));
        b.timestepEmbedding(sin, timesteps, 10000f, true);
        return fc2.forward(act.forward(fc1.forward(sin)));
    }

    /** Accumulates the MLP's parameter gradients. */
    public void backward(Tensor dEmb) {
        fc1.backward(act.backward(fc2.backward(dEmb)));
    }
}
