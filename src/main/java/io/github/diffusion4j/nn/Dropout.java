package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Dropout with probability p in training mode (identity at inference). The mask is not stored: the backward
 * pass regenerates it from the Philox (seed, offset) that the forward pass took from the {@link Ctx}.
 */
public final class Dropout {
    public final float p;
    private boolean active;
    private long seed, offset;

    public Dropout(float p) {
        if (p < 0f || p >= 1f) throw new IllegalArgumentException("dropout must be in [0, 1): " + p);
        this.p = p;
    }

    public Tensor forward(Ctx ctx, Tensor x) {
        active = ctx.training() && p > 0f;
        if (!active) return x;
        seed = ctx.seed();
        offset = ctx.take(x.numel());
        Backend b = x.backend();
        Tensor y = b.scratch(x.shape());
        b.dropout(y, x, p, seed, offset);
        return y;
    }

    public Tensor backward(Tensor dy) {
        if (!active) return dy;
        Backend b = dy.backend();
        Tensor dx = b.scratch(dy.shape());
        b.dropoutBackward(dx, dy, p, seed, offset);
        return dx;
    }
}
