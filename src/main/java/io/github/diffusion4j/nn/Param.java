package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * One named parameter. Its value and gradient are views into the flat buffers of its {@link ParamStore}
 * (one allocation each for values and gradients), available after {@link ParamStore#allocate}.
 */
public final class Param {
    private final String name;
    private final Shape shape;
    private final Init init;
    private final long offset;
    private final boolean decay;
    Tensor value;
    Tensor grad;
    Tensor copy;
    ParamStore store;

    Param(String name, Shape shape, Init init, long offset, boolean decay) {
        this.name = name;
        this.shape = shape;
        this.init = init;
        this.offset = offset;
        this.decay = decay;
    }

    /** Full dotted name, e.g. {@code down.0.res.1.conv1.weight}; also the safetensors key. */
    public String name() { return name; }

    public Shape shape() { return shape; }

    public Init init() { return init; }

    /** Offset of this parameter in the flat buffers, in floats. */
    public long offset() { return offset; }

    /** Whether AdamW applies weight decay to it (weights yes; biases and norm scales no). */
    public boolean decay() { return decay; }

    public Tensor value() {
        if (value == null) throw new IllegalStateException("parameter " + name + " used before ParamStore.allocate()");
        return value;
    }

    /**
     * The value in {@code dtype} for an op that computes in it: the FP32 master for F32, else the store's
     * {@link ParamStore#setComputeCopy compute copy} of that type (refreshed first if the masters changed since).
     * A convolution or matrix product takes its weight in its input's dtype this way.
     */
    public Tensor value(DType dtype) {
        if (dtype == DType.F32) return value();
        if (copy == null || store.copyDType() != dtype) {
            throw new IllegalStateException("parameter " + name + " has no " + dtype + " copy (the model computes in "
                    + (store == null ? DType.F32 : store.copyDType()) + ")");
        }
        store.refreshCopy();
        return copy;
    }

    /** The gradient, for a backward pass that writes (accumulates into) it. */
    public Tensor grad() {
        if (grad == null) throw new IllegalStateException("parameter " + name + " used before ParamStore.allocate()");
        ParamStore.GradListener l = store.gradListener;
        if (l != null) l.writing(this);
        return grad;
    }

    @Override public String toString() { return name + shape; }
}
