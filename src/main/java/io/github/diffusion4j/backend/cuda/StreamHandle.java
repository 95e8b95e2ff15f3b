package io.github.diffusion4j.backend.cuda;

import jcuda.driver.CUstream;

/**
 * A JCuda stream whose raw CUstream handle can be read ({@link #address()}), for cudnnSetStream /
 * cublasSetStream_v2 in the JNI shim (a CUstream and a cudaStream_t are the same object). Create it with
 * {@code cuStreamCreate(new StreamHandle(), flags)}.
 */
public final class StreamHandle extends CUstream {
    public StreamHandle() {
        super();
    }

    /** The CUstream handle (0 for the legacy default stream). */
    public long address() {
        return getNativePointer();
    }
}
