package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.dist.AllReduce;
import io.github.diffusion4j.dist.DistException;
import io.github.diffusion4j.dist.Watchdog;
import io.github.diffusion4j.dist.World;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Tensor;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream_flags;

import static io.github.diffusion4j.backend.cuda.CudaBackend.check;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;

/**
 * The CUDA backend's data-parallel all-reduce: NCCL over the world's ranks, one GPU each, on a communication
 * stream of its own. {@link #start} records an event on the compute stream, makes the communication stream wait for
 * it and queues ncclAllReduce (FP32 sum, in place) there, so the sum runs while the compute stream goes on with the
 * rest of the backward pass; {@link #finish} makes the compute stream wait for the communication stream (the host
 * never waits). The NCCL unique id is made by rank 0 and broadcast with MPI. When the world's watchdog fires, the
 * communicator is aborted (ncclCommAbort), which ends NCCL kernels still waiting for a peer.
 */
final class NcclAllReduce implements AllReduce {
    private final CudaBackend backend;
    private final World world;
    private final long comm;
    private final StreamHandle commStream = new StreamHandle();
    private final CUevent ready = new CUevent(), done = new CUevent();
    private int started;
    private volatile boolean aborted;
    private boolean closed;

    NcclAllReduce(CudaBackend backend, World world) {
        if (!world.distributed()) throw new IllegalArgumentException("an all-reduce needs an MPI world");
        this.backend = backend;
        this.world = world;
        Nccl.load();
        byte[] id = world.broadcast(world.isRoot() ? Nccl.uniqueId() : new byte[0], 0);
        try (Watchdog.Guard g = world.watchdog().guard("ncclCommInitRank")) {
            this.comm = Nccl.commInitRank(world.size(), id, world.rank());
        }
        world.onAbort(this::abort);
        check(cuStreamCreate(commStream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        check(cuEventCreate(ready, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        check(cuEventCreate(done, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
    }

    @Override public int ranks() { return world.size(); }

    @Override public void start(Tensor t) {
        if (t.dtype() != DType.F32) throw new IllegalArgumentException("the gradient all-reduce sums FP32, got " + t.dtype());
        long address = backend.storage(t).address(t.offset());
        check(cuEventRecord(ready, backend.stream()), "cuEventRecord");
        check(cuStreamWaitEvent(commStream, ready, 0), "cuStreamWaitEvent");
        Nccl.allReduceSumFloat(address, address, t.size(), comm, commStream.address());
        started++;
    }

    @Override public void finish(String what) {
        if (started == 0) return;
        started = 0;
        check(cuEventRecord(done, commStream), "cuEventRecord");
        check(cuStreamWaitEvent(backend.stream(), done, 0), "cuStreamWaitEvent");
        int e = Nccl.asyncError(comm);
        if (e != 0 && e != Nccl.IN_PROGRESS) {
            throw new DistException(what + ": NCCL reports " + Nccl.errorString(e) + " (" + e + ")");
        }
    }

    /** From the watchdog's thread: unblocks NCCL kernels that wait for a dead or hung peer. */
    private void abort() {
        if (aborted || closed) return;
        aborted = true;
        Nccl.commAbort(comm);
    }

    @Override public void close() {
        if (closed) return;
        closed = true;
        backend.synchronize();
        if (!aborted) Nccl.commDestroy(comm);
        check(cuEventDestroy(ready), "cuEventDestroy");
        check(cuEventDestroy(done), "cuEventDestroy");
        check(cuStreamDestroy(commStream), "cuStreamDestroy");
    }
}
