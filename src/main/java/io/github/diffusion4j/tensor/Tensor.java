package io.github.diffusion4j.tensor;

import java.util.Objects;

/**
 * A dense tensor: a view (offset, shape) of a backend's {@link Storage}, whose element type ({@link #dtype()}) it
 * has. Contiguous, row-major in the logical NCHW order for images (how a backend lays out memory internally is its own
 * business). Offsets and sizes count elements of the dtype. Tensors do not compute anything themselves: every
 * operation goes through {@link Backend}, which checks shapes and dtypes in {@link Check}.
 */
public final class Tensor implements AutoCloseable {
    private final Storage storage;
    private final long offset;
    private final Shape shape;
    private final boolean owner;

    public Tensor(Storage storage, long offset, Shape shape, boolean owner) {
        this.storage = Objects.requireNonNull(storage);
        this.offset = offset;
        this.shape = Objects.requireNonNull(shape);
        this.owner = owner;
        if (offset < 0 || offset + shape.numel() > storage.capacity()) {
            throw new IllegalArgumentException("view [" + offset + ", +" + shape.numel() + ") outside storage of "
                    + storage.capacity() + " " + storage.dtype() + " elements");
        }
    }

    public Storage storage() { return storage; }

    /** The element type (the storage's). */
    public DType dtype() { return storage.dtype(); }

    /** Offset of the first element in the storage, in elements of {@link #dtype()}. */
    public long offset() { return offset; }

    public Shape shape() { return shape; }

    public Backend backend() { return storage.backend(); }

    public long numel() { return shape.numel(); }

    public int size() { return shape.size(); }

    public int dim(int i) { return shape.dim(i); }

    public int rank() { return shape.rank(); }

    /** A view of {@code newShape.numel()} elements starting {@code elementOffset} elements into this tensor. */
    public Tensor view(long elementOffset, Shape newShape) {
        if (elementOffset < 0 || elementOffset + newShape.numel() > numel()) {
            throw new IllegalArgumentException("view " + newShape + " at " + elementOffset + " outside tensor " + shape);
        }
        return new Tensor(storage, offset + elementOffset, newShape, false);
    }

    /** The same elements under another shape of equal size. */
    public Tensor reshape(int... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != numel()) throw new IllegalArgumentException("cannot reshape " + shape + " to " + s);
        return new Tensor(storage, offset, s, false);
    }

    /** The same elements under another shape of equal size. */
    public Tensor reshape(Shape s) {
        return reshape(s.dims());
    }

    /** Sample i along the first axis, as a tensor of rank-1. */
    public Tensor slice0(int i) {
        int[] d = shape.dims();
        int per = shape.sizeFrom(1);
        int[] rest = java.util.Arrays.copyOfRange(d, 1, d.length);
        return view((long) i * per, Shape.of(rest));
    }

    /** Elements [from, to) along the first axis. */
    public Tensor narrow0(int from, int to) {
        int per = shape.sizeFrom(1);
        return view((long) from * per, shape.withDim(0, to - from));
    }

    /** Copies the elements to a new Java array (a device-to-host transfer on a GPU). */
    public float[] toArray() {
        return backend().toHost(this);
    }

    /** Releases the storage if this tensor owns it; views never do. */
    @Override public void close() {
        if (owner && !storage.isClosed()) storage.close();
    }

    @Override public String toString() {
        return "Tensor" + shape + (dtype() == DType.F32 ? "" : " " + dtype()) + "@" + backend().name();
    }
}
