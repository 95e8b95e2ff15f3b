package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Storage;

/**
 * Device memory of the CUDA backend: {@code capacity} elements of {@link #dtype()} (F32 or BF16) at a device address.
 * Two kinds:
 * <ul>
 *   <li><b>owned</b> ({@code zeros}, {@code fromArray}): its own cuMemAlloc allocation, freed by {@link #close()};</li>
 *   <li><b>arena</b> ({@code empty}): a slice of the activation arena, valid until the next
 *       {@code Backend.beginStep()}; closing it only marks it closed.</li>
 * </ul>
 * Closing twice, or using the storage after close or (arena) after its step, fails loudly.
 */
public final class CudaStorage implements Storage {
    private final CudaBackend backend;
    private final DeviceMemory.Allocation allocation;   // null for zero-size storage
    private final long byteOffset;
    private final long capacity;
    private final DType dtype;
    private final DeviceArena.Slice slice;              // null when owned
    private boolean closed;

    private CudaStorage(CudaBackend backend, DeviceMemory.Allocation allocation, long byteOffset, long capacity,
                        DType dtype, DeviceArena.Slice slice) {
        this.backend = backend;
        this.dtype = dtype;
        this.allocation = allocation;
        this.byteOffset = byteOffset;
        this.capacity = capacity;
        this.slice = slice;
    }

    static CudaStorage owned(CudaBackend backend, DeviceMemory.Allocation allocation, long capacity, DType dtype) {
        return new CudaStorage(backend, allocation, 0, capacity, dtype, null);
    }

    static CudaStorage arena(CudaBackend backend, DeviceArena.Slice slice, long capacity, DType dtype) {
        return new CudaStorage(backend, slice.allocation(), slice.offset(), capacity, dtype, slice);
    }

    @Override public Backend backend() { return backend; }

    @Override public long capacity() { return capacity; }

    /** Whether this storage is a slice of the activation arena (from {@code empty}). */
    public boolean isArena() { return slice != null; }

    /** The arena generation (step) this storage belongs to, or -1 when it is owned. */
    public int generation() { return slice == null ? -1 : slice.generation(); }

    @Override public DType dtype() { return dtype; }

    /** The device address of element {@code elementOffset}, after checking that the storage may be used. */
    long address(long elementOffset) {
        checkUsable();
        return allocation == null ? 0L : allocation.address() + byteOffset + (long) dtype().bytes() * elementOffset;
    }

    /** A JCuda pointer to element {@code elementOffset} (for cuMemcpy / cuMemset), after the same checks. */
    DevicePtr pointer(long elementOffset) {
        checkUsable();
        if (allocation == null) throw new IllegalStateException("zero-size CUDA tensor has no device memory");
        return ((DevicePtr) allocation.handle()).offsetBytes(byteOffset + (long) dtype().bytes() * elementOffset);
    }

    void checkUsable() {
        if (closed) throw new IllegalStateException("CUDA tensor used after close");
        backend.checkOpen();
        if (slice != null && !backend.arenaLive(slice)) {
            throw new IllegalStateException("tensor from the activation arena (Backend.empty) used after beginStep(): "
                    + "allocated in step " + slice.generation() + ", now step " + backend.arenaGeneration()
                    + " (tensors that outlive a step must come from zeros() or fromArray())");
        }
    }

    /** Frees an owned allocation (after queued work that may use it has finished); marks an arena slice closed. */
    @Override public void close() {
        if (closed) throw new IllegalStateException("CUDA storage closed twice");
        closed = true;
        if (slice == null && allocation != null) backend.freeOwned(allocation);
    }

    @Override public boolean isClosed() { return closed; }
}
