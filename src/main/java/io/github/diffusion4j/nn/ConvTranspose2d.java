package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Transposed 2-D convolution (PyTorch ConvTranspose2d): weight [Cin, Cout, k, k], bias [Cout],
 * output size (H - 1) stride - 2 pad + k.
 */
public final class ConvTranspose2d {
    public final Param weight;
    public final Param bias;
    public final int inChannels, outChannels, kernel, stride, pad;
    private Tensor x;

    public ConvTranspose2d(ParamStore.Scope scope, int inChannels, int outChannels, int kernel, int stride, int pad,
                           boolean withBias, Init weightInit) {
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.kernel = kernel;
        this.stride = stride;
        this.pad = pad;
        this.weight = scope.param("weight", Shape.of(inChannels, outChannels, kernel, kernel), weightInit);
        this.bias = withBias ? scope.paramNoDecay("bias", Shape.of(outChannels), Init.ZEROS) : null;
    }

    public ConvTranspose2d(ParamStore.Scope scope, int inChannels, int outChannels, int kernel, int stride, int pad) {
        this(scope, inChannels, outChannels, kernel, stride, pad, true, Init.DEFAULT);
    }

    public Shape outputShape(Shape in) {
        return Shape.of(in.n(), outChannels, (in.h() - 1) * stride - 2 * pad + kernel,
                (in.w() - 1) * stride - 2 * pad + kernel);
    }

    public Tensor forward(Tensor x) {
        if (x.shape().c() != inChannels) throw new IllegalArgumentException("ConvTranspose2d(" + inChannels + ") got " + x.shape());
        this.x = x;
        Backend b = x.backend();
        Tensor y = b.scratch(outputShape(x.shape()), x.dtype());
        b.convTranspose2d(y, x, weight.value(x.dtype()), bias == null ? null : bias.value(), stride, pad);
        return y;
    }

    public Tensor backward(Tensor dy) {
        Backend b = dy.backend();
        b.convTranspose2dBackwardFilter(weight.grad(), bias == null ? null : bias.grad(), dy, x, stride, pad);
        Tensor dx = b.scratch(x.shape(), x.dtype());
        b.convTranspose2dBackwardData(dx, dy, weight.value(dy.dtype()), stride, pad);
        return dx;
    }

    public long macs(Shape in) {
        return in.numel() * (long) outChannels * kernel * kernel;
    }
}
