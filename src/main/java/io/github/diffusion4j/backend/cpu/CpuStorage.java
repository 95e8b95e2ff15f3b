package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Storage;

/** CPU storage: a Java float array (dtype F32). */
public final class CpuStorage implements Storage {
    private final CpuBackend backend;
    private float[] data;

    CpuStorage(CpuBackend backend, float[] data) {
        this.backend = backend;
        this.data = data;
    }

    public float[] data() {
        if (data == null) throw new IllegalStateException("CPU storage used after close");
        return data;
    }

    @Override public Backend backend() { return backend; }

    @Override public long capacity() { return data == null ? 0 : data.length; }

    @Override public void close() {
        if (data == null) throw new IllegalStateException("CPU storage closed twice");
        data = null;
    }

    @Override public boolean isClosed() { return data == null; }
}
