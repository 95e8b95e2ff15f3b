package io.github.diffusion4j.backend.cuda;

/**
 * The probe entry points of the JNI shim {@code libdiffusion4j_native.so} (native/probe.c). Loaded by
 * {@link NativeLibs#loadShim()}; call nothing here before that succeeded.
 */
final class Shim {
    /** Must equal D4J_SHIM_ABI in native/d4j_native.h. */
    static final int ABI = 4;

    /** Library kinds, as enum d4j_lib_kind in native/d4j_native.h. */
    static final int KIND_CUDA = 0, KIND_CUDNN = 1, KIND_CUBLAS = 2, KIND_NCCL = 3, KIND_OTHER = 4;

    private Shim() {}

    /** The ABI version compiled into the shim. */
    static native int abiVersion();

    /**
     * dlopen()s {@code name} (a soname or an absolute path) and describes it as "key=value" lines (see
     * native/probe.c). With {@code keep} the handle becomes the shim's library of that kind.
     */
    static native String probeLibrary(String name, int kind, boolean keep);
}
