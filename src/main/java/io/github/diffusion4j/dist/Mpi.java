package io.github.diffusion4j.dist;

import io.github.diffusion4j.backend.cuda.NativeLibs;

import java.nio.ByteBuffer;

/**
 * The MPI calls of the JNI shim (native/mpi.c, declarations in native/mpi_decls.h): Open MPI's {@code libmpi.so.40}
 * opened with dlopen at run time, so that a single process never needs MPI. Communicators and requests are
 * handles (longs). Every call returns its MPI status; {@link #check} turns a failure into a {@link DistException}
 * whose message names the call and MPI's error string.
 */
public final class Mpi {
    /** The soname opened unless {@code D4J_MPI_LIBRARY} names another (a soname or a path). */
    public static final String DEFAULT_LIBRARY = "libmpi.so.40";
    /** MPI_THREAD_MULTIPLE: the watchdog thread may abort while the main thread waits in a collective. */
    public static final int THREAD_MULTIPLE = 3;
    public static final int SUM = 0, MAX = 1, MIN = 2;

    private static String loaded;   // the library opened, or null

    private Mpi() {}

    /**
     * Loads the shim and opens the MPI library (once); throws a one-line {@link DistException} when either is
     * missing.
     */
    public static synchronized String load() {
        if (loaded != null) return loaded;
        NativeLibs.ShimStatus shim = NativeLibs.loadShim();
        if (!shim.loaded()) throw new DistException("MPI needs the JNI shim: " + shim.problem());
        String env = System.getenv("D4J_MPI_LIBRARY");
        String name = env == null || env.isBlank() ? DEFAULT_LIBRARY : env.trim();
        String err;
        try {
            err = open(name);
        } catch (UnsatisfiedLinkError e) {
            throw new DistException("the JNI shim has no MPI entry points (stale build: rebuild with mvn clean)");
        }
        if (err != null) {
            throw new DistException("cannot load MPI (" + name + "): " + err
                    + "; install Open MPI (Debian: apt-get install openmpi-bin libopenmpi-dev) or set D4J_MPI_LIBRARY");
        }
        loaded = name;
        return name;
    }

    /** For {@code info}: the MPI library's version line, or why it cannot be loaded (nothing is initialised). */
    public static String describe() {
        try {
            String name = load();
            String v = libraryVersion();
            return name + ": " + (v == null ? "loaded" : v.split(",")[0].trim());
        } catch (DistException e) {
            return e.getMessage();
        }
    }

    /** Throws when {@code status} is not MPI_SUCCESS. */
    public static void check(int status, String call) {
        if (status != 0) throw new DistException(call + " failed: " + errorString(status) + " (MPI status " + status + ")");
    }

    static native String open(String soname);

    public static native String libraryVersion();

    static native String errorString(int code);

    /** out: provided thread level, world rank, world size, node-local rank, node-local size. */
    static native int initThread(int required, int[] out);

    static native long commWorld();

    static native int commDup(long comm, long[] out);

    static native int commFree(long comm);

    /** In place over the ranks; op {@link #SUM}, {@link #MAX} or {@link #MIN}. */
    static native int allreduce(long comm, double[] values, int op);

    static native int bcast(long comm, byte[] data, int root);

    static native int barrier(long comm);

    /** Starts an in-place float sum over {@code count} floats of a direct buffer; the request goes to out[0]. */
    static native int iallreduceSumFloat(long comm, ByteBuffer direct, long byteOffset, int count, long[] out);

    static native int waitAll(long[] requests, int n);

    static native int testAll(long[] requests, int n, int[] flag);

    static native int abort(long comm, int code);

    static native int finalizeMpi();
}
