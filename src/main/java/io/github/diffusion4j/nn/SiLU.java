package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;

/** SiLU (swish): y = x sigmoid(x). */
public final class SiLU {
    private Tensor x;

    public Tensor forward(Tensor x) {
        this.x = x;
        Backend b = x.backend();
        Tensor y = b.scratch(x.shape(), x.dtype());
        b.silu(y, x);
        return y;
    }

    public Tensor backward(Tensor dy) {
        Backend b = dy.backend();
        Tensor dx = b.scratch(x.shape(), x.dtype());
        b.siluBackward(dx, dy, x);
        return dx;
    }
}
