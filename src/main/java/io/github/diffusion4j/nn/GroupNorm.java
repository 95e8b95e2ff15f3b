package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * GroupNorm over [N, C, *spatial] with a per-channel affine (weight = 1, bias = 0 initially), optionally followed by
 * SiLU (and dropout): with SiLU it is one operation each way ({@link Backend#groupNormSilu}), which a backend may run as
 * one pass; without, {@link Backend#groupNorm}. The same code runs on every backend.
 */
public final class GroupNorm {
    public final Param weight;
    public final Param bias;
    public final int channels, groups;
    public final float eps;
    private Tensor x, mean, rstd;
    /** Where the input was (x + xBias[c]) + xAdd[n, c] ({@link #forwardSiluDropoutOffset}), else null. */
    private Tensor xBias, xAdd;
    private boolean silu;

    public GroupNorm(ParamStore.Scope scope, int channels, int groups, float eps) {
        if (groups <= 0 || channels % groups != 0) {
            throw new IllegalArgumentException(channels + " channels cannot be split into " + groups + " groups");
        }
        this.channels = channels;
        this.groups = groups;
        this.eps = eps;
        this.weight = scope.paramNoDecay("weight", Shape.of(channels), Init.ONES);
        this.bias = scope.paramNoDecay("bias", Shape.of(channels), Init.ZEROS);
    }

    public Tensor forward(Tensor x) {
        return forward(x, false);
    }

    /**
     * GroupNorm, SiLU, then {@code dropout} (active in training only), as one {@link Backend#groupNormSilu}: the same
     * values and the same mask as the three layers in turn.
     */
    public Tensor forwardSiluDropout(Ctx ctx, Tensor x, Dropout dropout) {
        return forwardSiluDropoutOffset(ctx, x, null, null, dropout);
    }

    /**
     * {@link #forwardSiluDropout} of the input (x + xBias[c]) + xAdd[n, c] (a ResBlock's first convolution before its
     * bias, and its time embedding [N, C]; both null: x itself). A backend may read that input as needed, in this pass
     * and in the backward one, instead of storing it; x must stay unchanged until {@link #backward}.
     */
    public Tensor forwardSiluDropoutOffset(Ctx ctx, Tensor x, Tensor xBias, Tensor xAdd, Dropout dropout) {
        Backend b = x.backend();
        boolean drop = dropout.take(ctx, x);
        Tensor y = begin(x, true);
        this.xBias = xBias;
        this.xAdd = xAdd;
        b.groupNormSilu(y, mean, rstd, x, xBias, xAdd, weight.value(), bias.value(), groups, eps,
                drop ? dropout.p : 0f, drop ? dropout.seed() : 0L, drop ? dropout.offset() : 0L);
        return y;
    }

    /**
     * For inference only: GroupNorm + SiLU of the channels [from, from + C) of this layer's input, given as their
     * own tensor x [N, C, ...] (one part of a concatenation that is never built). The part's groups must be whole
     * groups of the layer ({@link #splitsAt}); the output equals that part of {@link #forward(Tensor, boolean)} of the
     * concatenation. Keeps nothing for backward.
     */
    public Tensor forwardSiluPart(Tensor x, int from) {
        int c = x.shape().c(), cpg = channels / groups;
        if (from % cpg != 0 || c % cpg != 0 || from + c > channels) {
            throw new IllegalArgumentException("GroupNorm(" + channels + ", " + groups + " groups): channels " + from
                    + ".." + (from + c) + " are not whole groups");
        }
        Backend b = x.backend();
        int g = c / cpg, ng = x.dim(0) * g;
        Tensor gamma = weight.value().narrow0(from, from + c), beta = bias.value().narrow0(from, from + c);
        Tensor m = b.scratch(Shape.of(ng)), r = b.scratch(Shape.of(ng)), y = b.scratch(x.shape(), x.dtype());
        b.groupNormSilu(y, m, r, x, null, null, gamma, beta, g, eps, 0f, 0L, 0L);
        return y;
    }

    /** Whether channel {@code c} starts a group (a concatenation split there keeps its groups whole). */
    public boolean splitsAt(int c) {
        return c % (channels / groups) == 0;
    }

    /** Checks x, keeps what backward needs, and returns the output tensor. */
    private Tensor begin(Tensor x, boolean silu) {
        if (x.shape().c() != channels) throw new IllegalArgumentException("GroupNorm(" + channels + ") got " + x.shape());
        Backend b = x.backend();
        this.x = x;
        this.xBias = null;
        this.xAdd = null;
        this.silu = silu;
        int ng = x.dim(0) * groups;
        mean = b.scratch(Shape.of(ng));
        rstd = b.scratch(Shape.of(ng));
        return b.scratch(x.shape(), x.dtype());
    }

    /** GroupNorm, then SiLU when {@code silu}. */
    public Tensor forward(Tensor x, boolean silu) {
        Tensor y = begin(x, silu);
        Backend b = x.backend();
        if (silu) b.groupNormSilu(y, mean, rstd, x, null, null, weight.value(), bias.value(), groups, eps, 0f, 0L, 0L);
        else b.groupNorm(y, mean, rstd, x, weight.value(), bias.value(), groups, eps);
        return y;
    }

    /**
     * Returns dL/dx + addend (the gradient of a residual branch joining at this layer's input, as in a ResBlock), in
     * one pass where the backend can; the same values as {@code addInPlace(backward(dy), addend)}.
     */
    public Tensor backward(Tensor dy, Tensor addend) {
        Tensor dx = dy.backend().scratch(x.shape(), x.dtype());
        backward(dx, dy, addend);
        return dx;
    }

    public Tensor backward(Tensor dy) {
        Tensor dx = dy.backend().scratch(x.shape(), x.dtype());
        backward(dx, dy, null);
        return dx;
    }

    /**
     * {@link #backward(Tensor)} written over dy, for a dy that nothing else reads afterwards (a convolution's input
     * gradient, as in every caller): one activation-sized buffer fewer per layer in the step's arena.
     */
    public Tensor backwardInPlace(Tensor dy) {
        backward(dy, dy, null);
        return dy;
    }

    /** {@link #backward(Tensor, Tensor)} written over dy (which must not be addend), as {@link #backwardInPlace}. */
    public Tensor backwardInPlace(Tensor dy, Tensor addend) {
        if (addend == dy) throw new IllegalArgumentException("the addend cannot be the gradient written over");
        backward(dy, dy, addend);
        return dy;
    }

    /** dx (which may be dy) = dL/dx, plus addend when not null; the parameter gradients accumulate. */
    private void backward(Tensor dx, Tensor dy, Tensor addend) {
        Backend b = dy.backend();
        if (silu) {
            b.groupNormSiluBackward(dx, weight.grad(), bias.grad(), dy, x, xBias, xAdd, mean, rstd, weight.value(),
                    bias.value(), groups, eps, addend);
            return;
        }
        b.groupNormBackward(dx, weight.grad(), bias.grad(), dy, x, mean, rstd, weight.value(), groups);
        if (addend != null) b.addInPlace(dx, addend);
    }
}
