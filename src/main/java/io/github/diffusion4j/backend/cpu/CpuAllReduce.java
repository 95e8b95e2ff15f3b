package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.dist.AllReduce;
import io.github.diffusion4j.dist.World;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Storage;
import io.github.diffusion4j.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The CPU backend's data-parallel all-reduce: MPI's non-blocking all-reduce (MPI_Iallreduce, in place, on the
 * world's gradient communicator) over a direct-memory copy of each range (MPI may not keep a pointer into the Java
 * heap, whose objects move). {@link #start} copies the range out and starts the sum, and lets MPI progress the sums
 * already started; {@link #finish} waits for all of them under the watchdog and copies the sums back. CPU ops run
 * when called, so after {@code finish} the host and the next op see the sums.
 */
final class CpuAllReduce implements AllReduce {
    private record Pending(float[] array, int offset, int count, long byteOffset) {}

    /** MPI counts are ints; longer ranges go in pieces of at most this many floats. */
    static final int MAX_COUNT = 1 << 30;

    private final World world;
    private Storage storage;     // the storage whose elements the direct buffer mirrors
    private ByteBuffer direct;
    private FloatBuffer floats;
    private final List<Pending> pending = new ArrayList<>();
    private long[] requests = new long[16];

    CpuAllReduce(World world) {
        if (!world.distributed()) throw new IllegalArgumentException("an all-reduce needs an MPI world");
        this.world = world;
    }

    @Override public int ranks() { return world.size(); }

    @Override public void start(Tensor t) {
        if (t.dtype() != DType.F32) throw new IllegalArgumentException("the gradient all-reduce sums FP32, got " + t.dtype());
        float[] a = CpuBackend.arr(t);
        if (storage != t.storage()) {
            if (!pending.isEmpty()) throw new IllegalStateException("finish the sums of one buffer before starting another's");
            storage = t.storage();
            direct = ByteBuffer.allocateDirect(Math.multiplyExact(a.length, Float.BYTES)).order(ByteOrder.nativeOrder());
            floats = direct.asFloatBuffer();
        }
        int off = CpuBackend.off(t);
        for (int done = 0; done < t.size(); ) {
            int n = Math.min(MAX_COUNT, t.size() - done);
            floats.put(off + done, a, off + done, n);
            long byteOffset = (long) (off + done) * Float.BYTES;
            if (pending.size() == requests.length) requests = java.util.Arrays.copyOf(requests, 2 * requests.length);
            requests[pending.size()] = world.startSum(direct, byteOffset, n);
            pending.add(new Pending(a, off + done, n, byteOffset));
            done += n;
        }
        world.progress(requests, pending.size());
    }

    @Override public void finish(String what) {
        if (pending.isEmpty()) return;
        world.waitAll(requests, pending.size(), what);
        for (Pending p : pending) floats.get(p.offset(), p.array(), p.offset(), p.count());
        pending.clear();
    }

    @Override public void close() {
        pending.clear();
        direct = null;
        floats = null;
        storage = null;
    }
}
