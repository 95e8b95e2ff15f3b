package io.github.diffusion4j.backend.cuda;

/**
 * A failed CUDA, cuDNN or cuBLAS call, or a CUDA backend that cannot start. The message names the call and the
 * library's own status string (for example {@code "cudnnConvolutionForward: CUDNN_STATUS_BAD_PARAM"}). Thrown
 * from Java and from the JNI shim.
 */
public class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
