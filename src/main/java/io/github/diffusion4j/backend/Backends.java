package io.github.diffusion4j.backend;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.backend.cuda.CudaAvailability;
import io.github.diffusion4j.tensor.Backend;

/**
 * Picks the backend for {@code --device auto|cpu|cuda}: CUDA when the driver, the fatbin, cuDNN and cuBLAS all
 * load and the CUDA backend is part of this build; otherwise the CPU, with one line saying why.
 */
public final class Backends {
    private Backends() {}

    /** The chosen backend and the one-line reason for the choice. */
    public record Choice(Backend backend, String reason) {}

    /** Whether this build contains the CUDA backend (its Java side is written in the "CUDA backend" issue). */
    static final boolean CUDA_BACKEND_BUILT = false;

    public static Choice select(String device) {
        return switch (device) {
            case "cpu" -> new Choice(CpuBackend.get(), "cpu (requested)");
            case "auto" -> {
                String why = cudaUnavailableReason();
                yield new Choice(CpuBackend.get(), "cpu (" + why + ")");
            }
            case "cuda" -> throw new IllegalArgumentException("--device cuda: " + cudaUnavailableReason());
            default -> throw new IllegalArgumentException("unknown device '" + device + "' (choose auto, cpu or cuda)");
        };
    }

    /** Why CUDA cannot be used, in one line. */
    public static String cudaUnavailableReason() {
        CudaAvailability a = CudaAvailability.probe();
        if (!a.available()) return a.reason();
        return "CUDA libraries found (" + a.deviceDescription() + "), but this build has no CUDA backend yet";
    }

    /** What {@code auto} resolves to, in one line, for {@code info}. */
    public static String autoSummary() {
        return "backend auto -> cpu (" + cudaUnavailableReason() + ")";
    }
}
