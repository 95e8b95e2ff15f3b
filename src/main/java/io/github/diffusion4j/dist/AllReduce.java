package io.github.diffusion4j.dist;

import io.github.diffusion4j.tensor.Tensor;

/**
 * Sums FP32 tensors over the ranks of a {@link World}, in place and asynchronously: the data-parallel gradient
 * all-reduce, made by {@link io.github.diffusion4j.tensor.Backend#allReduce}. The CPU backend's runs MPI's
 * non-blocking all-reduce on host copies; the CUDA backend's runs NCCL on a communication stream that waits for the
 * work queued before {@link #start} and that the compute stream waits for at {@link #finish}.
 */
public interface AllReduce extends AutoCloseable {
    /**
     * Starts summing {@code t} (FP32) over the ranks, in place, once the work queued so far that writes it is done;
     * the caller does not touch it until {@link #finish}.
     */
    void start(Tensor t);

    /**
     * The work queued from now on (and the host, on a backend without a queue) sees every started sum; {@code what}
     * names the wait for the watchdog's message.
     */
    void finish(String what);

    /** The number of ranks summed over. */
    int ranks();

    @Override void close();
}
