package io.github.diffusion4j.backend.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * The activation arena of the CUDA backend: a bump allocator over one large device block, reset at the start of
 * every training or sampling step ({@code Backend.beginStep()}), so that the steady-state loop never calls
 * cuMemAlloc.
 *
 * <p>Sizing: the block starts empty. A request that does not fit is served from overflow chunks (bump-allocated
 * too, at least {@link #MIN_CHUNK} each), and the step's total demand is recorded. At the next {@link #reset()}
 * (between steps, when the previous step has been queued completely) the overflow chunks and the old block are
 * freed and ONE block of the largest demand seen so far (plus 1/64 slack, rounded to 2 MiB) replaces them. So the
 * first step sizes the arena, later steps that need no more memory allocate nothing, and a step that needs more
 * (a larger batch) grows it once.
 *
 * <p>Every slice carries the arena's generation (the number of resets so far): the backend compares it with
 * {@link #generation()} whenever a tensor is used, so a tensor kept past {@code beginStep()} fails loudly instead
 * of reading memory that a later step has reused.
 *
 * <p>Not thread-safe (the backend is used from one thread at a time).
 */
final class DeviceArena implements AutoCloseable {
    /** Alignment of every slice, in bytes (cuMemAlloc's own alignment; enough for float4 and cuDNN/cuBLAS). */
    static final long ALIGN = 256;
    /** Smallest overflow chunk. */
    static final long MIN_CHUNK = 32L << 20;
    /** Block sizes are rounded up to this granularity. */
    static final long GRANULE = 2L << 20;

    /**
     * A piece of the arena {@code owner}: {@code bytes} at {@code offset} in {@code allocation}, valid in
     * {@code generation}.
     */
    record Slice(DeviceArena owner, DeviceMemory.Allocation allocation, long offset, long bytes, int generation) {
        long address() { return allocation.address() + offset; }
    }

    private final DeviceMemory memory;
    private DeviceMemory.Allocation block;
    private long used;
    private final List<DeviceMemory.Allocation> overflow = new ArrayList<>();
    private long overflowUsed;
    private long demand;
    private long peakDemand;
    private int generation;
    private int growths;
    private boolean closed;

    DeviceArena(DeviceMemory memory) {
        this.memory = memory;
    }

    static long align(long bytes) {
        return (bytes + ALIGN - 1) & -ALIGN;
    }

    static long roundUp(long bytes, long granule) {
        return (bytes + granule - 1) / granule * granule;
    }

    /** A slice of at least {@code bytes} bytes, valid until the next {@link #reset()}. */
    Slice allocate(long bytes) {
        if (closed) throw new IllegalStateException("activation arena used after close");
        if (bytes < 0) throw new IllegalArgumentException("negative size " + bytes);
        long size = align(bytes);
        demand += size;
        if (block != null && used + size <= block.bytes()) {
            Slice s = new Slice(this, block, used, size, generation);
            used += size;
            return s;
        }
        DeviceMemory.Allocation last = overflow.isEmpty() ? null : overflow.get(overflow.size() - 1);
        if (last == null || overflowUsed + size > last.bytes()) {
            last = memory.allocate(Math.max(roundUp(Math.max(size, 1), GRANULE), MIN_CHUNK));
            overflow.add(last);
            overflowUsed = 0;
        }
        Slice s = new Slice(this, last, overflowUsed, size, generation);
        overflowUsed += size;
        return s;
    }

    /**
     * Starts a new step: every earlier slice becomes invalid (the generation advances). When the step that just
     * ended needed overflow chunks, the arena is re-sized to the largest demand seen (after waiting for queued
     * work, which may still use the old memory).
     */
    void reset() {
        if (closed) throw new IllegalStateException("activation arena used after close");
        generation++;
        peakDemand = Math.max(peakDemand, demand);
        if (!overflow.isEmpty()) {
            memory.synchronize();
            for (DeviceMemory.Allocation a : overflow) memory.free(a);
            overflow.clear();
            if (block != null) memory.free(block);
            block = null;
            // a step's demand is the same every time (same shapes, same order), so little slack is needed: 1/8 was 1.8 GB
            // of unused arena at ddpm-cifar10's batch 128
            long want = roundUp(peakDemand + peakDemand / 64, GRANULE);
            block = memory.allocate(want);
            growths++;
        }
        used = 0;
        overflowUsed = 0;
        demand = 0;
    }

    /** Number of resets so far; slices of earlier generations are stale. */
    int generation() { return generation; }

    /** Whether a slice may still be used. */
    boolean isLive(Slice s) { return !closed && s.owner() == this && s.generation() == generation; }

    /** Bytes of the main block (0 before the first step that needed memory has ended). */
    long capacity() { return block == null ? 0 : block.bytes(); }

    /** Bytes handed out in the current step so far. */
    long demand() { return demand; }

    /** The largest per-step demand seen (over completed steps). */
    long peakDemand() { return Math.max(peakDemand, demand); }

    /** How often the main block was (re)allocated. */
    int growths() { return growths; }

    /** Overflow chunks in use in the current step (0 in the steady state). */
    int overflowChunks() { return overflow.size(); }

    /** Frees all memory (after waiting for queued work). Later use fails. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        if (block == null && overflow.isEmpty()) return;
        memory.synchronize();
        for (DeviceMemory.Allocation a : overflow) memory.free(a);
        overflow.clear();
        if (block != null) memory.free(block);
        block = null;
    }
}
