package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Storage;

/**
 * CPU storage: a Java float array. A BF16 storage keeps bfloat16 values in it: every value an op reads from it is a
 * bfloat16 number, because {@link CpuBackend}'s one accessor of the array rounds the viewed elements to nearest-even
 * before any op reads them (see {@link CpuBackend#arr}). An op therefore computes in float32 and its outputs are
 * rounded once, as a GPU kernel that converts on its final store. The float array costs 4 bytes per element;
 * {@link #bytes()} reports the 2 a bfloat16 element takes on a device, which is what memory estimates count.
 */
public final class CpuStorage implements Storage {
    private final CpuBackend backend;
    private final DType dtype;
    private float[] data;

    CpuStorage(CpuBackend backend, float[] data) { this(backend, data, DType.F32); }

    CpuStorage(CpuBackend backend, float[] data, DType dtype) {
        this.backend = backend;
        this.data = data;
        this.dtype = dtype;
    }

    public float[] data() {
        if (data == null) throw new IllegalStateException("CPU storage used after close");
        return data;
    }

    @Override public Backend backend() { return backend; }

    @Override public DType dtype() { return dtype; }

    @Override public long capacity() { return data == null ? 0 : data.length; }

    @Override public void close() {
        if (data == null) throw new IllegalStateException("CPU storage closed twice");
        data = null;
    }

    @Override public boolean isClosed() { return data == null; }
}
