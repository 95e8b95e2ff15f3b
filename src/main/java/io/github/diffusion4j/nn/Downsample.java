package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Tensor;

/** Downsampling by 2 with a 3×3 stride-2 convolution (padding 1). */
public final class Downsample {
    public final Conv2d conv;

    public Downsample(ParamStore.Scope scope, int channels) {
        this.conv = new Conv2d(scope.child("conv"), channels, channels, 3, 2, 1);
    }

    public Tensor forward(Tensor x) {
        if ((x.dim(2) & 1) != 0 || (x.dim(3) & 1) != 0) {
            throw new IllegalArgumentException("Downsample needs even spatial sizes, got " + x.shape());
        }
        return conv.forward(x);
    }

    public Tensor backward(Tensor dy) { return conv.backward(dy); }
}
