package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * GroupNorm over [N, C, *spatial] with a per-channel affine (weight = 1, bias = 0 initially), optionally followed by
 * SiLU: fused into one op per direction on backends that have it ({@link Backend#fusesGroupNormSilu()}, the CUDA
 * backend), else GroupNorm and SiLU one after the other.
 */
public final class GroupNorm {
    public final Param weight;
    public final Param bias;
    public final int channels, groups;
    public final float eps;
    private Tensor x, mean, rstd, normed;
    /** Where the input was (x + xBias[c]) + xAdd[n, c] ({@link #forwardSiluDropoutOffset}), else null. */
    private Tensor xBias, xAdd;
    private boolean silu, fused;

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
     * GroupNorm, SiLU, then {@code dropout} (active in training only): one pass where the backend fuses GroupNorm and
     * SiLU ({@link Backend#groupNormSiluDropout}); the same values and the same mask as the three layers in turn.
     */
    public Tensor forwardSiluDropout(Ctx ctx, Tensor x, Dropout dropout) {
        Backend b = x.backend();
        if (!b.fusesGroupNormSilu()) return dropout.forward(ctx, forward(x, true));
        if (!dropout.take(ctx, x)) return forward(x, true);
        Tensor y = begin(x, true);
        b.groupNormSiluDropout(y, mean, rstd, x, weight.value(), bias.value(), groups, eps, dropout.p, dropout.seed(),
                dropout.offset());
        return y;
    }

    /**
     * {@link #forwardSiluDropout} of the input (x + xBias[c]) + xAdd[n, c] (a ResBlock's first convolution before its
     * bias, and its time embedding [N, C]): where the backend fuses GroupNorm and SiLU, that input is read as needed,
     * in this pass and in the backward one, and never stored ({@link Backend#groupNormSiluDropoutOffset}); x must
     * stay unchanged until {@link #backward}. The same values as adding the two first.
     */
    public Tensor forwardSiluDropoutOffset(Ctx ctx, Tensor x, Tensor xBias, Tensor xAdd, Dropout dropout) {
        Backend b = x.backend();
        if (!b.fusesGroupNormSilu()) {
            Tensor h = b.scratch(x.shape());
            b.addBiasPerSampleChannel(h, x, xBias, xAdd);
            return forwardSiluDropout(ctx, h, dropout);
        }
        boolean drop = dropout.take(ctx, x);
        Tensor y = begin(x, true);
        this.xBias = xBias;
        this.xAdd = xAdd;
        b.groupNormSiluDropoutOffset(y, mean, rstd, x, xBias, xAdd, weight.value(), bias.value(), groups, eps,
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
        Tensor m = b.scratch(Shape.of(ng)), r = b.scratch(Shape.of(ng)), y = b.scratch(x.shape());
        if (b.fusesGroupNormSilu()) {
            b.groupNormSilu(y, m, r, x, gamma, beta, g, eps);
            return y;
        }
        b.groupNorm(y, m, r, x, gamma, beta, g, eps);
        b.silu(y, y);
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
        this.fused = silu && b.fusesGroupNormSilu();
        int ng = x.dim(0) * groups;
        mean = b.scratch(Shape.of(ng));
        rstd = b.scratch(Shape.of(ng));
        return b.scratch(x.shape());
    }

    /** GroupNorm, then SiLU when {@code silu}. */
    public Tensor forward(Tensor x, boolean silu) {
        Tensor y = begin(x, silu);
        Backend b = x.backend();
        if (fused) {
            b.groupNormSilu(y, mean, rstd, x, weight.value(), bias.value(), groups, eps);
            return y;
        }
        b.groupNorm(y, mean, rstd, x, weight.value(), bias.value(), groups, eps);
        if (!silu) return y;
        normed = y;
        Tensor a = b.scratch(x.shape());
        b.silu(a, y);
        return a;
    }

    /**
     * Returns dL/dx + addend (the gradient of a residual branch joining at this layer's input, as in a ResBlock), in
     * one pass where the backend fuses GroupNorm and SiLU; the same values as {@code addInPlace(backward(dy), addend)}.
     */
    public Tensor backward(Tensor dy, Tensor addend) {
        Tensor dx = dy.backend().scratch(x.shape());
        backward(dx, dy, addend);
        return dx;
    }

    public Tensor backward(Tensor dy) {
        Tensor dx = dy.backend().scratch(x.shape());
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
        if (fused) {
            if (xBias != null) {
                if (addend != null) throw new IllegalStateException("a GroupNorm with input offsets takes no addend");
                b.groupNormSiluBackwardOffset(dx, weight.grad(), bias.grad(), dy, x, xBias, xAdd, mean, rstd,
                        weight.value(), bias.value(), groups, eps);
            } else if (addend != null) {
                b.groupNormSiluBackwardAdd(dx, weight.grad(), bias.grad(), dy, x, mean, rstd, weight.value(), bias.value(),
                        groups, eps, addend);
            } else {
                b.groupNormSiluBackward(dx, weight.grad(), bias.grad(), dy, x, mean, rstd, weight.value(), bias.value(),
                        groups, eps);
            }
            return;
        }
        if (silu) {
            Tensor du = dx == dy ? dy : b.scratch(x.shape());   // elementwise: may be computed in place
            b.siluBackward(du, dy, normed);
            dy = du;
        }
        b.groupNormBackward(dx, weight.grad(), bias.grad(), dy, x, mean, rstd, weight.value(), groups);
        if (addend != null) b.addInPlace(dx, addend);
    }
}
