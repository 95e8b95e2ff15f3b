package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.dist.DistException;

/**
 * The NCCL calls of the JNI shim (native/nccl.c, declarations in native/nccl_decls.h): {@code libnccl.so.2}, which
 * CUDA containers and PyTorch wheels ship, opened with dlopen when a data-parallel CUDA run starts (or {@code info}
 * looks for it). {@code D4J_NCCL_LIBRARY} names another soname or path. Failing calls throw {@link CudaException}.
 */
public final class Nccl {
    public static final String DEFAULT_LIBRARY = "libnccl.so.2";
    /** ncclResult_t: ncclInProgress, the non-error "not done yet" of ncclCommGetAsyncError. */
    static final int IN_PROGRESS = 7;

    private static LibraryInfo loaded;

    private Nccl() {}

    /** The library to open: D4J_NCCL_LIBRARY, else libnccl.so.2. */
    public static String libraryName() {
        String env = System.getenv("D4J_NCCL_LIBRARY");
        return env == null || env.isBlank() ? DEFAULT_LIBRARY : env.trim();
    }

    /** Probes NCCL through the shim (for {@code info}); the first usable one is kept for the calls. */
    public static synchronized LibraryInfo probe() {
        if (loaded != null) return loaded;
        NativeLibs.ShimStatus shim = NativeLibs.loadShim();
        if (!shim.loaded()) return LibraryInfo.notProbed(libraryName(), "not probed: " + shim.problem());
        LibraryInfo i = CudaAvailability.probeLibrary(libraryName(), Shim.KIND_NCCL);
        if (i.found()) loaded = i;
        return i;
    }

    /** Opens NCCL for the calls, or throws a one-line {@link DistException} saying why not. */
    static synchronized LibraryInfo load() {
        LibraryInfo i = probe();
        if (!i.found()) {
            throw new DistException("data-parallel CUDA training needs NCCL: " + libraryName() + " "
                    + ("missing".equals(i.status()) ? "not found" : "unusable: " + i.error())
                    + " (it comes with CUDA containers and PyTorch wheels: put its folder on LD_LIBRARY_PATH or set D4J_NCCL_LIBRARY)");
        }
        return i;
    }

    static native int version();

    /** ncclGetUniqueId: 128 bytes that rank 0 makes and every rank passes to {@link #commInitRank}. */
    static native byte[] uniqueId();

    static native long commInitRank(int nranks, byte[] id, int rank);

    /** ncclAllReduce(send, recv, count, ncclFloat32, ncclSum, comm, stream); in place when send == recv. */
    static native void allReduceSumFloat(long send, long recv, long count, long comm, long stream);

    static native int asyncError(long comm);

    static native String errorString(int code);

    static native void commAbort(long comm);

    static native void commDestroy(long comm);
}
