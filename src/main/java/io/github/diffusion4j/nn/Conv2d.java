package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/** 2-D convolution, weight [Cout, Cin, k, k] and optional bias [Cout]. */
public final class Conv2d {
    public final Param weight;
    public final Param bias;
    public final int inChannels, outChannels, kernel, stride, pad;
    private Tensor x;

    public Conv2d(ParamStore.Scope scope, int inChannels, int outChannels, int kernel, int stride, int pad,
                  boolean withBias, Init weightInit) {
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.kernel = kernel;
        this.stride = stride;
        this.pad = pad;
        this.weight = scope.param("weight", Shape.of(outChannels, inChannels, kernel, kernel), weightInit);
        this.bias = withBias ? scope.paramNoDecay("bias", Shape.of(outChannels), Init.ZEROS) : null;
    }

    /** A conv with bias and the DDPM default initialisation. */
    public Conv2d(ParamStore.Scope scope, int inChannels, int outChannels, int kernel, int stride, int pad) {
        this(scope, inChannels, outChannels, kernel, stride, pad, true, Init.DEFAULT);
    }

    public Shape outputShape(Shape in) {
        int ho = (in.h() + 2 * pad - kernel) / stride + 1, wo = (in.w() + 2 * pad - kernel) / stride + 1;
        return Shape.of(in.n(), outChannels, ho, wo);
    }

    public Tensor forward(Tensor x) {
        this.x = x;
        Backend b = x.backend();
        Tensor y = b.scratch(outputShape(x.shape()));
        b.conv2d(y, x, weight.value(), bias == null ? null : bias.value(), stride, pad);
        return y;
    }

    /**
     * The convolution without its bias, which the caller adds (fused with what follows, where the backend
     * {@link Backend#fusesBiasAdds}); {@link #backward} is the same as after {@link #forward}.
     */
    public Tensor forwardBeforeBias(Tensor x) {
        this.x = x;
        Backend b = x.backend();
        Tensor y = b.scratch(outputShape(x.shape()));
        b.conv2d(y, x, weight.value(), null, stride, pad);
        return y;
    }

    /** Accumulates the parameter gradients and returns dL/dx. */
    public Tensor backward(Tensor dy) {
        return backward(dy, true);
    }

    /** As {@link #backward(Tensor)}; returns null without computing dL/dx when {@code needInputGrad} is false. */
    public Tensor backward(Tensor dy, boolean needInputGrad) {
        Backend b = dy.backend();
        b.conv2dBackwardFilter(weight.grad(), bias == null ? null : bias.grad(), dy, x, stride, pad);
        if (!needInputGrad) return null;
        Tensor dx = b.scratch(x.shape());
        b.conv2dBackwardData(dx, dy, weight.value(), stride, pad);
        return dx;
    }

    /** Multiply-adds of one forward pass for an input of this shape (for FLOP counts). */
    public long macs(Shape in) {
        Shape o = outputShape(in);
        return o.numel() * (long) inChannels * kernel * kernel;
    }
}
