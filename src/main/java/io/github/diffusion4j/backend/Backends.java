package io.github.diffusion4j.backend;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.backend.cuda.CudaAvailability;
import io.github.diffusion4j.backend.cuda.CudaBackend;
import io.github.diffusion4j.backend.cuda.CudaOptions;
import io.github.diffusion4j.backend.cuda.CudaException;
import io.github.diffusion4j.tensor.Backend;

/**
 * Picks the backend for {@code --device auto|cpu|cuda} and {@code --gpu N}: CUDA when the driver, a supported GPU,
 * the fatbin, cuDNN and cuBLAS are all found ({@link CudaAvailability}) and the CUDA backend starts; otherwise,
 * for {@code auto}, the CPU with one line saying why. {@code cuda} fails with that line instead.
 */
public final class Backends {
    private Backends() {}

    /** The chosen backend and the one-line reason for the choice. */
    public record Choice(Backend backend, String reason) {}

    /** {@link #select(String, int)} on GPU 0. */
    public static Choice select(String device) {
        return select(device, 0);
    }

    /**
     * @param device "auto", "cpu" or "cuda"
     * @param gpu    CUDA device index (ignored for the CPU)
     * @throws IllegalArgumentException for an unknown device or a negative index, and for "cuda" when CUDA cannot
     *                                  be used (the message is the one-line reason)
     */
    public static Choice select(String device, int gpu) {
        return select(device, gpu, java.util.function.UnaryOperator.identity());
    }

    /** As {@link #select(String, int)}, with the CUDA backend's default options changed by {@code cudaOptions}. */
    public static Choice select(String device, int gpu, java.util.function.UnaryOperator<CudaOptions> cudaOptions) {
        if (gpu < 0) throw new IllegalArgumentException("--gpu must be >= 0, got " + gpu);
        return switch (device) {
            case "cpu" -> new Choice(CpuBackend.get(), "cpu (requested)");
            case "auto" -> {
                CudaAvailability a = CudaAvailability.probe();
                if (!a.available()) yield new Choice(CpuBackend.get(), "cpu (" + a.reason() + ")");
                try {
                    CudaBackend cuda = CudaBackend.create(cudaOptions.apply(CudaOptions.defaults(gpu)));
                    yield new Choice(cuda, "cuda (" + cuda.description() + ")");
                } catch (CudaException e) {
                    yield new Choice(CpuBackend.get(), "cpu (CUDA backend failed to start: " + e.getMessage() + ")");
                }
            }
            case "cuda" -> {
                CudaAvailability a = CudaAvailability.probe();
                if (!a.available()) throw new IllegalArgumentException("--device cuda: " + a.reason());
                try {
                    CudaBackend cuda = CudaBackend.create(cudaOptions.apply(CudaOptions.defaults(gpu)));
                    yield new Choice(cuda, "cuda (requested: " + cuda.description() + ")");
                } catch (CudaException e) {
                    throw new IllegalArgumentException("--device cuda: " + e.getMessage(), e);
                }
            }
            default -> throw new IllegalArgumentException("unknown device '" + device + "' (choose auto, cpu or cuda)");
        };
    }

    /** Why CUDA can or cannot be used, in one line ("CUDA available: ..." or "CUDA unavailable: ..."). */
    public static String cudaUnavailableReason() {
        return CudaAvailability.probe().reason();
    }

    /** What {@code auto} resolves to, in one line, for {@code info} (without starting the backend). */
    public static String autoSummary() {
        return CudaAvailability.probe().summary();
    }
}
