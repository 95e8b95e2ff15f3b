package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
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
        Tensor y = b.scratch(outputShape(x.shape()), x.dtype());
        b.conv2d(y, x, weight.value(x.dtype()), bias == null ? null : bias.value(), stride, pad);
        return y;
    }

    /**
     * The convolution without its bias, which the caller adds together with what follows ({@link Backend#addBiasAdd},
     * {@link GroupNorm#forwardSiluDropoutOffset}); {@link #backward} is the same as after {@link #forward}.
     */
    public Tensor forwardBeforeBias(Tensor x) {
        this.x = x;
        Backend b = x.backend();
        Tensor y = b.scratch(outputShape(x.shape()), x.dtype());
        b.conv2d(y, x, weight.value(x.dtype()), null, stride, pad);
        return y;
    }

    /**
     * The convolution of the channel concatenation [x1, x2] without its bias, for inference only (nothing is kept
     * for {@link #backward}): the weight is split along its input channels into two packed copies, and the two
     * convolutions add into one output ({@link Backend#conv2dAccumulate}), so the concatenation is never built.
     * Sums in another order than {@link #forwardBeforeBias} of the concatenation.
     */
    public Tensor forwardBeforeBiasSplit(Tensor x1, Tensor x2) {
        int c1 = x1.dim(1), c2 = x2.dim(1);
        if (c1 + c2 != inChannels || !x1.shape().withDim(1, c2).equals(x2.shape())) {
            throw new IllegalArgumentException("Conv2d(" + inChannels + " -> " + outChannels + ") split over "
                    + x1.shape() + " and " + x2.shape());
        }
        this.x = null;
        Backend b = x1.backend();
        int kk = kernel * kernel;
        DType dt = x1.dtype();
        Tensor w1 = b.scratch(Shape.of(outChannels, c1, kernel, kernel), dt);
        Tensor w2 = b.scratch(Shape.of(outChannels, c2, kernel, kernel), dt);
        b.splitChannels(new Tensor[] {w1.reshape(outChannels, c1, kk), w2.reshape(outChannels, c2, kk)},
                weight.value(dt).reshape(outChannels, inChannels, kk));
        Tensor y = b.scratch(outputShape(x1.shape()), dt);
        b.conv2d(y, x1, w1, null, stride, pad);
        b.conv2dAccumulate(y, x2, w2, stride, pad);
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
        Tensor dx = b.scratch(x.shape(), x.dtype());
        b.conv2dBackwardData(dx, dy, weight.value(dy.dtype()), stride, pad);
        return dx;
    }

    /** Multiply-adds of one forward pass for an input of this shape (for FLOP counts). */
    public long macs(Shape in) {
        Shape o = outputShape(in);
        return o.numel() * (long) inChannels * kernel * kernel;
    }
}
