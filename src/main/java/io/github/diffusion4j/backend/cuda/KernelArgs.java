package io.github.diffusion4j.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.ToLongFunction;

/**
 * The parameter buffer of one kernel, prepared once and refilled for every launch without reflection or
 * boxing: one 8-byte slot per parameter in native memory (a direct buffer), and beside it the {@code void**}
 * kernelParams array of cuLaunchKernel, pointing at the slots, built once. A launch passes that array's address
 * ({@link #params()}) to the shim ({@link Launch#kernel}); nothing is marshalled per launch. A launch sets the
 * values in declaration order ({@link #ptr}, {@link #i64}, {@link #i32}, {@link #f32}) and then launches; every
 * setter checks the kernel's signature ({@link Kernels#SIGNATURES}), so a launcher that passes a parameter of the
 * wrong kind or count fails with a clear message instead of corrupting the launch. Device pointers are passed as raw
 * 64-bit addresses. The buffer is a field, so it lives (and its address stays valid) as long as the backend.
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
    /** n value slots of 8 bytes, then the n pointers of the kernelParams array (native byte order). */
    private final ByteBuffer buffer;
    private final long params;
    private final Sink sink;
    private int next;

    /**
     * @param addressOf the native address of a direct buffer ({@link Launch#address} on a GPU; tests pass a stand-in,
     *                  since they only read the slots back)
     */
    KernelArgs(String name, String signature, ToLongFunction<ByteBuffer> addressOf, Sink sink) {
        this.name = name;
        this.signature = signature;
        this.sink = sink;
        int n = signature.length();
        for (int k = 0; k < n; k++) {
            switch (signature.charAt(k)) {
                case 'p', 'j', 'i', 'f', 'd' -> { }
                default -> throw new IllegalArgumentException("kernel " + name + ": unknown parameter kind '"
                        + signature.charAt(k) + "' in signature " + signature);
            }
        }
        buffer = ByteBuffer.allocateDirect(Math.max(16, 16 * n)).order(ByteOrder.nativeOrder());
        long base = addressOf.applyAsLong(buffer);
        for (int k = 0; k < n; k++) buffer.putLong(8 * (n + k), base + 8L * k);
        params = base + 8L * n;
    }

    String name() { return name; }

    String signature() { return signature; }

    /** The address of the kernelParams array of cuLaunchKernel (valid for the values set last). */
    long params() { return params; }

    /** Entry k of the kernelParams array: the address of parameter k's slot (for tests). */
    long paramsEntry(int k) { return buffer.getLong(8 * (signature.length() + k)); }

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
        buffer.putLong(8 * slot('p'), address);
        return this;
    }

    /** A 64-bit integer (long long / unsigned long long; Java's long bits are passed unchanged). */
    KernelArgs i64(long value) {
        buffer.putLong(8 * slot('j'), value);
        return this;
    }

    KernelArgs i32(int value) {
        buffer.putInt(8 * slot('i'), value);
        return this;
    }

    KernelArgs f32(float value) {
        buffer.putFloat(8 * slot('f'), value);
        return this;
    }

    KernelArgs f64(double value) {
        buffer.putDouble(8 * slot('d'), value);
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

    /** The value set for parameter k (for tests): Long, Integer, Float or Double. */
    Object value(int k) {
        return switch (signature.charAt(k)) {
            case 'p', 'j' -> buffer.getLong(8 * k);
            case 'i' -> buffer.getInt(8 * k);
            case 'd' -> buffer.getDouble(8 * k);
            default -> buffer.getFloat(8 * k);
        };
    }

    /**
     * A kernel's instantiations for F32 and for BF16 tensors ({@code d4j_NAME}, {@code d4j_NAME_bf16}: one template in
     * kernels/*.cu), picked by the dtype of the tensor that decides it (the output of an elementwise op).
     */
    record Typed(KernelArgs f32, KernelArgs bf16) {
        KernelArgs of(io.github.diffusion4j.tensor.Tensor t) {
            return of(t.dtype());
        }

        /** The instantiation for data of {@code dtype} (launches on device addresses rather than tensors). */
        KernelArgs of(io.github.diffusion4j.tensor.DType dtype) {
            return dtype == io.github.diffusion4j.tensor.DType.BF16 ? bf16 : f32;
        }
    }
}
