package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Rounding;
import io.github.diffusion4j.tensor.Tensor;
import jcuda.Pointer;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUresult;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventQuery;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

/**
 * CudaBackend's host-device copies: a pinned staging buffer (large copies go through it in chunks, and the scalar
 * reads of the scratch header), a ring of pinned slots with an event each for small copies in either direction, and
 * the transfer counts ({@link CudaBackend#transfers}). The CPU backend's tensors are host arrays (no counterpart).
 */
final class HostCopies {
    /** Pinned staging buffer for host transfers (larger copies go in chunks). */
    private static final int STAGING_FLOATS = 2 << 20;
    /**
     * Small host-to-device copies (timesteps, loss weights, labels: a few per step) go through a ring of pinned slots,
     * each with its own event, so that one does not wait for the previous one's copy to finish: the host waits only
     * when it comes back to a slot whose copy the stream has not reached yet.
     */
    private static final int RING_SLOTS = 16, RING_SLOT_FLOATS = 16 << 10;

    private final CudaBackend cb;
    private final CUevent stagingEvent = new CUevent();
    private final Pointer staging = new Pointer();
    private final Pointer ring = new Pointer();
    private final CUevent[] ringEvents = new CUevent[RING_SLOTS];
    private final boolean[] ringPending = new boolean[RING_SLOTS];
    /** The unread device-to-host copy that landed in each slot (toHostLater), or null. */
    private final RingCopy[] ringOwners = new RingCopy[RING_SLOTS];
    private FloatBuffer ringFloats;
    private ByteBuffer ringBytes;
    private int ringNext;
    private boolean ringAllocated;
    private FloatBuffer stagingFloats;
    private ByteBuffer stagingBytes;
    private boolean stagingPending, stagingAllocated;
    private long h2dCount, h2dBytes, d2hCount, d2hBytes;

    HostCopies(CudaBackend cb) {
        this.cb = cb;
    }

