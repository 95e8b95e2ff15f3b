package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The dtype boundaries of a model under mixed precision: a model takes F32 inputs and gives F32 outputs (the
 * scheduler's state and the loss stay in float32), and computes in its parameters' compute dtype
 * ({@link ParamStore#copyDType()}) in between; its layers make their outputs and input gradients in the dtype of
 * their inputs.
 */
final class Cast {
    private Cast() {}

    /** x itself when it has dtype d, else a step-scoped copy converted to d. */
    static Tensor to(DType d, Tensor x) {
        if (x.dtype() == d) return x;
        Tensor y = x.backend().scratch(x.shape(), d);
        x.backend().copy(y, x);
        return y;
    }
}
