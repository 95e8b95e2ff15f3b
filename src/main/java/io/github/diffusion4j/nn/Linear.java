package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/** y = x W^T + b, x [N, in], W [out, in] (PyTorch layout), b [out]. */
public final class Linear {
    public final Param weight;
    public final Param bias;
    public final int in, out;
    private Tensor x;

    public Linear(ParamStore.Scope scope, int in, int out, boolean withBias, Init weightInit) {
        this.in = in;
        this.out = out;
        this.weight = scope.param("weight", Shape.of(out, in), weightInit);
        this.bias = withBias ? scope.paramNoDecay("bias", Shape.of(out), Init.ZEROS) : null;
    }

    public Linear(ParamStore.Scope scope, int in, int out) {
        this(scope, in, out, true, Init.DEFAULT);
    }

    public Tensor forward(Tensor x) {
        if (x.dim(-1) != in) throw new IllegalArgumentException("Linear(" + in + "->" + out + ") got input " + x.shape());
        this.x = x;
        Backend b = x.backend();
        int rows = (int) (x.numel() / in);
        Tensor y = b.scratch(Shape.of(rows, out), x.dtype());
        b.matmul(y, x, weight.value(x.dtype()), false, true, 1f, 0f);
        if (bias != null) b.addBias(y, y, bias.value());
        return y;
    }

    public Tensor backward(Tensor dy) {
        Backend b = dy.backend();
        b.matmul(weight.grad(), dy, x, true, false, 1f, 1f);
        if (bias != null) b.biasGrad(bias.grad(), dy);
        Tensor dx = b.scratch(x.shape(), x.dtype());
        b.matmul(dx, dy, weight.value(dy.dtype()), false, false, 1f, 0f);
        return dx;
    }
}
