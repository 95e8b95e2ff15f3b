package io.github.diffusion4j.backend.cuda;

import jcuda.Pointer;

/**
 * The parameter buffer of one kernel, prepared once and refilled for every launch without reflection or
 * boxing: one primitive array per parameter, each wrapped by a {@link Pointer} once, and the {@code void**}
 * array JCuda passes to cuLaunchKernel built once from them. A launch sets the values in declaration order
 * ({@link #ptr}, {@link #i64}, {@link #i32}, {@link #f32}) and then launches; every setter checks the kernel's
 * signature ({@link Kernels#SIGNATURES}), so a launcher that passes a parameter of the wrong kind or count fails
 * with a clear message instead of corrupting the launch. Device pointers are passed as raw 64-bit addresses.
 *
 * <p>Not thread-safe: the backend launches from one thread at a time.
 */
final class KernelArgs {
    /** Receives a fully set parameter list. */
    @FunctionalInterface
    interface Sink {
        void launch(KernelArgs args, int gridX, int blockX, int sharedBytes);
    }

    private final String name;
    private final String signature;
    private final long[][] longs;
    private final int[][] ints;
    private final float[][] floats;
    private final Pointer params;
    private final Sink sink;
    private int next;

    KernelArgs(String name, String signature, Sink sink) {
        this.name = name;
        this.signature = signature;
        this.sink = sink;
        int n = signature.length();
        longs = new long[n][];
        ints = new int[n][];
        floats = new float[n][];
        Pointer[] slots = new Pointer[n];
        for (int k = 0; k < n; k++) {
            switch (signature.charAt(k)) {
                case 'p', 'j' -> slots[k] = Pointer.to(longs[k] = new long[1]);
                case 'i' -> slots[k] = Pointer.to(ints[k] = new int[1]);
                case 'f' -> slots[k] = Pointer.to(floats[k] = new float[1]);
                default -> throw new IllegalArgumentException("kernel " + name + ": unknown parameter kind '"
                        + signature.charAt(k) + "' in signature " + signature);
            }
        }
        params = Pointer.to(slots);
    }

    String name() { return name; }

    String signature() { return signature; }

    /** The kernelParams argument of cuLaunchKernel (valid for the values set last). */
    Pointer params() { return params; }

    /** Starts a new parameter list. */
    KernelArgs begin() {
        next = 0;
        return this;
    }

    private int slot(char kind) {
        if (next >= signature.length()) {
            throw new IllegalStateException("kernel " + name + " takes " + signature.length() + " parameters ("
                    + signature + "), a launcher passed more");
        }
        char want = signature.charAt(next);
        if (want != kind) {
            throw new IllegalStateException("kernel " + name + ": parameter " + next + " is '" + want
                    + "' in signature " + signature + ", a launcher passed '" + kind + "'");
        }
        return next++;
    }

    /** A device pointer (its address; 0 for nullptr). */
    KernelArgs ptr(long address) {
        longs[slot('p')][0] = address;
        return this;
    }

    /** A 64-bit integer (long long / unsigned long long; Java's long bits are passed unchanged). */
    KernelArgs i64(long value) {
        longs[slot('j')][0] = value;
        return this;
    }

    KernelArgs i32(int value) {
        ints[slot('i')][0] = value;
        return this;
    }

    KernelArgs f32(float value) {
        floats[slot('f')][0] = value;
        return this;
    }

    /** Launches a 1-D grid once every parameter is set. */
    void launch(int gridX, int blockX) {
        launch(gridX, blockX, 0);
    }

    void launch(int gridX, int blockX, int sharedBytes) {
        if (next != signature.length()) {
            throw new IllegalStateException("kernel " + name + " takes " + signature.length() + " parameters ("
                    + signature + "), a launcher passed " + next);
        }
        if (gridX < 1 || blockX < 1 || blockX > 1024) {
            throw new IllegalArgumentException("kernel " + name + ": bad launch configuration grid " + gridX
                    + ", block " + blockX);
        }
        sink.launch(this, gridX, blockX, sharedBytes);
        next = 0;
    }

    /** The value set for parameter k (for tests): Long, Integer or Float. */
    Object value(int k) {
        return switch (signature.charAt(k)) {
            case 'p', 'j' -> longs[k][0];
            case 'i' -> ints[k][0];
            default -> floats[k][0];
        };
    }
}
