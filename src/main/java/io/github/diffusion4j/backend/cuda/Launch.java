package io.github.diffusion4j.backend.cuda;

import java.nio.ByteBuffer;

/**
 * Kernel launches through the JNI shim (native/launch.c) instead of JCuda's {@code cuLaunchKernel}, which walks
 * its Pointer-of-Pointers argument through JNI on every launch. The parameters live in native memory prepared
 * by {@link KernelArgs}, so a launch is one JNI call with primitive arguments. Loaded with the shim
 * ({@link NativeLibs#loadShim()}) after the driver was probed ({@link CudaAvailability}).
 */
final class Launch {
    private Launch() {}

    /**
     * cuLaunchKernel(function, gridX x 1 x 1, blockX x 1 x 1, sharedBytes, stream, params, NULL); returns the
     * CUresult.
     */
    static native int kernel(long function, int gridX, int blockX, int sharedBytes, long stream, long params);

    /** The native address of a direct buffer. */
    static native long address(ByteBuffer direct);
}
