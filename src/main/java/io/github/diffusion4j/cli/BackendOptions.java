package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.Backends;
import io.github.diffusion4j.backend.cpu.Parallel;
import io.github.diffusion4j.backend.cuda.CudaBackend;
import io.github.diffusion4j.backend.cuda.CudaOptions;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The backend settings a command that starts a backend offers: {@code --tf32 default|on|off},
 * {@code --[no-]cudnn-deterministic}, {@code --sync-launches}, {@code --conv-layout nchw|nhwc} (CUDA) and
 * {@code --threads N} (CPU). The command keeps
 * its own {@code --device} and {@code --gpu} and passes them to {@link #select}:
 * <pre>{@code
 * @Mixin BackendOptions backendOptions;
 * ...
 * backendOptions.validate();                               // optional: refuse bad values before any other work
 * Backends.Choice choice = backendOptions.select(device, gpu);
 * }</pre>
 * The CUDA settings are accepted on the CPU too (they change nothing there).
 */
public final class BackendOptions {
    /**
     * The options' names (as {@code OptionSpec.longestName()} gives them): settings of this process, not of a run, so
     * {@code train --resume} may change them.
     */
    public static final List<String> NAMES = List.of("--tf32", "--cudnn-deterministic", "--sync-launches", "--conv-layout",
            "--threads");

    @Option(names = "--tf32", paramLabel = "MODE", description = "GPU: TF32 tensor cores: default (PyTorch's: FP32 "
            + "GEMMs, TF32 convolutions), on (both TF32) or off (both FP32) (default: default; bench --dump: off, its "
            + "parity check compares FP32 arithmetic).")
    String tf32;
    @Option(names = "--cudnn-deterministic", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "GPU: only deterministic cuDNN backward algorithms (bit-reproducible gradients; default: on). "
            + "--no-cudnn-deterministic also allows the others, as PyTorch's default does.")
    boolean cudnnDeterministic = true;
    @Option(names = "--sync-launches", description = "GPU, debugging: wait for and check every kernel and library call, "
            + "so that an asynchronous fault is reported at the operation that caused it (slow).")
    boolean syncLaunches;
    @Option(names = "--conv-layout", paramLabel = "LAYOUT", description = "GPU: the memory layout cuDNN's convolutions "
            + "run in: nchw (the engine's) or nhwc (each convolution transposes its operands there and back: measures "
            + "cuDNN's NHWC kernels; default: nchw).")
    String convLayout;
    @Option(names = "--threads", paramLabel = "N", description = "CPU backend threads (default: the available cores).")
    Integer threads;

    /** {@code --tf32} as given, or null when it was not (the command's default applies: {@code default}). */
    public String tf32() { return tf32; }

    /** {@code --threads} as given, or null when it was not. */
    public Integer threads() { return threads; }

    /**
     * Checks {@code --tf32}, {@code --conv-layout} and {@code --threads} without starting anything.
     *
     * @throws UserException with one line naming the option, the accepted values and the value given
     */
    public void validate() {
        if (threads != null && threads < 1) throw new UserException("--threads must be >= 1, got " + threads);
        try {
            if (tf32 != null) CudaOptions.defaults(0).withTf32(tf32);
            if (convLayout != null) CudaOptions.defaults(0).withConvLayout(convLayout);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
    }

    /** {@link #select(String, int, UnaryOperator)} with no further CUDA settings. */
    public Backends.Choice select(String device, int gpu) {
        return select(device, gpu, UnaryOperator.identity());
    }

    /**
     * Validates these options, sets the CPU thread count when {@code --threads} was given, and selects the backend
     * ({@link Backends#select(String, int, UnaryOperator)}) with the CUDA defaults changed by these options and then
     * by {@code more} (a command's own CUDA settings, applied last, so they win).
     *
     * @throws UserException            for a bad {@code --tf32} or {@code --threads}
     * @throws IllegalArgumentException from {@link Backends#select} (an unknown device, {@code --device cuda} where
     *                                  CUDA cannot be used: one line)
     */
    public Backends.Choice select(String device, int gpu, UnaryOperator<CudaOptions> more) {
        validate();
        if (threads != null) Parallel.setThreads(threads);
        return Backends.select(device, gpu, o -> more.apply(apply(o)));
    }

    /**
     * These options applied to {@code o}: {@code --tf32} when given, {@code --[no-]cudnn-deterministic} and
     * {@code --sync-launches} and {@code --conv-layout} when given.
     */
    public CudaOptions apply(CudaOptions o) {
        CudaOptions r = tf32 != null ? o.withTf32(tf32) : o;
        if (convLayout != null) r = r.withConvLayout(convLayout);
        return r.withDeterministicConv(cudnnDeterministic).withSyncEveryLaunch(syncLaunches);
    }
}
