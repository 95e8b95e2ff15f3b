package io.github.diffusion4j.backend.cuda;

import jcuda.driver.CUfunction;

/**
 * A JCuda kernel function whose raw CUfunction handle can be read ({@link #address()}), for launches through the
 * shim ({@link Launch#kernel}). Fill it with {@code cuModuleGetFunction(new FunctionHandle(), module, name)}.
 */
final class FunctionHandle extends CUfunction {
    /** The CUfunction handle. */
    long address() {
        return getNativePointer();
    }
}
