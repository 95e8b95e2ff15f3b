package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/** Upsampling by 2: nearest neighbour, then a 3×3 convolution. */
public final class Upsample {
    public final Conv2d conv;
    private Shape inShape;

    public Upsample(ParamStore.Scope scope, int channels) {
        this.conv = new Conv2d(scope.child("conv"), channels, channels, 3, 1, 1);
    }

    public Tensor forward(Tensor x) {
        Backend b = x.backend();
        inShape = x.shape();
        Tensor up = b.scratch(Shape.of(x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)), x.dtype());
        b.upsampleNearest2x(up, x);
        return conv.forward(up);
    }

    public Tensor backward(Tensor dy) {
        Backend b = dy.backend();
        Tensor dUp = conv.backward(dy);
        Tensor dx = b.scratch(inShape, dy.dtype());
        b.upsampleNearest2xBackward(dx, dUp);
        return dx;
    }
}
