package io.github.diffusion4j.backend.cuda;

import java.util.Locale;

/**
 * Settings of a CUDA backend. The commands that start one ({@code bench}, and {@code train}/{@code sample} where
 * they offer them) set these from options, and {@code bench} lists them in its output; there are no hidden
 * system-property switches.
 *
 * @param device             CUDA device index ({@code --gpu N})
 * @param tf32Gemm           allow TF32 tensor cores in cuBLAS GEMMs (PyTorch's default: no; {@code --tf32 on})
 * @param tf32Conv           allow TF32 in cuDNN convolutions (PyTorch's default: yes; {@code --tf32 off})
 * @param deterministicConv  only deterministic cuDNN backward algorithms (bit-reproducible gradients;
 *                           {@code --no-cudnn-deterministic} lifts it)
 * @param convWorkspaceLimit largest cuDNN workspace an algorithm may need, in bytes
 * @param syncEveryLaunch    synchronise and check after every kernel and library call ({@code --sync-launches},
 *                           debugging: an asynchronous fault is then reported at the op that caused it)
 * @param autotuneConv       choose each convolution shape's algorithms by timing them once (cudnnFind*, as
 *                           PyTorch's {@code cudnn.benchmark}) instead of by cuDNN's heuristics; the choice can
 *                           differ between runs, so results are then not bit-reproducible across processes
 * @param traceSyncs         print on stderr where the host waits for the GPU, with the calling frames
 *                           ({@code bench --trace-syncs}: finding the stalls behind a step's host waits)
 * @param nhwcConv           run cuDNN's convolutions in NHWC ({@code --conv-layout nhwc}): each one transposes its
 *                           operands from and back to the engine's NCHW tensors ({@link ConvOps}), so that the
 *                           speed of cuDNN's NHWC kernels (usually its fastest bf16 tensor-core ones) can be measured
 *                           against NCHW with nothing above the backend changed
 */
public record CudaOptions(int device, boolean tf32Gemm, boolean tf32Conv, boolean deterministicConv,
                      long convWorkspaceLimit, boolean syncEveryLaunch, boolean autotuneConv,
                      boolean traceSyncs, boolean nhwcConv) {
    /** The values {@link #withConvLayout(String)} accepts ({@code --conv-layout}). */
    public static final String CONV_LAYOUTS = "nchw or nhwc";
    /** The values {@link #withTf32(String)} accepts ({@code --tf32}). */
    public static final String TF32_MODES = "default, on or off";

    public CudaOptions {
        if (device < 0) throw new IllegalArgumentException("GPU index must be >= 0, got " + device);
        if (convWorkspaceLimit < 0) throw new IllegalArgumentException("negative workspace limit");
    }

    /**
     * PyTorch's defaults on device {@code device}: FP32 GEMMs, TF32 convolutions, deterministic cuDNN algorithms
     * chosen by heuristics (reproducible), a 1 GiB workspace limit, asynchronous launches, no tracing.
     */
    public static CudaOptions defaults(int device) {
        return new CudaOptions(device, false, true, true, 1L << 30, false, false, false, false);
    }

    /** Full FP32 everywhere (no TF32), deterministic convolutions: for comparisons with the CPU backend. */
    public static CudaOptions strictFp32(int device) {
        return new CudaOptions(device, false, false, true, 1L << 30, false, false, false, false);
    }

    /**
     * {@code --tf32 MODE}: {@code default} (PyTorch's: FP32 GEMMs, TF32 convolutions), {@code on} (TF32 for both)
     * or {@code off} (FP32 for both).
     *
     * @throws IllegalArgumentException for any other mode (the message names the option and the choices)
     */
    public CudaOptions withTf32(String mode) {
        String m = mode == null ? "" : mode.trim().toLowerCase(Locale.ROOT);
        return switch (m) {
            case "default" -> withTf32(false, true);
            case "on" -> withTf32(true, true);
            case "off" -> withTf32(false, false);
            default -> throw new IllegalArgumentException("--tf32 must be " + TF32_MODES + ", got '" + mode + "'");
        };
    }

    /** What {@code --tf32} is set to: {@code default}, {@code on}, {@code off}, or {@code custom}. */
    public String tf32Mode() {
        if (!tf32Gemm && tf32Conv) return "default";
        if (tf32Gemm && tf32Conv) return "on";
        if (!tf32Gemm) return "off";
        return "custom";
    }

    public CudaOptions withTf32(boolean gemm, boolean conv) {
        return new CudaOptions(device, gemm, conv, deterministicConv, convWorkspaceLimit, syncEveryLaunch, autotuneConv,
                traceSyncs, nhwcConv);
    }

    public CudaOptions withDeterministicConv(boolean deterministic) {
        return new CudaOptions(device, tf32Gemm, tf32Conv, deterministic, convWorkspaceLimit, syncEveryLaunch,
                autotuneConv, traceSyncs, nhwcConv);
    }

    public CudaOptions withSyncEveryLaunch(boolean sync) {
        return new CudaOptions(device, tf32Gemm, tf32Conv, deterministicConv, convWorkspaceLimit, sync, autotuneConv,
                traceSyncs, nhwcConv);
    }

    public CudaOptions withAutotuneConv(boolean autotune) {
        return new CudaOptions(device, tf32Gemm, tf32Conv, deterministicConv, convWorkspaceLimit, syncEveryLaunch,
                autotune, traceSyncs, nhwcConv);
    }

    public CudaOptions withTraceSyncs(boolean trace) {
        return new CudaOptions(device, tf32Gemm, tf32Conv, deterministicConv, convWorkspaceLimit, syncEveryLaunch,
                autotuneConv, trace, nhwcConv);
    }

    public CudaOptions withNhwcConv(boolean nhwc) {
        return new CudaOptions(device, tf32Gemm, tf32Conv, deterministicConv, convWorkspaceLimit, syncEveryLaunch,
                autotuneConv, traceSyncs, nhwc);
    }

    /**
     * {@code --conv-layout nchw|nhwc}: the memory layout cuDNN's convolutions run in.
     *
     * @throws IllegalArgumentException for any other value (the message names the option and the choices)
     */
    public CudaOptions withConvLayout(String layout) {
        String l = layout == null ? "" : layout.trim().toLowerCase(Locale.ROOT);
        return switch (l) {
            case "nchw" -> withNhwcConv(false);
            case "nhwc" -> withNhwcConv(true);
            default -> throw new IllegalArgumentException("--conv-layout must be " + CONV_LAYOUTS + ", got '" + layout + "'");
        };
    }

    /** The settings in one line, for logs and {@code info}. */
    public String summary() {
        return "GEMMs " + (tf32Gemm ? "TF32" : "FP32") + ", convolutions " + (tf32Conv ? "TF32" : "FP32")
                + " (--tf32 " + tf32Mode() + "), cuDNN algorithms " + (deterministicConv ? "deterministic" : "any")
                + (autotuneConv ? ", timed per shape" : ", by heuristics")
                + (nhwcConv ? ", convolutions in NHWC" : "")
                + (syncEveryLaunch ? ", synchronised after every launch" : "")
                + (traceSyncs ? ", host waits traced" : "");
    }
}
