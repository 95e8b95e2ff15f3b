package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects the parameters of a model while its layers are built, then allocates one contiguous buffer for
 * all values and one for all gradients (so AdamW, EMA, gradient clipping and checkpoints are flat passes).
 *
 * <p>Mixed precision: the values are the FP32 masters, which the optimizer updates, checkpoints keep and gradients
 * (always FP32) belong to. {@link #setComputeCopy} adds a flat copy in a lower precision (bf16), aligned with the
 * masters, which convolutions and matrix products read ({@link Param#value(DType)}). The optimizer writes it in the
 * same pass as the masters ({@link #copyForOptimizer}); whoever else takes the flat masters ({@link #values()}:
 * loading weights, copying the EMA in) may write them, and the copy is refreshed before its next use. Writing a
 * master through {@link Param#value()} needs {@link #valuesChanged}.
 *
 * <p>Layers take a {@link Scope}, which prefixes the names they register: {@code scope.child("conv1")}
 * then {@code param("weight", ...)} gives {@code conv1.weight}.
 */
public final class ParamStore implements AutoCloseable {
    private final List<Param> params = new ArrayList<>();
    private final Map<String, Param> byName = new LinkedHashMap<>();
    private long total;
    private Backend backend;
    private Tensor values;
    private Tensor grads;
    private Tensor copy;
    private boolean copyStale;
    GradListener gradListener;

    /**
     * Hears a backward pass write the gradients (data-parallel training starts each bucket's all-reduce as soon as
     * the backward pass has produced it): {@link #writing} when a layer takes a parameter's gradient to write it
     * ({@link Param#grad()}), {@link #written} at {@link #backwardProgress()}, when every gradient taken so far has
     * been written (its op queued).
     */
    public interface GradListener {
        void writing(Param p);

        void written();
    }

    /** Sets (or with null removes) the listener of the gradient writes. */
    public void gradListener(GradListener l) { this.gradListener = l; }

    /**
     * Called by a model's backward pass between layers: every gradient taken through {@link Param#grad()} so far has
     * been written (the ops that write it are queued). A model that never calls it is still correct; its gradients
     * are then all-reduced after the backward pass instead of during it.
     */
    public void backwardProgress() {
        if (gradListener != null) gradListener.written();
    }

    /** The root scope (no prefix). */
    public Scope root() { return new Scope(this, ""); }

    Param register(String name, Shape shape, Init init, boolean decay) {
        if (values != null) throw new IllegalStateException("cannot add parameter " + name + " after allocate()");
        if (byName.containsKey(name)) throw new IllegalArgumentException("duplicate parameter name " + name);
        // align each parameter to 64 floats (256 bytes) so device views are well aligned
        long off = (total + 63) & ~63L;
        Param p = new Param(name, shape, init, off, decay);
        total = off + shape.numel();
        params.add(p);
        byName.put(name, p);
        return p;
    }

    public List<Param> params() { return Collections.unmodifiableList(params); }

    /** Whether a parameter of that name exists. */
    public boolean has(String name) { return byName.containsKey(name); }

    public Param get(String name) {
        Param p = byName.get(name);
        if (p == null) throw new IllegalArgumentException("no parameter named " + name);
        return p;
    }

    /** Number of trainable scalars (without alignment padding). */
    public long count() {
        long n = 0;
        for (Param p : params) n += p.shape().numel();
        return n;
    }

    /** Size of the flat buffers in floats (with alignment padding). */
    public long flatSize() { return total; }

    public boolean allocated() { return values != null; }

    /**
     * Allocates the flat buffers on {@code backend} and initialises every parameter from Philox with
     * {@code seed} (parameter p draws indices starting at its flat offset), so a seed always gives the same
     * model on every backend. Gradients start at zero.
     */
    public void allocate(Backend backend, long seed) {
        if (values != null) throw new IllegalStateException("parameters already allocated");
        this.backend = backend;
        float[] host = new float[Math.toIntExact(total)];
        float[] tmp = new float[0];
        for (Param p : params) {
            int n = p.shape().size();
            if (tmp.length < n) tmp = new float[n];
            p.init().fill(tmp, p.shape(), seed, p.offset());
            System.arraycopy(tmp, 0, host, (int) p.offset(), n);
        }
        values = backend.fromArray(host, Shape.of(host.length));
        grads = backend.zeros(Shape.of(host.length));
        for (Param p : params) {
            p.value = values.view(p.offset(), p.shape());
            p.grad = grads.view(p.offset(), p.shape());
            p.store = this;
        }
    }

    /**
     * Keeps a copy of the values in {@code dtype} for ops that compute in it (F32: none, and an existing copy is
     * released). The copy is filled from the masters now. A dtype the backend cannot store is refused in one line.
     */
    public void setComputeCopy(DType dtype) {
        checked(values);
        if (copy != null && copy.dtype() == dtype) return;
        if (copy != null) {
            copy.close();
            copy = null;
            for (Param p : params) p.copy = null;
        }
        if (dtype == DType.F32) return;
        copy = backend.zeros(values.shape(), dtype);
        for (Param p : params) p.copy = copy.view(p.offset(), p.shape());
        copyStale = true;
        refreshCopy();
    }

    /** The dtype of the compute copy; F32 when there is none. */
    public DType copyDType() { return copy == null ? DType.F32 : copy.dtype(); }

    /** The masters were written (not by the optimizer): the compute copy is refreshed before its next use. */
    public void valuesChanged() { copyStale = true; }

    /** Refreshes the compute copy from the masters if they changed since it was written. */
    void refreshCopy() {
        if (copy != null && copyStale) {
            backend.copy(copy, values);
            copyStale = false;
        }
    }

    /**
     * The compute copy (null when there is none), for an optimizer that writes it together with the masters: the
     * copy counts as up to date from then on.
     */
    public Tensor copyForOptimizer() {
        if (copy == null) return null;
        copyStale = false;
        return copy;
    }

    public Backend backend() { return backend; }

    /**
     * All values (the FP32 masters), flat, padding included (always zero). Whoever takes them may write them, so the
     * compute copy, if any, is refreshed before its next use; the optimizer and the EMA, which take them once,
     * write the copy themselves ({@link #copyForOptimizer}) or only read them.
     */
    public Tensor values() {
        copyStale = true;
        return checked(values);
    }

    /** All gradients, flat. */
    public Tensor grads() { return checked(grads); }

    public void zeroGrad() { backend.fill(checked(grads), 0f); }

    private Tensor checked(Tensor t) {
        if (t == null) throw new IllegalStateException("parameters not allocated");
        return t;
    }

    @Override public void close() {
        if (values != null) {
            values.close();
            grads.close();
        }
        if (copy != null) copy.close();
    }

    /** A naming scope for registering parameters. */
    public static final class Scope {
        private final ParamStore store;
        private final String prefix;

        Scope(ParamStore store, String prefix) {
            this.store = store;
            this.prefix = prefix;
        }

        public Scope child(String name) {
            return new Scope(store, prefix.isEmpty() ? name : prefix + "." + name);
        }

        public Scope child(int index) { return child(Integer.toString(index)); }

        public String prefix() { return prefix; }

        public ParamStore store() { return store; }

        /** A weight (decayed by AdamW). */
        public Param param(String name, Shape shape, Init init) {
            return store.register(child(name).prefix, shape, init, true);
        }

        /** A bias or normalisation parameter (not decayed). */
        public Param paramNoDecay(String name, Shape shape, Init init) {
            return store.register(child(name).prefix, shape, init, false);
        }
    }
}
