package io.github.diffusion4j.backend.cuda;

/**
 * Raw device allocations, as the CUDA backend makes them (cuMemAlloc / cuMemFree). A seam so that the
 * bookkeeping built on it ({@link DeviceArena}) can be unit-tested with a fake allocator on a machine without a
 * GPU.
 */
interface DeviceMemory {

    /**
     * One allocation: its device address, its size in bytes, and the backend's handle for it (a
     * {@link DevicePtr} in the CUDA backend; anything in a fake).
     */
    record Allocation(long address, long bytes, Object handle) {}

    /** Allocates {@code bytes} (> 0) of device memory; throws {@link CudaException} when it cannot. */
    Allocation allocate(long bytes);

    /** Frees an allocation. Callers make sure no queued work uses it any more ({@link #synchronize()}). */
    void free(Allocation allocation);

    /** Waits until all queued device work has finished, so that memory it used may be freed. */
    void synchronize();
}
