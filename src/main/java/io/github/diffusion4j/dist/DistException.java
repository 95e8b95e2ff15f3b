package io.github.diffusion4j.dist;

/** A failure of the data-parallel machinery (MPI, NCCL, a peer that died or hangs), with a one-line message. */
public final class DistException extends RuntimeException {
    public DistException(String message) { super(message); }

    public DistException(String message, Throwable cause) { super(message, cause); }
}
