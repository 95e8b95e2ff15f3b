package io.github.diffusion4j.tensor;

/**
 * A block of float32 memory owned by one backend: a Java array on the CPU, device memory on a GPU.
 * Tensors are (storage, offset, shape) views of it.
 */
public interface Storage extends AutoCloseable {
    Backend backend();

    /** Capacity in floats. */
    long capacity();

    /** Releases the memory. Closing twice or using the storage after close fails loudly. */
    @Override void close();

    boolean isClosed();
}
