package io.github.diffusion4j.tensor;

/**
 * A block of memory of one element type ({@link #dtype()}) owned by one backend: a Java array on the CPU, device
 * memory on a GPU. Tensors are (storage, offset, shape) views of it, offsets and sizes counted in its elements.
 */
public interface Storage extends AutoCloseable {
    Backend backend();

    /** The element type; every tensor viewing this storage has it. */
    default DType dtype() { return DType.F32; }

    /** Capacity in elements of {@link #dtype()}. */
    long capacity();

    /** Capacity in bytes. */
    default long bytes() { return capacity() * dtype().bytes(); }

    /** Releases the memory. Closing twice or using the storage after close fails loudly. */
    @Override void close();

    boolean isClosed();
}