    /** Creates the staging buffer, the ring and their events (the events are destroyed with the backend's others). */
    void allocate() {
        CudaBackend.check(cuEventCreate(stagingEvent, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        cb.trackEvent(stagingEvent);
        CudaBackend.check(cuMemAllocHost(staging, 4L * STAGING_FLOATS), "cuMemAllocHost");
        stagingAllocated = true;
        stagingBytes = staging.getByteBuffer(0, 4L * STAGING_FLOATS).order(ByteOrder.nativeOrder());
        stagingFloats = stagingBytes.asFloatBuffer();
        for (int i = 0; i < RING_SLOTS; i++) {
            ringEvents[i] = new CUevent();
            CudaBackend.check(cuEventCreate(ringEvents[i], CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
            cb.trackEvent(ringEvents[i]);
        }
        CudaBackend.check(cuMemAllocHost(ring, 4L * RING_SLOTS * RING_SLOT_FLOATS), "cuMemAllocHost");
        ringAllocated = true;
        ringBytes = ring.getByteBuffer(0, 4L * RING_SLOTS * RING_SLOT_FLOATS).order(ByteOrder.nativeOrder());
        ringFloats = ringBytes.asFloatBuffer();
    }

    void copyFromHost(Tensor dst, float[] src, int srcOffset) {
        cb.ensureContext();
        cb.refuseWhileRecording("a host-to-device copy");
        long n = dst.numel();
        if (srcOffset < 0 || srcOffset + n > src.length) {
            throw new ArrayIndexOutOfBoundsException("copyFromHost: " + n + " values from offset " + srcOffset
                    + " of an array of " + src.length);
        }
        int es = dst.dtype().bytes();
        h2dCount++;
        h2dBytes += es * n;
        if (n == 0) return;
        if (n <= RING_SLOT_FLOATS) {
            copySmallFromHost(dst, src, srcOffset, (int) n);
            return;
        }
        for (long done = 0; done < n; ) {
            int chunk = (int) Math.min(n - done, STAGING_FLOATS);
            awaitStaging();
            put(stagingBytes, stagingFloats, 0, dst.dtype(), src, (int) (srcOffset + done), chunk);
            CudaBackend.check(cuMemcpyHtoDAsync(cb.storage(dst).pointer(dst.offset() + done), staging, (long) es * chunk,
                    cb.stream()), "cuMemcpyHtoDAsync");
            CudaBackend.check(cuEventRecord(stagingEvent, cb.stream()), "cuEventRecord");
            stagingPending = true;
            done += chunk;
        }
    }

    /** The stream has run everything queued (a stream synchronisation): it has read every ring slot. */
    void streamDrained() {
        java.util.Arrays.fill(ringPending, false);
    }

    /** A copy of at most one ring slot: waits only if the stream has not yet read that slot's previous contents. */
    private void copySmallFromHost(Tensor dst, float[] src, int srcOffset, int n) {
        int slot = takeRingSlot();
        put(ringBytes, ringFloats, slot * RING_SLOT_FLOATS, dst.dtype(), src, srcOffset, n);
        CudaBackend.check(cuMemcpyHtoDAsync(cb.storage(dst).pointer(dst.offset()),
                ring.withByteOffset(4L * slot * RING_SLOT_FLOATS), (long) dst.dtype().bytes() * n, cb.stream()),
                "cuMemcpyHtoDAsync");
        CudaBackend.check(cuEventRecord(ringEvents[slot], cb.stream()), "cuEventRecord");
        ringPending[slot] = true;
    }

    /**
     * The next ring slot, free to be written: a device-to-host copy that landed there and has not been read is read
     * first (into its own array), and a copy the stream has not reached yet is waited for.
     */
    private int takeRingSlot() {
        int slot = ringNext;
        ringNext = (ringNext + 1) % RING_SLOTS;
        if (ringOwners[slot] != null) ringOwners[slot].get();
        awaitRingSlot(slot);
        return slot;
    }

    private void awaitRingSlot(int slot) {
        if (!ringPending[slot]) return;
        int q = cuEventQuery(ringEvents[slot]);
        if (q == CUresult.CUDA_ERROR_NOT_READY) cb.syncEvent(ringEvents[slot], "cuEventSynchronize");
        else CudaBackend.check(q, "cuEventQuery");
        ringPending[slot] = false;
    }

    /**
     * Small tensors (at most one ring slot) copied into a pinned ring slot behind the queued work; null for the
     * others, which {@link CudaBackend#toHostLater} copies at once.
     */
    Backend.PendingCopy toHostLater(Tensor t) {
        cb.ensureContext();
        cb.refuseWhileRecording("a device-to-host copy");
        long n = t.numel();
        if (n == 0 || n > RING_SLOT_FLOATS) return null;
        d2hCount++;
        d2hBytes += (long) t.dtype().bytes() * n;
        int slot = takeRingSlot();
        CudaBackend.check(cuMemcpyDtoHAsync(ring.withByteOffset(4L * slot * RING_SLOT_FLOATS),
                cb.storage(t).pointer(t.offset()), (long) t.dtype().bytes() * n, cb.stream()), "cuMemcpyDtoHAsync");
        CudaBackend.check(cuEventRecord(ringEvents[slot], cb.stream()), "cuEventRecord");
        ringPending[slot] = true;
        RingCopy c = new RingCopy(slot, (int) n, t.dtype());
        ringOwners[slot] = c;
        return c;
    }

    /** A device-to-host copy into ring slot {@code slot}; read out (and the slot released) on the first get(). */
    private final class RingCopy implements Backend.PendingCopy {
        private final int slot, n;
        private final DType dtype;
        private float[] values;

        RingCopy(int slot, int n, DType dtype) {
            this.slot = slot;
            this.n = n;
            this.dtype = dtype;
        }

        @Override public float[] get() {
            if (values != null) return values;
            cb.ensureContext();
            awaitRingSlot(slot);
            float[] v = new float[n];
            HostCopies.get(ringBytes, ringFloats, slot * RING_SLOT_FLOATS, dtype, v, 0, n);
            ringOwners[slot] = null;
            return values = v;
        }
    }

    /** Waits until the last host-to-device copy has read the staging buffer. */
    private void awaitStaging() {
        if (stagingPending) {
            cb.syncEvent(stagingEvent, "cuEventSynchronize");
            stagingPending = false;
        }
    }

    void copyToHost(float[] dst, int dstOffset, Tensor t) {
        cb.ensureContext();
        cb.refuseWhileRecording("a device-to-host copy");
        long n = t.numel();
        if (dstOffset < 0 || dstOffset + n > dst.length) {
            throw new ArrayIndexOutOfBoundsException("copyToHost: " + n + " values at offset " + dstOffset
                    + " of an array of " + dst.length);
        }
        int es = t.dtype().bytes();
        d2hCount++;
        d2hBytes += es * n;
        for (long done = 0; done < n; ) {
            int chunk = (int) Math.min(n - done, STAGING_FLOATS);
            // stream order puts this after any pending host-to-device copy that still reads the staging buffer
            CudaBackend.check(cuMemcpyDtoHAsync(staging, cb.storage(t).pointer(t.offset() + done), (long) es * chunk,
                    cb.stream()), "cuMemcpyDtoHAsync");
            cb.syncStream("cuStreamSynchronize");
            stagingPending = false;
            get(stagingBytes, stagingFloats, 0, t.dtype(), dst, (int) (dstOffset + done), chunk);
            done += chunk;
        }
    }

    /**
     * Copies {@code bytes} from {@code src} into the staging buffer (counted), waits for it and returns the buffer,
     * which holds them from byte 0 until the next copy through it.
     */
    ByteBuffer readSmall(DevicePtr src, long bytes) {
        d2hCount++;
        d2hBytes += bytes;
        CudaBackend.check(cuMemcpyDtoHAsync(staging, src, bytes, cb.stream()), "cuMemcpyDtoHAsync");
        cb.syncStream("cuStreamSynchronize");
        stagingPending = false;
        return stagingBytes;
    }

    CudaBackend.Transfers transfers() {
        return new CudaBackend.Transfers(h2dCount, h2dBytes, d2hCount, d2hBytes);
    }

    /** Close: frees the pinned staging buffer. */
    void freeStaging() {
        if (stagingAllocated) CudaBackend.check(cuMemFreeHost(staging), "cuMemFreeHost");
        stagingAllocated = false;
    }

    /** Close: frees the pinned ring. */
    void freeRing() {
        if (ringAllocated) CudaBackend.check(cuMemFreeHost(ring), "cuMemFreeHost");
        ringAllocated = false;
    }

    /**
     * Writes src[from, from + n) into a pinned buffer as {@code dtype} elements from byte {@code 4 at} (a float index,
     * as the ring's slots are laid out): F32 as they are, BF16 rounded to nearest even (Rounding), as the CPU stores them.
     */
    private static void put(ByteBuffer bytes, FloatBuffer floats, int at, DType dtype, float[] src, int from, int n) {
        switch (dtype) {
            case F32 -> floats.put(at, src, from, n);
            case BF16 -> { for (int i = 0; i < n; i++) bytes.putShort(4 * at + 2 * i, Rounding.toBf16Bits(src[from + i])); }
            default -> throw new IllegalArgumentException("no host copies of " + dtype + " tensors");
        }
    }

    /** Reads n {@code dtype} elements from a pinned buffer, from byte {@code 4 at}, into dst[from, from + n). */
    private static void get(ByteBuffer bytes, FloatBuffer floats, int at, DType dtype, float[] dst, int from, int n) {
        switch (dtype) {
            case F32 -> floats.get(at, dst, from, n);
            case BF16 -> { for (int i = 0; i < n; i++) dst[from + i] = Rounding.fromBf16Bits(bytes.getShort(4 * at + 2 * i)); }
            default -> throw new IllegalArgumentException("no host copies of " + dtype + " tensors");
        }
    }
}
