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
        if (!take(ctx, x)) return x;
        Backend b = x.backend();
        Tensor y = b.scratch(x.shape(), x.dtype());
        b.dropout(y, x, p, seed, offset);
        return y;
    }

    /**
     * Takes this call's mask from {@code ctx} (its Philox seed and offset) as {@link #forward} does, for an operation
     * that applies the mask itself (Backend.groupNormSilu); {@link #backward} then works as after forward.
     * Returns false, taking nothing, when the layer is inactive (inference, or p = 0).
     */
    public boolean take(Ctx ctx, Tensor x) {
        active = ctx.training() && p > 0f;
        if (!active) return false;
        seed = ctx.seed();
        offset = ctx.take(x.numel());
        return true;
    }

    /** The Philox seed of the last mask taken. */
    public long seed() { return seed; }

    /** The Philox offset of the last mask taken. */
    public long offset() { return offset; }

    /** {@link #backward} written over dy, for a dy that nothing else reads afterwards (one buffer fewer per call). */
    public Tensor backwardInPlace(Tensor dy) {
        if (!active) return dy;
        dy.backend().dropoutBackward(dy, dy, p, seed, offset);
        return dy;
    }

    public Tensor backward(Tensor dy) {
        if (!active) return dy;
        Backend b = dy.backend();
        Tensor dx = b.scratch(dy.shape(), dy.dtype());
        b.dropoutBackward(dx, dy, p, seed, offset);
        return dx;
    }
}
