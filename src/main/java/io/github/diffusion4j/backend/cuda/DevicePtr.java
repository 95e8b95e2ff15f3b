package io.github.diffusion4j.backend.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A JCuda device pointer whose raw address can be read, to hand it to the JNI shim (cuDNN, cuBLAS) and to pass
 * pointer arguments to kernels as plain 64-bit values. JCuda keeps the address behind the protected
 * {@code getNativePointer()} / {@code getByteOffset()}; a subclass may read them on its own instances, so device
 * memory is allocated straight into a {@code DevicePtr} ({@code cuMemAlloc(new DevicePtr(), bytes)}) and views
 * are made with {@link #offsetBytes}, which stay {@code DevicePtr}s.
 */
public final class DevicePtr extends CUdeviceptr {
    /** An empty pointer for cuMemAlloc to fill. */
    public DevicePtr() {
        super();
    }

    private DevicePtr(DevicePtr base, long byteOffset) {
        super(base, byteOffset);
    }

    /** A view {@code bytes} further into the same allocation. */
    public DevicePtr offsetBytes(long bytes) {
        return new DevicePtr(this, bytes);
    }

    /** The device address: the allocation's base plus this view's byte offset. */
    public long address() {
        return getNativePointer() + getByteOffset();
    }
}
