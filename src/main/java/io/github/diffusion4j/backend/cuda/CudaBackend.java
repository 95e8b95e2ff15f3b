package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventQuery;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

/**
 * The GPU backend: every tensor lives in device memory, every op is one of our kernels (kernels/*.cu, loaded from
 * the embedded fatbin), a cuBLAS GEMM or a cuDNN convolution, queued on ONE non-blocking stream. Java only
 * orchestrates.
 *
 * <ul>
 *   <li><b>Driver</b>: JCuda's driver API ({@code cuInit}, the device's <em>primary</em> context, which cuDNN and
 *       cuBLAS use too, so their memory and ours are one address space), one stream created non-blocking, the module
 *       from {@code cuModuleLoadData}, every {@code CUfunction} looked up once, kernel parameters in prepared
 *       buffers ({@link KernelArgs}) with device pointers passed as raw 64-bit addresses.</li>
 *   <li><b>Memory</b>: {@code zeros}/{@code fromArray} make owned allocations (parameters, gradients, optimizer
 *       moments, EMA: one each, through the flat buffers of ParamStore/AdamW/Ema); {@code empty} serves activations
 *       from the {@link DeviceArena}, reset by {@link #beginStep()}, so the steady-state loop does no cuMemAlloc.
 *       Host transfers go through a pinned staging buffer and are counted ({@link #transfers()}).</li>
 *   <li><b>Libraries</b>: GEMMs by cuBLAS (row-major mapping in {@link Cublas}); convolutions by cuDNN's legacy API
 *       with one plan (algorithms chosen once) per shape, cached, and one shared workspace grown as needed;
 *       transposed convolutions through backward-data (the Backend defaults).</li>
 *   <li><b>Math</b>: GEMMs in full FP32 and convolutions with TF32 allowed by default, as PyTorch's defaults;
 *       {@code -Ddiffusion4j.tf32=true} allows TF32 for both, {@code =false} forbids it for both (see
 *       {@link Options}).</li>
 *   <li><b>Errors</b>: every driver/library status is checked ({@link CudaException}). Kernels that validate data
 *       the host cannot see without a copy (qSample's timesteps, oneHot's class ids) set a device error word that
 *       is read at the next {@link #synchronize()} or scalar reduction, which then throws.</li>
 * </ul>
 *
 * <p>Use from one thread at a time (another thread may take over: the context is made current on it).
 *
 * <p><b>Status</b>: compiled and unit-tested without a GPU (launch configurations, kernel signatures, arena
 * bookkeeping, failure without a driver); its execution on a GPU is checked by the {@code gpu}-tagged tests.
 */
public final class CudaBackend implements Backend {

    /**
     * Settings of a CUDA backend.
     *
     * @param device             CUDA device index ({@code --gpu N})
     * @param tf32Gemm           allow TF32 tensor cores in cuBLAS GEMMs (PyTorch's default: no)
     * @param tf32Conv           allow TF32 in cuDNN convolutions (PyTorch's default: yes)
     * @param deterministicConv  only deterministic cuDNN backward algorithms (bit-reproducible gradients)
     * @param convWorkspaceLimit largest cuDNN workspace an algorithm may need, in bytes
     * @param syncEveryLaunch    synchronise and check after every kernel and library call (debugging: an
     *                           asynchronous fault is then reported at the op that caused it)
     * @param autotuneConv       choose each convolution shape's algorithms by timing them once (cudnnFind*, as
     *                           PyTorch's {@code cudnn.benchmark}) instead of by cuDNN's heuristics; the choice can
     *                           differ between runs, so results are then not bit-reproducible across processes
     */
    public record Options(int device, boolean tf32Gemm, boolean tf32Conv, boolean deterministicConv,
                          long convWorkspaceLimit, boolean syncEveryLaunch, boolean autotuneConv,
                          boolean groupNormTwoPass) {
        public Options {
            if (device < 0) throw new IllegalArgumentException("GPU index must be >= 0, got " + device);
            if (convWorkspaceLimit < 0) throw new IllegalArgumentException("negative workspace limit");
        }

        /**
         * Defaults for device {@code device}, from system properties: {@code diffusion4j.tf32} (unset: FP32 GEMMs,
         * TF32 convolutions, as PyTorch; {@code true}: TF32 for both; {@code false}: FP32 for both),
         * {@code diffusion4j.cudnn.deterministic} (default true), {@code diffusion4j.cuda.syncLaunches} (default
         * false), {@code diffusion4j.cudnn.benchmark} (default false: heuristic algorithm choice, reproducible),
         * {@code diffusion4j.cuda.groupNormTwoPass} (default false: GroupNorm statistics from one read of the group;
         * true: the mean, then the deviations from it, as the CPU computes them).
         */
        public static Options defaults(int device) {
            String tf32 = System.getProperty("diffusion4j.tf32");
            boolean gemm = "true".equalsIgnoreCase(tf32);
            boolean conv = tf32 == null || tf32.isBlank() || "true".equalsIgnoreCase(tf32);
            boolean det = !"false".equalsIgnoreCase(System.getProperty("diffusion4j.cudnn.deterministic"));
            boolean sync = Boolean.getBoolean("diffusion4j.cuda.syncLaunches");
            boolean autotune = Boolean.getBoolean("diffusion4j.cudnn.benchmark");
            boolean twoPass = Boolean.getBoolean("diffusion4j.cuda.groupNormTwoPass");
            return new Options(device, gemm, conv, det, 1L << 30, sync, autotune, twoPass);
        }

        /** Full FP32 everywhere (no TF32), deterministic convolutions: for comparisons with the CPU backend. */
        public static Options strictFp32(int device) {
            return new Options(device, false, false, true, 1L << 30, false, false, false);
        }

        public Options withSyncEveryLaunch(boolean sync) {
            return new Options(device, tf32Gemm, tf32Conv, deterministicConv, convWorkspaceLimit, sync, autotuneConv,
                    groupNormTwoPass);
        }

        public Options withAutotuneConv(boolean autotune) {
            return new Options(device, tf32Gemm, tf32Conv, deterministicConv, convWorkspaceLimit, syncEveryLaunch,
                    autotune, groupNormTwoPass);
        }

        public Options withGroupNormTwoPass(boolean twoPass) {
            return new Options(device, tf32Gemm, tf32Conv, deterministicConv, convWorkspaceLimit, syncEveryLaunch,
                    autotuneConv, twoPass);
        }
    }

    /** Host-device copies so far: count and bytes in each direction (scalar reads included). */
    public record Transfers(long hostToDeviceCount, long hostToDeviceBytes, long deviceToHostCount,
                            long deviceToHostBytes) {
        /** The copies made since {@code earlier}. */
        public Transfers minus(Transfers earlier) {
            return new Transfers(hostToDeviceCount - earlier.hostToDeviceCount,
                    hostToDeviceBytes - earlier.hostToDeviceBytes, deviceToHostCount - earlier.deviceToHostCount,
                    deviceToHostBytes - earlier.deviceToHostBytes);
        }
    }

    /**
     * Work put on the stream so far: our kernel launches, cuBLAS/cuDNN calls (each one or more kernels of theirs) and
     * driver memsets / device-to-device copies. Per training or sampling step this is the launch overhead the host
     * pays; it should not grow with the batch size. {@code hostSyncs}: times the host waited for the stream (each
     * scalar or array read, the staging buffer, timers) and {@code hostWaitNanos} the wall time it spent waiting there:
     * the rest of a step's wall time is the host issuing work (Java, JNI, the driver), which the GPU hides only while
     * it has queued work to run. {@code graphLaunches}: replays of recordings ({@link #record}); the work recorded
     * into them was counted once, when it was recorded.
     */
    public record Launches(long kernels, long libraryCalls, long memoryOps, long hostSyncs, long hostWaitNanos,
                           long graphLaunches) {
        /** Work items put on the stream (host synchronisations not included; a graph launch counts as one). */
        public long total() { return kernels + libraryCalls + memoryOps + graphLaunches; }

        /** The launches since {@code earlier}. */
        public Launches minus(Launches earlier) {
            return new Launches(kernels - earlier.kernels, libraryCalls - earlier.libraryCalls, memoryOps - earlier.memoryOps,
                    hostSyncs - earlier.hostSyncs, hostWaitNanos - earlier.hostWaitNanos,
                    graphLaunches - earlier.graphLaunches);
        }
    }

    /**
     * Device memory bookkeeping.
     *
     * @param allocations    cuMemAlloc calls so far (all kinds)
     * @param frees          cuMemFree calls so far
     * @param ownedBytes     bytes of live owned tensors (zeros / fromArray)
     * @param arenaCapacity  bytes of the activation arena's block, plus the two backward regions'
     * @param arenaPeak      largest per-step arena demand seen, plus the largest demand of each backward region
     * @param arenaGeneration steps begun so far ({@link #beginStep()} calls)
     * @param workspaceBytes the shared cuDNN workspace
     */
    public record MemoryStats(long allocations, long frees, long ownedBytes, long arenaCapacity, long arenaPeak,
                              int arenaGeneration, long workspaceBytes) {}

    /** Bits of the device error word; keep in sync with d4j::ERROR_* in kernels/common.cuh. */
    static final int ERROR_TIMESTEP_RANGE = 1, ERROR_CLASS_ID = 2;

    // scratch layout (bytes): [0, 8) double reduction result, [8, 12) int non-finite flag, [12, 16) int error word,
    // [64, 64 + 8 * MAX_REDUCE_BLOCKS) double partial sums
    private static final long SCRATCH_RESULT = 0, SCRATCH_NONFINITE = 8, SCRATCH_ERRORS = 12, SCRATCH_PARTIALS = 64;
    private static final long SCRATCH_BYTES = SCRATCH_PARTIALS + 8L * LaunchConfig.MAX_REDUCE_BLOCKS;
    /** Pinned staging buffer for host transfers (larger copies go in chunks). */
    private static final int STAGING_FLOATS = 2 << 20;
    /**
     * Small host-to-device copies (timesteps, loss weights, labels: a few per step) go through a ring of pinned slots,
     * each with its own event, so that one does not wait for the previous one's copy to finish: the host waits only
     * when it comes back to a slot whose copy the stream has not reached yet.
     */
    private static final int RING_SLOTS = 16, RING_SLOT_FLOATS = 16 << 10;
    /** cuBLAS workspace (NVIDIA recommends 32 MiB on Hopper). */
    private static final long CUBLAS_WORKSPACE = 32L << 20;

    private final Options options;
    private final CudaAvailability availability;
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final StreamHandle stream = new StreamHandle();
    private final CUmodule module = new CUmodule();
    private final CUevent timerStart = new CUevent(), timerStop = new CUevent(), stagingEvent = new CUevent();
    private final Pointer staging = new Pointer();
    private final Pointer ring = new Pointer();
    private final CUevent[] ringEvents = new CUevent[RING_SLOTS];
    private final boolean[] ringPending = new boolean[RING_SLOTS];
    /** The unread device-to-host copy that landed in each slot (toHostLater), or null. */
    private final RingCopy[] ringOwners = new RingCopy[RING_SLOTS];
    private java.nio.FloatBuffer ringFloats;
    private int ringNext;
    private boolean ringAllocated;
    private FloatBuffer stagingFloats;
    private java.nio.ByteBuffer stagingBytes;
    private boolean stagingPending;
    private final Memory memory = new Memory();
    private final DeviceArena arena = new DeviceArena(memory);
    /** The two alternating backward regions ({@link #scratchRegion}) and the one scratch() serves now (-1: arena). */
    private final DeviceArena[] regions = {new DeviceArena(memory), new DeviceArena(memory)};
    private int region = -1;
    private final Set<DeviceMemory.Allocation> liveOwned = new LinkedHashSet<>();
    private long ownedBytes;
    private DeviceMemory.Allocation scratch;
    private DeviceMemory.Allocation cublasWorkspace;
    private DeviceMemory.Allocation workspace;
    private long cublasHandle, cudnnHandle;
    private final Map<ConvKey, ConvPlan> convPlans = new HashMap<>();
    private final Map<String, KernelArgs> kernels = new HashMap<>();
    private final int gemmCompute, convMath;
    private String description;
    private Thread contextThread;
    private boolean contextRetained, moduleLoaded, streamCreated, stagingAllocated;
    private final List<CUevent> events = new ArrayList<>();
    private boolean closed;
    private long h2dCount, h2dBytes, d2hCount, d2hBytes;
    private long kernelLaunches, libraryCalls, memoryOps, hostSyncs, hostWaitNanos, graphLaunches;

    // kernels, looked up once
    private final KernelArgs kAxpby, kScale, kMul, kClamp, kSilu, kSiluBackward, kSumPartials, kSumFinalize,
            kNonfinite, kSumPerSample, kAddBias, kPlaneSums, kChannelSums, kAddPerSampleChannel, kAddBiasAdd, kAddBiasPerSampleChannel, kPerSampleChannelSum, kScaleShift,
            kScaleShiftBackward, kGroupNorm, kGroupNormBackward, kGroupNormOffset, kGroupNormBackwardOffset, kSoftmax,
            kSoftmaxBackward, kRandn, kRand, kDropout, kUpsample, kUpsampleBackward, kCopyChannels,
            kTimestepEmbedding, kOneHot, kAdamw, kQSample, kDiffusionStep, kRepaintBlend, kMseLoss,
            kDrawTimesteps;

    // ------------------------------------------------------------------ construction

    /** A backend on GPU {@code device} with {@link Options#defaults}. */
    public static CudaBackend create(int device) {
        return create(Options.defaults(device));
    }

    /**
     * A backend with the given options. Fails with a {@link CudaException} whose message says why (in one line)
     * when CUDA is unavailable (see {@link CudaAvailability}) or the device cannot be set up; never with a linkage
     * error.
     */
    public static CudaBackend create(Options options) {
        CudaAvailability a = CudaAvailability.probe();
        if (!a.available()) throw new CudaException(a.reason());
        return new CudaBackend(options, a);
    }

    /** Skips the availability check (tests: the JCuda path must fail cleanly on its own). */
    static CudaBackend createUnchecked(Options options) {
        return new CudaBackend(options, CudaAvailability.probe());
    }

    private CudaBackend(Options options, CudaAvailability availability) {
        this.options = options;
        this.availability = availability;
        this.gemmCompute = options.tf32Gemm() ? Cublas.COMPUTE_32F_FAST_TF32 : Cublas.COMPUTE_32F;
        this.convMath = options.tf32Conv() ? Cudnn.DEFAULT_MATH : Cudnn.FMA_MATH;
        try {
            initDriver();
            kAxpby = kernel(Kernels.AXPBY);
            kScale = kernel(Kernels.SCALE);
            kMul = kernel(Kernels.MUL);
            kClamp = kernel(Kernels.CLAMP);
            kSilu = kernel(Kernels.SILU);
            kSiluBackward = kernel(Kernels.SILU_BACKWARD);
            kSumPartials = kernel(Kernels.SUM_PARTIALS);
            kSumFinalize = kernel(Kernels.SUM_FINALIZE);
            kNonfinite = kernel(Kernels.NONFINITE_FLAG);
            kSumPerSample = kernel(Kernels.SUM_PER_SAMPLE);
            kAddBias = kernel(Kernels.ADD_BIAS);
            kPlaneSums = kernel(Kernels.PLANE_SUMS);
            kChannelSums = kernel(Kernels.CHANNEL_SUMS);
            kAddPerSampleChannel = kernel(Kernels.ADD_PER_SAMPLE_CHANNEL);
            kAddBiasAdd = kernel(Kernels.ADD_BIAS_ADD);
            kAddBiasPerSampleChannel = kernel(Kernels.ADD_BIAS_PER_SAMPLE_CHANNEL);
            kPerSampleChannelSum = kernel(Kernels.PER_SAMPLE_CHANNEL_SUM);
            kScaleShift = kernel(Kernels.SCALE_SHIFT);
            kScaleShiftBackward = kernel(Kernels.SCALE_SHIFT_BACKWARD);
            kGroupNorm = kernel(Kernels.GROUP_NORM_FORWARD);
            kGroupNormBackward = kernel(Kernels.GROUP_NORM_BACKWARD);
            kGroupNormOffset = kernel(Kernels.GROUP_NORM_FORWARD_OFFSET);
            kGroupNormBackwardOffset = kernel(Kernels.GROUP_NORM_BACKWARD_OFFSET);
            kSoftmax = kernel(Kernels.SOFTMAX);
            kSoftmaxBackward = kernel(Kernels.SOFTMAX_BACKWARD);
            kRandn = kernel(Kernels.RANDN);
            kRand = kernel(Kernels.RAND);
            kDropout = kernel(Kernels.DROPOUT);
            kUpsample = kernel(Kernels.UPSAMPLE_NEAREST2X);
            kUpsampleBackward = kernel(Kernels.UPSAMPLE_NEAREST2X_BACKWARD);
            kCopyChannels = kernel(Kernels.COPY_CHANNELS);
            kTimestepEmbedding = kernel(Kernels.TIMESTEP_EMBEDDING);
            kOneHot = kernel(Kernels.ONE_HOT);
            kAdamw = kernel(Kernels.ADAMW);
            kQSample = kernel(Kernels.Q_SAMPLE);
            kDiffusionStep = kernel(Kernels.DIFFUSION_STEP);
            kRepaintBlend = kernel(Kernels.REPAINT_BLEND);
            kMseLoss = kernel(Kernels.MSE_LOSS);
            kDrawTimesteps = kernel(Kernels.DRAW_TIMESTEPS);
            initLibraries();
        } catch (LinkageError e) {
            // JCuda's JNI library (it links libcuda.so.1) or a class it needs failed to load
            releaseQuietly();
            // JCuda's own message spans many lines (it lists every place it looked): keep the first
            throw new CudaException("CUDA backend cannot start: JCuda's driver binding failed to load ("
                    + e.getClass().getSimpleName() + ": " + firstLine(e.getMessage()) + ")", e);
        } catch (RuntimeException e) {
            releaseQuietly();
            if (e instanceof CudaException) throw e;
            throw new CudaException("CUDA backend cannot start: " + firstLine(e.getMessage()), e);
        }
    }

    private static String firstLine(String s) {
        if (s == null) return "no message";
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }

    private void initDriver() {
        check(cuInit(0), "cuInit");
        int[] count = {0};
        check(cuDeviceGetCount(count), "cuDeviceGetCount");
        if (options.device() >= count[0]) {
            throw new CudaException("--gpu " + options.device() + ": this machine has " + count[0] + " CUDA device"
                    + (count[0] == 1 ? "" : "s") + " (indices 0.." + (count[0] - 1) + ")");
        }
        check(cuDeviceGet(device, options.device()), "cuDeviceGet");
        int major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        byte[] fatbin = NativeLibs.fatbin().orElseThrow(() -> new CudaException(NativeLibs.fatbinMissingReason()));
        Fatbin parsed = Fatbin.parse(fatbin);
        if (!parsed.supports(major, minor)) {
            throw new CudaException("GPU " + options.device() + " (sm_" + major + minor
                    + ") is not supported by the kernels (" + parsed.describe() + ")");
        }

        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        contextRetained = true;
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
        contextThread = Thread.currentThread();
        check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        streamCreated = true;
        for (CUevent e : new CUevent[] {timerStart, timerStop}) {
            check(cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
            events.add(e);
        }
        check(cuEventCreate(stagingEvent, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        events.add(stagingEvent);
        check(cuMemAllocHost(staging, 4L * STAGING_FLOATS), "cuMemAllocHost");
        stagingAllocated = true;
        stagingBytes = staging.getByteBuffer(0, 4L * STAGING_FLOATS).order(ByteOrder.nativeOrder());
        stagingFloats = stagingBytes.asFloatBuffer();
        for (int i = 0; i < RING_SLOTS; i++) {
            ringEvents[i] = new CUevent();
            check(cuEventCreate(ringEvents[i], CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
            events.add(ringEvents[i]);
        }
        check(cuMemAllocHost(ring, 4L * RING_SLOTS * RING_SLOT_FLOATS), "cuMemAllocHost");
        ringAllocated = true;
        ringFloats = ring.getByteBuffer(0, 4L * RING_SLOTS * RING_SLOT_FLOATS).order(ByteOrder.nativeOrder()).asFloatBuffer();

        check(cuModuleLoadData(module, fatbin), "cuModuleLoadData");
        moduleLoaded = true;
        scratch = memory.allocate(SCRATCH_BYTES);
        check(cuMemsetD32Async(ptr(scratch), 0, SCRATCH_BYTES / 4, stream), "cuMemsetD32Async");

        byte[] name = new byte[256];
        check(cuDeviceGetName(name, name.length, device), "cuDeviceGetName");
        int len = 0;
        while (len < name.length && name[len] != 0) len++;
        long[] total = {0};
        check(cuDeviceTotalMem(total, device), "cuDeviceTotalMem");
        int[] driver = {0};
        check(cuDriverGetVersion(driver), "cuDriverGetVersion");
        int sms = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        description = String.format(Locale.ROOT, "%s (GPU %d, sm_%d%d, %.1f GiB, %d SMs), driver %d.%d, cuDNN %s, "
                        + "cuBLAS %s, %s GEMMs, %s convolutions%s%s",
                new String(name, 0, len, StandardCharsets.UTF_8), options.device(), major, minor,
                total[0] / (double) (1L << 30), sms, driver[0] / 1000, (driver[0] % 1000) / 10,
                availability.cudnn().version(), availability.cublas().version(), options.tf32Gemm() ? "TF32" : "FP32",
                options.tf32Conv() ? "TF32" : "FP32", options.deterministicConv() ? " (deterministic)" : "",
                options.autotuneConv() ? ", algorithms timed per shape" : "");
    }

    private void initLibraries() {
        cublasHandle = Cublas.create();
        Cublas.setStream(cublasHandle, stream.address());
        cublasWorkspace = memory.allocate(CUBLAS_WORKSPACE);
        // after setStream, which resets a user workspace to the default pool
        Cublas.setWorkspace(cublasHandle, cublasWorkspace.address(), CUBLAS_WORKSPACE);
        Cublas.setMathMode(cublasHandle, options.tf32Gemm() ? Cublas.TF32_TENSOR_OP_MATH : Cublas.DEFAULT_MATH);
        cudnnHandle = Cudnn.create();
        Cudnn.setStream(cudnnHandle, stream.address());
    }

    private int attribute(int attr) {
        int[] v = {0};
        check(cuDeviceGetAttribute(v, attr, device), "cuDeviceGetAttribute");
        return v[0];
    }

    private KernelArgs kernel(String name) {
        String sig = Kernels.SIGNATURES.get(name);
        if (sig == null) throw new IllegalStateException("no signature for kernel " + name);
        FunctionHandle fn = new FunctionHandle();
        check(cuModuleGetFunction(fn, module, name), "cuModuleGetFunction(" + name + ")");
        long function = fn.address(), streamHandle = stream.address();
        KernelArgs args = new KernelArgs(name, sig, Launch::address, (a, grid, block, shared) -> {
            if (profiling) profileBegin();
            int r = Launch.kernel(function, grid, block, shared, streamHandle, a.params());
            kernelLaunches++;
            if (profiling) profileEnd(a.name());
            if (r != CUresult.CUDA_SUCCESS) fail(r, "cuLaunchKernel(" + a.name() + ", grid " + grid + ", block " + block + ")");
            if (options.syncEveryLaunch()) syncStream("kernel " + a.name());
        });
        kernels.put(name, args);
        return args;
    }

    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) fail(result, call);
    }

    private static void fail(int result, String call) {
        String extra = result == CUresult.CUDA_ERROR_ILLEGAL_ADDRESS || result == CUresult.CUDA_ERROR_LAUNCH_FAILED
                ? " (may come from an earlier asynchronous kernel; run with -Ddiffusion4j.cuda.syncLaunches=true "
                + "to find it)" : "";
        throw new CudaException(call + ": " + CUresult.stringFor(result) + " (" + result + ")" + extra);
    }

    private static DevicePtr ptr(DeviceMemory.Allocation a) {
        return (DevicePtr) a.handle();
    }

    /** cuMemAlloc / cuMemFree with counting. */
    private final class Memory implements DeviceMemory {
        long allocations, frees;

        @Override public Allocation allocate(long bytes) {
            refuseWhileRecording("cuMemAlloc");
            DevicePtr p = new DevicePtr();
            int r = cuMemAlloc(p, bytes);
            if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
                long[] free = {0}, total = {0};
                cuMemGetInfo(free, total);
                throw new CudaException(String.format(Locale.ROOT,
                        "out of GPU memory allocating %.1f MiB (%.1f of %.1f MiB free)", bytes / 1048576.0,
                        free[0] / 1048576.0, total[0] / 1048576.0));
            }
            check(r, "cuMemAlloc(" + bytes + " bytes)");
            allocations++;
            return new Allocation(p.address(), bytes, p);
        }

        @Override public void free(Allocation a) {
            refuseWhileRecording("cuMemFree");
            check(cuMemFree(ptr(a)), "cuMemFree");
            frees++;
        }

        @Override public void synchronize() {
            syncStream("cuStreamSynchronize");
        }
    }

    // ------------------------------------------------------------------ state checks (used by CudaStorage)

    void checkOpen() {
        if (closed) throw new IllegalStateException("CUDA backend used after close");
    }

    boolean arenaLive(DeviceArena.Slice s) { return s.owner().isLive(s); }

    int arenaGeneration() { return arena.generation(); }

    /** Where scratch memory comes from now: the step's arena, or the selected backward region. */
    private DeviceArena scratchArena() { return region < 0 ? arena : regions[region]; }

    void freeOwned(DeviceMemory.Allocation a) {
        if (closed || !liveOwned.remove(a)) return;   // freed with the backend already
        ensureContext();
        memory.synchronize();
        memory.free(a);
        ownedBytes -= a.bytes();
    }

    /** Makes the primary context current when the backend is used from another thread than last time. */
    private void ensureContext() {
        checkOpen();
        Thread t = Thread.currentThread();
        if (t != contextThread) {
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            contextThread = t;
        }
    }

    private CudaStorage storage(Tensor t) {
        if (!(t.storage() instanceof CudaStorage s) || s.backend() != this) {
            throw new IllegalArgumentException("tensor " + t + " does not live on this CUDA backend");
        }
        return s;
    }

    /** Device address of the tensor's first element (checked: this backend, open, arena generation). */
    private long a(Tensor t) {
        return storage(t).address(t.offset());
    }

    /** As {@link #a}, 0 for null. */
    private long an(Tensor t) {
        return t == null ? 0L : a(t);
    }

    private DevicePtr dp(Tensor t) {
        return storage(t).pointer(t.offset());
    }

    private static void sameSize(Tensor a, Tensor b) {
        if (a.numel() != b.numel()) throw new IllegalArgumentException("size mismatch: " + a.shape() + " vs " + b.shape());
    }

    private static int blocks(long n) { return LaunchConfig.blocks(n); }

    /**
     * Blocks of a kernel over {@code n} elements in rows of {@code rowLength} that works on float4 groups when it
     * can (d4j::vec4_ok in common.cuh): a quarter of the threads when rows divide by 4. Either path is a grid-stride
     * loop, so the result does not depend on the grid.
     */
    private static int vecBlocks(long n, long rowLength) { return blocks(rowLength % 4 == 0 ? (n + 3) / 4 : n); }

    // ------------------------------------------------------------------ Backend: identity

    @Override public String name() { return "cuda"; }

    @Override public String description() { return description; }

    public Options options() { return options; }

    // ------------------------------------------------------------------ memory

    @Override public Tensor zeros(Shape shape) {
        Tensor t = allocateOwned(shape);
        if (shape.numel() > 0) {
            memoryOps++;
            check(cuMemsetD32Async(dp(t), 0, shape.numel(), stream), "cuMemsetD32Async");
        }
        return t;
    }

    private Tensor allocateOwned(Shape shape) {
        ensureContext();
        long n = shape.numel();
        DeviceMemory.Allocation a = null;
        if (n > 0) {
            a = memory.allocate(4 * n);
            liveOwned.add(a);
            ownedBytes += a.bytes();
        }
        return new Tensor(CudaStorage.owned(this, a, n), 0, shape, true);
    }

    /** A persistent allocation without the memset of {@link #zeros}. */
    @Override public Tensor empty(Shape shape) {
        return allocateOwned(shape);
    }

    /** Step-scoped: served from the activation arena, valid until the next {@link #beginStep()}. */
    @Override public Tensor scratch(Shape shape) {
        ensureContext();
        if (shape.numel() == 0) return new Tensor(CudaStorage.owned(this, null, 0), 0, shape, true);
        DeviceArena.Slice s = scratchArena().allocate(4 * shape.numel());
        return new Tensor(CudaStorage.arena(this, s, shape.numel()), 0, shape, true);
    }

    @Override public Tensor fromArray(float[] data, Shape shape) {
        if (data.length != shape.numel()) throw new IllegalArgumentException(data.length + " values for shape " + shape);
        Tensor t = allocateOwned(shape);
        copyFromHost(t, data, 0);
        return t;
    }

    @Override public void beginStep() {
        ensureContext();
        arena.reset();
        for (DeviceArena r : regions) r.reset();
        region = -1;
    }

    /**
     * Region 0 or 1 is emptied (its earlier tensors expire; it grows here, after waiting for queued work, when its
     * last use overflowed) and serves scratch() until the next call; -1 returns to the step's arena. Stream order
     * makes the reuse safe: the work that wrote the region's old tensors was queued before anything that reuses them.
     */
    @Override public void scratchRegion(int r) {
        ensureContext();
        if (r < -1 || r > 1) throw new IllegalArgumentException("scratch region must be -1, 0 or 1, got " + r);
        if (r >= 0) regions[r].reset();
        region = r;
    }

    @Override public void copyFromHost(Tensor dst, float[] src, int srcOffset) {
        ensureContext();
        refuseWhileRecording("a host-to-device copy");
        long n = dst.numel();
        if (srcOffset < 0 || srcOffset + n > src.length) {
            throw new ArrayIndexOutOfBoundsException("copyFromHost: " + n + " values from offset " + srcOffset
                    + " of an array of " + src.length);
        }
        h2dCount++;
        h2dBytes += 4 * n;
        if (n == 0) return;
        if (n <= RING_SLOT_FLOATS) {
            copySmallFromHost(dst, src, srcOffset, (int) n);
            return;
        }
        for (long done = 0; done < n; ) {
            int chunk = (int) Math.min(n - done, STAGING_FLOATS);
            awaitStaging();
            stagingFloats.clear();
            stagingFloats.put(src, (int) (srcOffset + done), chunk);
            check(cuMemcpyHtoDAsync(storage(dst).pointer(dst.offset() + done), staging, 4L * chunk, stream),
                    "cuMemcpyHtoDAsync");
            check(cuEventRecord(stagingEvent, stream), "cuEventRecord");
            stagingPending = true;
            done += chunk;
        }
    }

    /** -Ddiffusion4j.cuda.traceSyncs=true: print where the host waits for the GPU (finding stalls in a step). */
    private static final boolean TRACE_SYNCS = Boolean.getBoolean("diffusion4j.cuda.traceSyncs");

    /** The host waits for everything queued on the stream (counted). */
    private void syncStream(String what) {
        hostWait(what, () -> cuStreamSynchronize(stream));
        java.util.Arrays.fill(ringPending, false);   // the stream has read every slot
    }

    /** The host waits for an event (counted). */
    private void syncEvent(CUevent e, String what) {
        hostWait(what, () -> cuEventSynchronize(e));
    }

    /** Every host wait: refused while recording, counted, traced on request, timed, checked. */
    private void hostWait(String what, java.util.function.IntSupplier wait) {
        refuseWhileRecording(what);
        hostSyncs++;
        if (TRACE_SYNCS) traceSync(what);
        long t0 = System.nanoTime();
        int r = wait.getAsInt();
        hostWaitNanos += System.nanoTime() - t0;
        check(r, what);
    }

    private static void traceSync(String what) {
        StringBuilder sb = new StringBuilder("host waits for the GPU (" + what + ") at");
        StackTraceElement[] st = new Throwable().getStackTrace();
        // skip traceSync, hostWait and syncStream / syncEvent
        for (int i = 3; i < Math.min(st.length, 10); i++) sb.append("\n    ").append(st[i]);
        System.err.println(sb);
    }

    /** A copy of at most one ring slot: waits only if the stream has not yet read that slot's previous contents. */
    private void copySmallFromHost(Tensor dst, float[] src, int srcOffset, int n) {
        int slot = takeRingSlot();
        ringFloats.clear();
        ringFloats.position(slot * RING_SLOT_FLOATS);
        ringFloats.put(src, srcOffset, n);
        check(cuMemcpyHtoDAsync(storage(dst).pointer(dst.offset()), ring.withByteOffset(4L * slot * RING_SLOT_FLOATS),
                4L * n, stream), "cuMemcpyHtoDAsync");
        check(cuEventRecord(ringEvents[slot], stream), "cuEventRecord");
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
        if (q == CUresult.CUDA_ERROR_NOT_READY) syncEvent(ringEvents[slot], "cuEventSynchronize");
        else check(q, "cuEventQuery");
        ringPending[slot] = false;
    }

    /**
     * Small tensors (at most one ring slot, e.g. a step's per-sample losses) are copied into a pinned ring slot behind
     * the queued work; the host waits only when it reads them. Larger ones are copied at once.
     */
    @Override public PendingCopy toHostLater(Tensor t) {
        ensureContext();
        refuseWhileRecording("a device-to-host copy");
        long n = t.numel();
        if (n == 0 || n > RING_SLOT_FLOATS) return Backend.super.toHostLater(t);
        d2hCount++;
        d2hBytes += 4 * n;
        int slot = takeRingSlot();
        check(cuMemcpyDtoHAsync(ring.withByteOffset(4L * slot * RING_SLOT_FLOATS), storage(t).pointer(t.offset()),
                4L * n, stream), "cuMemcpyDtoHAsync");
        check(cuEventRecord(ringEvents[slot], stream), "cuEventRecord");
        ringPending[slot] = true;
        RingCopy c = new RingCopy(slot, (int) n);
        ringOwners[slot] = c;
        return c;
    }

    /** A device-to-host copy into ring slot {@code slot}; read out (and the slot released) on the first get(). */
    private final class RingCopy implements PendingCopy {
        private final int slot, n;
        private float[] values;

        RingCopy(int slot, int n) {
            this.slot = slot;
            this.n = n;
        }

        @Override public float[] get() {
            if (values != null) return values;
            ensureContext();
            awaitRingSlot(slot);
            float[] v = new float[n];
            ringFloats.get(slot * RING_SLOT_FLOATS, v);
            ringOwners[slot] = null;
            return values = v;
        }
    }

    /** Waits until the last host-to-device copy has read the staging buffer. */
    private void awaitStaging() {
        if (stagingPending) {
            syncEvent(stagingEvent, "cuEventSynchronize");
            stagingPending = false;
        }
    }

    @Override public float[] toHost(Tensor t) {
        float[] out = new float[t.size()];
        copyToHost(out, 0, t);
        return out;
    }

    @Override public void copyToHost(float[] dst, int dstOffset, Tensor t) {
        ensureContext();
        refuseWhileRecording("a device-to-host copy");
        long n = t.numel();
        if (dstOffset < 0 || dstOffset + n > dst.length) {
            throw new ArrayIndexOutOfBoundsException("copyToHost: " + n + " values at offset " + dstOffset
                    + " of an array of " + dst.length);
        }
        d2hCount++;
        d2hBytes += 4 * n;
        for (long done = 0; done < n; ) {
            int chunk = (int) Math.min(n - done, STAGING_FLOATS);
            // stream order puts this after any pending host-to-device copy that still reads the staging buffer
            check(cuMemcpyDtoHAsync(staging, storage(t).pointer(t.offset() + done), 4L * chunk, stream),
                    "cuMemcpyDtoHAsync");
            syncStream("cuStreamSynchronize");
            stagingPending = false;
            stagingFloats.clear();
            stagingFloats.get(dst, (int) (dstOffset + done), chunk);
            done += chunk;
        }
    }

    /**
     * Waits for all queued work, then reports any error a kernel flagged (invalid timesteps or class ids) as a
     * {@link CudaException}. Reading the error word is one 4-byte device-to-host copy.
     */
    @Override public void synchronize() {
        ensureContext();
        syncStream("cuStreamSynchronize");
        readScratch(false);
    }

    // ------------------------------------------------------------------ scalars: reductions and the error word

    /**
     * Copies the scratch header (reduction result, non-finite flag, error word) to the host, or only the error
     * word; throws when the error word is set (and clears it).
     */
    private void readScratch(boolean header) {
        long from = header ? SCRATCH_RESULT : SCRATCH_ERRORS;
        long bytes = header ? 16 : 4;
        d2hCount++;
        d2hBytes += bytes;
        check(cuMemcpyDtoHAsync(staging, ptr(scratch).offsetBytes(from), bytes, stream), "cuMemcpyDtoHAsync");
        syncStream("cuStreamSynchronize");
        stagingPending = false;
        int errors = stagingBytes.getInt((int) (SCRATCH_ERRORS - from));
        if (errors != 0) {
            memoryOps++;
            check(cuMemsetD32Async(ptr(scratch).offsetBytes(SCRATCH_ERRORS), 0, 1, stream), "cuMemsetD32Async");
            List<String> what = new ArrayList<>();
            if ((errors & ERROR_TIMESTEP_RANGE) != 0) what.add("qSample: a timestep outside [0, T) (outputs set to NaN)");
            if ((errors & ERROR_CLASS_ID) != 0) what.add("oneHot: a class id that is not an integer in [0, K) (row left zero)");
            if (what.isEmpty()) what.add("unknown error bits 0x" + Integer.toHexString(errors));
            throw new CudaException("a kernel reported invalid input since the last check: " + String.join("; ", what));
        }
    }

    private double reduce(Tensor x, boolean squares) {
        ensureContext();
        long n = x.numel();
        if (n == 0) return 0.0;
        int blocks = LaunchConfig.reduceBlocks(n);
        long partials = scratch.address() + SCRATCH_PARTIALS;
        kSumPartials.begin().ptr(partials).ptr(a(x)).i64(n).i32(squares ? 1 : 0).launch(blocks, LaunchConfig.REDUCE_THREADS);
        kSumFinalize.begin().ptr(scratch.address() + SCRATCH_RESULT).ptr(partials).i32(blocks)
                .launch(1, LaunchConfig.REDUCE_THREADS);
        readScratch(true);
        return stagingBytes.getDouble(0);
    }

    @Override public double sum(Tensor x) { return reduce(x, false); }

    @Override public double sumSquares(Tensor x) { return reduce(x, true); }

    @Override public boolean allFinite(Tensor x) {
        ensureContext();
        long n = x.numel();
        if (n == 0) return true;
        memoryOps++;
        check(cuMemsetD32Async(ptr(scratch).offsetBytes(SCRATCH_NONFINITE), 0, 1, stream), "cuMemsetD32Async");
        kNonfinite.begin().ptr(scratch.address() + SCRATCH_NONFINITE).ptr(a(x)).i64(n).launch(blocks(n), LaunchConfig.THREADS);
        readScratch(true);
        return stagingBytes.getInt((int) SCRATCH_NONFINITE) == 0;
    }

    @Override public void sumPerSample(Tensor out, Tensor x) {
        ensureContext();
        int n = x.dim(0);
        long per = x.numel() / Math.max(n, 1);
        if (out.numel() != n) throw new IllegalArgumentException("sumPerSample: out " + out.shape() + " for " + x.shape());
        if (n == 0) return;
        kSumPerSample.begin().ptr(a(out)).ptr(a(x)).i32(n).i64(per).launch(n, LaunchConfig.rowThreads(per));
    }

    // ------------------------------------------------------------------ elementwise

    @Override public void fill(Tensor out, float value) {
        ensureContext();
        if (out.numel() == 0) return;
        memoryOps++;
        check(cuMemsetD32Async(dp(out), Float.floatToRawIntBits(value), out.numel(), stream), "cuMemsetD32Async");
    }

    @Override public void copy(Tensor out, Tensor in) {
        ensureContext();
        sameSize(out, in);
        long n = in.numel();
        if (n == 0) return;
        long dst = a(out), src = a(in);
        if (dst == src) return;
        if (dst < src + 4 * n && src < dst + 4 * n) {
            throw new IllegalArgumentException("copy between overlapping ranges of one tensor is not supported on CUDA");
        }
        memoryOps++;
        check(cuMemcpyDtoDAsync(dp(out), dp(in), 4 * n, stream), "cuMemcpyDtoDAsync");
    }

    @Override public void axpby(Tensor out, float alpha, Tensor a, float beta, Tensor b) {
        ensureContext();
        sameSize(out, a);
        sameSize(out, b);
        long n = out.numel();
        if (n == 0) return;
        kAxpby.begin().ptr(a(out)).ptr(a(a)).ptr(a(b)).i64(n).f32(alpha).f32(beta).launch(blocks(n), LaunchConfig.THREADS);
    }

    @Override public void scale(Tensor out, Tensor a, float s) {
        ensureContext();
        sameSize(out, a);
        long n = out.numel();
        if (n == 0) return;
        kScale.begin().ptr(a(out)).ptr(a(a)).i64(n).f32(s).launch(blocks(n), LaunchConfig.THREADS);
    }

    @Override public void mul(Tensor out, Tensor a, Tensor b) {
        ensureContext();
        sameSize(out, a);
        sameSize(out, b);
        long n = out.numel();
        if (n == 0) return;
        kMul.begin().ptr(a(out)).ptr(a(a)).ptr(a(b)).i64(n).launch(blocks(n), LaunchConfig.THREADS);
    }

    @Override public void clamp(Tensor out, Tensor a, float lo, float hi) {
        ensureContext();
        sameSize(out, a);
        long n = out.numel();
        if (n == 0) return;
        kClamp.begin().ptr(a(out)).ptr(a(a)).i64(n).f32(lo).f32(hi).launch(blocks(n), LaunchConfig.THREADS);
    }

    // ------------------------------------------------------------------ bias and broadcasts

    /**
     * The checks shared by the per-channel bias broadcasts over in [N, C, *spatial]: out of in's size, bias of C
     * values. Returns whether there is anything to compute.
     */
    private boolean biasBroadcast(Tensor out, Tensor in, Tensor bias) {
        ensureContext();
        sameSize(out, in);
        if (bias.numel() != in.shape().c()) throw new IllegalArgumentException("bias " + bias.shape() + " for " + in.shape());
        return in.numel() != 0;
    }

    @Override public void addBias(Tensor out, Tensor in, Tensor bias) {
        if (!biasBroadcast(out, in, bias)) return;
        long sp = in.shape().spatial();
        kAddBias.begin().ptr(a(out)).ptr(a(in)).ptr(a(bias)).i32(in.dim(0)).i32(in.shape().c()).i64(sp)
                .launch(vecBlocks(in.numel(), sp), LaunchConfig.THREADS);
    }

    @Override public void biasGrad(Tensor dBias, Tensor dOut) {
        ensureContext();
        int n = dOut.dim(0), c = dOut.shape().c();
        long sp = dOut.shape().spatial();
        if (dBias.numel() != c) throw new IllegalArgumentException("bias grad " + dBias.shape() + " for " + dOut.shape());
        if (n == 0 || c == 0) return;
        // per (n, c) plane sums in double, then per channel over n: N C blocks fill the GPU where C did not
        long nc = (long) n * c;
        long partials = scratchArena().allocate(8 * nc).address();
        // a thread per plane of at most 8 elements, else a warp per plane (8 per block of 256)
        long units = sp <= 8 ? nc : (nc + 7) / 8 * LaunchConfig.THREADS;
        kPlaneSums.begin().ptr(partials).ptr(a(dOut)).i64(nc).i64(sp).launch(blocks(units), LaunchConfig.THREADS);
        channelSums(a(dBias), 0L, partials, n, c);
    }

    /** d4j_channel_sums: the per-channel second pass of bias and GroupNorm parameter gradients (see the kernel). */
    private void channelSums(long dstA, long dstB, long partials, int n, int c) {
        kChannelSums.begin().ptr(dstA).ptr(dstB).ptr(partials).i32(n).i32(c)
                .launch((c + 31) / 32, CHANNEL_SUMS_THREADS);
    }

    /** 32 channels times 32 slices of the samples per block of d4j_channel_sums. */
    private static final int CHANNEL_SUMS_THREADS = 1024;

    @Override public void addBiasAdd(Tensor out, Tensor in, Tensor bias, Tensor other, Tensor otherBias) {
        boolean work = biasBroadcast(out, in, bias);
        sameSize(other, in);
        if (otherBias != null && otherBias.numel() != in.shape().c()) {
            throw new IllegalArgumentException("bias " + otherBias.shape() + " for " + other.shape());
        }
        if (!work) return;
        long sp = in.shape().spatial();
        kAddBiasAdd.begin().ptr(a(out)).ptr(a(in)).ptr(a(bias)).ptr(a(other)).ptr(an(otherBias)).i32(in.dim(0))
                .i32(in.shape().c()).i64(sp).launch(vecBlocks(in.numel(), sp), LaunchConfig.THREADS);
    }

    @Override public void addBiasPerSampleChannel(Tensor out, Tensor in, Tensor bias, Tensor v) {
        boolean work = biasBroadcast(out, in, bias);
        int n = in.dim(0), c = in.shape().c();
        if (v.numel() != (long) n * c) throw new IllegalArgumentException("per-sample-channel values " + v.shape() + " for " + in.shape());
        if (!work) return;
        long sp = in.shape().spatial();
        kAddBiasPerSampleChannel.begin().ptr(a(out)).ptr(a(in)).ptr(a(bias)).ptr(a(v)).i32(n).i32(c).i64(sp)
                .launch(vecBlocks(in.numel(), sp), LaunchConfig.THREADS);
    }

    @Override public void addPerSampleChannel(Tensor out, Tensor in, Tensor v) {
        ensureContext();
        sameSize(out, in);
        long nc = (long) in.dim(0) * in.shape().c(), sp = in.shape().spatial();
        if (v.numel() != nc) throw new IllegalArgumentException("per-channel vector " + v.shape() + " for " + in.shape());
        if (nc * sp == 0) return;
        kAddPerSampleChannel.begin().ptr(a(out)).ptr(a(in)).ptr(a(v)).i64(nc).i64(sp).launch(vecBlocks(nc * sp, sp), LaunchConfig.THREADS);
    }

    @Override public void perSampleChannelSum(Tensor dv, Tensor dOut) {
        ensureContext();
        long nc = (long) dOut.dim(0) * dOut.shape().c(), sp = dOut.shape().spatial();
        if (dv.numel() != nc) throw new IllegalArgumentException("per-channel grad " + dv.shape() + " for " + dOut.shape());
        if (nc == 0) return;
        kPerSampleChannelSum.begin().ptr(a(dv)).ptr(a(dOut)).i64(nc).i64(sp)
                .launch(LaunchConfig.rows(nc), LaunchConfig.rowThreads(sp));
    }

    @Override public void scaleShift(Tensor out, Tensor in, Tensor scale, Tensor shift) {
        ensureContext();
        sameSize(out, in);
        long nc = (long) in.dim(0) * in.shape().c(), sp = in.shape().spatial();
        if (scale.numel() != nc || shift.numel() != nc) {
            throw new IllegalArgumentException("scale/shift " + scale.shape() + " for " + in.shape());
        }
        if (nc * sp == 0) return;
        kScaleShift.begin().ptr(a(out)).ptr(a(in)).ptr(a(scale)).ptr(a(shift)).i64(nc).i64(sp)
                .launch(blocks(nc * sp), LaunchConfig.THREADS);
    }

    @Override public void scaleShiftBackward(Tensor dIn, Tensor dScale, Tensor dShift, Tensor dOut, Tensor in,
                                             Tensor scale) {
        ensureContext();
        long nc = (long) in.dim(0) * in.shape().c(), sp = in.shape().spatial();
        sameSize(dIn, in);
        sameSize(dOut, in);
        if (dScale.numel() != nc || dShift.numel() != nc || scale.numel() != nc) {
            throw new IllegalArgumentException("scaleShiftBackward: per-channel tensors must have " + nc + " values");
        }
        if (nc == 0) return;
        kScaleShiftBackward.begin().ptr(a(dIn)).ptr(a(dScale)).ptr(a(dShift)).ptr(a(dOut)).ptr(a(in)).ptr(a(scale))
                .i64(nc).i64(sp).launch(LaunchConfig.rows(nc), LaunchConfig.rowThreads(sp));
    }

    // ------------------------------------------------------------------ matrix products (cuBLAS)

    @Override public void matmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha, float beta) {
        ensureContext();
        if (a.rank() < 2 || b.rank() < 2) {
            throw new IllegalArgumentException("matmul needs 2-D operands, got " + a.shape() + " and " + b.shape());
        }
        int ac = a.dim(-1), ar = a.shape().sizeBefore(a.rank() - 1);
        int bc = b.dim(-1), br = b.shape().sizeBefore(b.rank() - 1);
        int m = transA ? ac : ar, k = transA ? ar : ac;
        int kb = transB ? bc : br, n = transB ? br : bc;
        if (k != kb) throw new IllegalArgumentException("matmul inner dimensions differ: " + a.shape() + (transA ? "^T" : "")
                + " @ " + b.shape() + (transB ? "^T" : ""));
        if (c.numel() != (long) m * n) throw new IllegalArgumentException("matmul output " + c.shape() + " for " + m + "x" + n);
        if (m == 0 || n == 0) return;
        if (k == 0) {   // C = beta C; cuBLAS would refuse the zero leading dimension of an empty operand
            emptyProduct(c, beta);
            return;
        }
        if (profiling) profileBegin();
        Cublas.matmulRowMajor(cublasHandle, transA, transB, m, n, k, alpha, an(a), an(b), beta, a(c), gemmCompute);
        if (profiling) profileEnd("cublasGemmEx " + m + "x" + n + "x" + k + (transA ? " A^T" : "") + (transB ? " B^T" : ""));
        afterLibraryCall("cublasGemmEx");
    }

    @Override public void batchedMatmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha,
                                        float beta) {
        ensureContext();
        if (a.rank() != 3 || b.rank() != 3 || c.rank() != 3) {
            throw new IllegalArgumentException("batchedMatmul needs rank-3 operands: " + a.shape() + ", " + b.shape() + ", " + c.shape());
        }
        int batch = a.dim(0);
        if (b.dim(0) != batch || c.dim(0) != batch) throw new IllegalArgumentException("batch sizes differ");
        int ar = a.dim(1), ac = a.dim(2), br = b.dim(1), bc = b.dim(2);
        int m = transA ? ac : ar, k = transA ? ar : ac, n = transB ? br : bc;
        if ((transB ? bc : br) != k) throw new IllegalArgumentException("batchedMatmul inner dimensions differ: "
                + a.shape() + " @ " + b.shape());
        if (c.dim(1) != m || c.dim(2) != n) throw new IllegalArgumentException("batchedMatmul output " + c.shape());
        gemmStridedBatched(c, (long) m * n, a, (long) m * k, b, (long) k * n, batch, m, n, k, transA, transB, alpha,
                beta, "");
    }

    @Override public void stridedBatchedMatmul(Tensor c, long strideC, Tensor a, long strideA, Tensor b, long strideB,
                                               int batch, int m, int n, int k, boolean transA, boolean transB, float alpha,
                                               float beta) {
        ensureContext();
        io.github.diffusion4j.tensor.StridedMatmul.check(c, strideC, a, strideA, b, strideB, batch, m, n, k);
        gemmStridedBatched(c, strideC, a, strideA, b, strideB, batch, m, n, k, transA, transB, alpha, beta, " (strided)");
    }

    /** One cublasGemmStridedBatchedEx over checked operands (label: the profile's suffix for this caller). */
    private void gemmStridedBatched(Tensor c, long strideC, Tensor a, long strideA, Tensor b, long strideB, int batch,
                                    int m, int n, int k, boolean transA, boolean transB, float alpha, float beta,
                                    String label) {
        if (batch == 0 || m == 0 || n == 0) return;
        if (k == 0) {
            for (int i = 0; i < batch; i++) emptyProduct(c.view(i * strideC, Shape.of(m, n)), beta);
            return;
        }
        if (profiling) profileBegin();
        Cublas.batchedMatmulRowMajor(cublasHandle, transA, transB, m, n, k, alpha, a(a), strideA, a(b), strideB, beta,
                a(c), strideC, batch, gemmCompute);
        if (profiling) profileEnd("cublasGemmStridedBatchedEx " + batch + "x" + m + "x" + n + "x" + k
                + (transA ? " A^T" : "") + (transB ? " B^T" : "") + label);
        afterLibraryCall("cublasGemmStridedBatchedEx");
    }

    /** A product over an empty inner dimension: C = beta C, where beta = 0 does not read C (as cuBLAS). */
    private void emptyProduct(Tensor c, float beta) {
        if (beta == 0f) fill(c, 0f);
        else if (beta != 1f) scale(c, c, beta);
    }

    private void afterLibraryCall(String what) {
        libraryCalls++;
        if (options.syncEveryLaunch()) syncStream(what);
    }

    // ------------------------------------------------------------------ convolutions (cuDNN)

    /** One convolution shape: x [n, c, h, w] * w [k, c, kh, kw] -> y [n, k, ho, wo]. */
    record ConvKey(int n, int c, int h, int w, int k, int kh, int kw, int stride, int pad, int ho, int wo) {}

    /** A cached cuDNN plan and the workspace bytes of its three directions. */
    private record ConvPlan(long handle, long fwdBytes, long bwdDataBytes, long bwdFilterBytes) {}

    /** Validates the shapes as the CPU does and returns the key of y = conv(x, w). */
    static ConvKey convKey(Tensor y, Tensor x, Tensor w, int stride, int pad) {
        if (x.rank() != 4 || w.rank() != 4 || y.rank() != 4) {
            throw new IllegalArgumentException("conv2d needs rank-4 tensors: x " + x.shape() + ", w " + w.shape() + ", y " + y.shape());
        }
        if (stride < 1 || pad < 0) throw new IllegalArgumentException("conv2d: stride " + stride + ", pad " + pad);
        int n = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3);
        if (w.dim(1) != cin) throw new IllegalArgumentException("conv2d weight " + w.shape() + " for input " + x.shape());
        int ho = (h + 2 * pad - kh) / stride + 1, wo = (wd + 2 * pad - kw) / stride + 1;
        if (y.dim(0) != n || y.dim(1) != cout || y.dim(2) != ho || y.dim(3) != wo) {
            throw new IllegalArgumentException("conv2d output " + y.shape() + " expected [" + n + ", " + cout + ", " + ho + ", " + wo + "]");
        }
        return new ConvKey(n, cin, h, wd, cout, kh, kw, stride, pad, ho, wo);
    }

    private ConvPlan plan(ConvKey key) {
        ConvPlan p = convPlans.get(key);
        if (p == null) {
            long h = Cudnn.convPlan(cudnnHandle, key.n(), key.c(), key.h(), key.w(), key.k(), key.kh(), key.kw(),
                    key.pad(), key.pad(), key.stride(), key.stride(), key.ho(), key.wo(), convMath,
                    options.deterministicConv(), options.convWorkspaceLimit());
            if (options.autotuneConv()) {
                try {
                    autotune(h, key);
                } catch (RuntimeException | Error e) {
                    Cudnn.convPlanDestroy(h);   // half re-chosen: never used, never leaked
                    throw e;
                }
            }
            long[] info = Cudnn.convPlanInfo(h);
            p = new ConvPlan(h, info[2], info[5], info[8]);
            convPlans.put(key, p);
        }
        return p;
    }

    /**
     * Times every algorithm of the plan's three directions once (cudnnFind*AlgorithmEx) and keeps the fastest that
     * fits the workspace limit (deterministic backward algorithms only, unless allowed). Runs on temporary buffers
     * of the plan's shapes, so no caller data is overwritten; happens once per shape, typically in the first step.
     */
    private void autotune(long plan, ConvKey k) {
        long xBytes = 4L * k.n() * k.c() * k.h() * k.w(), yBytes = 4L * k.n() * k.k() * k.ho() * k.wo();
        long wBytes = 4L * k.k() * k.c() * k.kh() * k.kw();
        long[] free = {0}, total = {0};
        check(cuMemGetInfo(free, total), "cuMemGetInfo");
        // the search may use up to the workspace limit, but not more than a quarter of what is free after the buffers
        long wsBytes = Math.min(options.convWorkspaceLimit(), Math.max(0, (free[0] - 2 * xBytes - yBytes - 2 * wBytes) / 4))
                & ~((1L << 20) - 1);   // whole MiB, rounded down
        List<DeviceMemory.Allocation> temp = new ArrayList<>();
        try {
            DeviceMemory.Allocation x = memory.allocate(xBytes), dx = memory.allocate(xBytes), y = memory.allocate(yBytes);
            DeviceMemory.Allocation w = memory.allocate(wBytes), dw = memory.allocate(wBytes);
            temp.addAll(List.of(x, dx, y, w, dw));
            for (DeviceMemory.Allocation t : temp) {
                memoryOps++;
                check(cuMemsetD32Async(ptr(t), 0, t.bytes() / 4, stream), "cuMemsetD32Async");
            }
            // a workspace for the search only: the shared one then grows to what the chosen algorithms need
            DeviceMemory.Allocation ws = wsBytes > 0 ? memory.allocate(wsBytes) : null;
            if (ws != null) temp.add(ws);
            Cudnn.convPlanFind(cudnnHandle, plan, x.address(), w.address(), y.address(), dx.address(), dw.address(),
                    ws == null ? 0L : ws.address(), wsBytes, options.deterministicConv());
            afterLibraryCall("cudnnFindConvolution*AlgorithmEx");
        } finally {
            memory.synchronize();
            for (DeviceMemory.Allocation t : temp) memory.free(t);
        }
    }

    /** The shared cuDNN workspace, grown (between uses: queued work is awaited first) to at least {@code bytes}. */
    private long workspace(long bytes) {
        if (bytes == 0) return 0;
        if (workspace == null || workspace.bytes() < bytes) {
            if (workspace != null) {
                memory.synchronize();
                memory.free(workspace);
                workspace = null;
            }
            workspace = memory.allocate(DeviceArena.roundUp(bytes, 1L << 20));
        }
        return workspace.address();
    }

    private long workspaceBytes() { return workspace == null ? 0 : workspace.bytes(); }

    @Override public void conv2d(Tensor y, Tensor x, Tensor w, Tensor bias, int stride, int pad) {
        if (convForward(y, x, w, stride, pad, 0f) && bias != null) addBias(y, y, bias);
    }

    /** cuDNN with beta = 1: the convolution adds into y. */
    @Override public void conv2dAccumulate(Tensor y, Tensor x, Tensor w, int stride, int pad) {
        convForward(y, x, w, stride, pad, 1f);
    }

    /** y = conv(x, w) + beta * y; false when y is empty (nothing queued). */
    private boolean convForward(Tensor y, Tensor x, Tensor w, int stride, int pad, float beta) {
        ensureContext();
        ConvKey key = convKey(y, x, w, stride, pad);
        if (y.numel() == 0) return false;
        ConvPlan p = plan(key);
        long ws = workspace(p.fwdBytes());
        if (profiling) profileBegin();
        Cudnn.convForward(cudnnHandle, p.handle(), a(x), a(w), a(y), ws, workspaceBytes(), 1f, beta);
        if (profiling) profileEnd((beta == 0f ? "conv fwd " : "conv fwd+= ") + profileLabel(key));
        afterLibraryCall("cudnnConvolutionForward");
        return true;
    }

    @Override public void conv2dBackwardData(Tensor dx, Tensor dy, Tensor w, int stride, int pad) {
        ensureContext();
        ConvKey key = convKey(dy, dx, w, stride, pad);
        if (dx.numel() == 0) return;
        ConvPlan p = plan(key);
        long ws = workspace(p.bwdDataBytes());
        if (profiling) profileBegin();
        Cudnn.convBackwardData(cudnnHandle, p.handle(), a(w), a(dy), a(dx), ws, workspaceBytes(), 1f, 0f);
        if (profiling) profileEnd("conv bwd-data " + profileLabel(key));
        afterLibraryCall("cudnnConvolutionBackwardData");
    }

    @Override public void conv2dBackwardFilter(Tensor dw, Tensor dBias, Tensor dy, Tensor x, int stride, int pad) {
        ensureContext();
        ConvKey key = convKey(dy, x, dw, stride, pad);
        if (dw.numel() == 0) return;
        ConvPlan p = plan(key);
        long ws = workspace(p.bwdFilterBytes());
        // beta = 1: parameter gradients accumulate
        if (profiling) profileBegin();
        Cudnn.convBackwardFilter(cudnnHandle, p.handle(), a(x), a(dy), a(dw), ws, workspaceBytes(), 1f, 1f);
        if (profiling) profileEnd("conv bwd-filter " + profileLabel(key));
        afterLibraryCall("cudnnConvolutionBackwardFilter");
        if (dBias != null) biasGrad(dBias, dy);
    }

    // ------------------------------------------------------------------ normalisation and activations

    @Override public void groupNorm(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups,
                                    float eps) {
        groupNormForward(y, mean, rstd, x, gamma, beta, groups, eps, false);
    }

    @Override public void groupNormBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor mean,
                                            Tensor rstd, Tensor gamma, int groups) {
        groupNormBackward(dx, dGamma, dBeta, dy, x, null, null, mean, rstd, gamma, null, groups, null);
    }

    /** d4j_group_norm_* have the SiLU (and the dropout) built in (fuseSilu = 1): one pass each way. */
    @Override public void groupNormSilu(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor xBias, Tensor xAdd,
                                        Tensor gamma, Tensor beta, int groups, float eps, float p, long seed,
                                        long offset) {
        groupNormForward(y, mean, rstd, x, xBias, xAdd, gamma, beta, groups, eps, true, p, seed, offset);
    }

    @Override public void groupNormSiluBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x,
                                                Tensor xBias, Tensor xAdd, Tensor mean, Tensor rstd, Tensor gamma,
                                                Tensor beta, int groups, float eps, Tensor addend) {
        if (addend != null) sameSize(addend, x);
        groupNormBackward(dx, dGamma, dBeta, dy, x, xBias, xAdd, mean, rstd, gamma, beta, groups, addend);
    }

    private void groupNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups,
                                  float eps, boolean silu) {
        groupNormForward(y, mean, rstd, x, null, null, gamma, beta, groups, eps, silu, 0f, 0L, 0L);
    }

    /** xBias == null: GroupNorm of x; else of (x + xBias[c]) + xAdd[n, c] (d4j_group_norm_forward_offset). */
    private void groupNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor xBias, Tensor xAdd, Tensor gamma,
                                  Tensor beta, int groups, float eps, boolean silu, float dropP, long dropSeed,
                                  long dropOffset) {
        ensureContext();
        Check.dropout(dropP);
        Check.groupNormOffsets(x, xBias, xAdd);
        Check.groupNorm(y, mean, rstd, x, gamma, beta, groups);
        int n = x.dim(0), c = x.shape().c();
        long sp = x.shape().spatial();
        if (x.numel() == 0) return;
        checkGroupSize(c / groups * sp);
        float keep = dropP > 0f ? 1f / (1f - dropP) : 1f;
        int twoPass = options.groupNormTwoPass() ? 1 : 0;
        int grid = LaunchConfig.rows((long) n * groups), threads = LaunchConfig.rowThreads(c / groups * sp);
        if (xBias == null) {
            kGroupNorm.begin().ptr(a(y)).ptr(a(mean)).ptr(a(rstd)).ptr(a(x)).ptr(a(gamma)).ptr(a(beta)).i32(n).i32(c)
                    .i64(sp).i32(groups).f32(eps).i32(twoPass).i32(silu ? 1 : 0).f32(dropP).f32(keep).i64(dropSeed)
                    .i64(dropOffset).launch(grid, threads);
        } else {
            kGroupNormOffset.begin().ptr(a(y)).ptr(a(mean)).ptr(a(rstd)).ptr(a(x)).ptr(a(xBias)).ptr(a(xAdd))
                    .ptr(a(gamma)).ptr(a(beta)).i32(n).i32(c).i64(sp).i32(groups).f32(eps).i32(twoPass)
                    .i32(silu ? 1 : 0).f32(dropP).f32(keep).i64(dropSeed).i64(dropOffset).launch(grid, threads);
        }
    }

    /** The GroupNorm kernels find an element's channel within its group with 32-bit division. */
    private static void checkGroupSize(long elements) {
        if (elements >= (1L << 32)) throw new IllegalArgumentException("groupNorm: a group of " + elements
                + " elements is too large for the CUDA kernels (at most 2^32 - 1)");
    }

    /** beta == null: plain GroupNorm; otherwise dy is the gradient at silu(groupNorm(x)) (fuseSilu = 1). */
    private void groupNormBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor xBias,
                                   Tensor xAdd, Tensor mean, Tensor rstd, Tensor gamma, Tensor beta, int groups,
                                   Tensor addend) {
        ensureContext();
        Check.groupNormOffsets(x, xBias, xAdd);
        Check.groupNorm(dx, mean, rstd, x, gamma, beta, groups);
        sameSize(dy, x);
        int n = x.dim(0), c = x.shape().c();
        long sp = x.shape().spatial();
        if (x.numel() == 0) return;
        checkGroupSize(c / groups * sp);
        long betaPtr = an(beta);
        int fuse = beta == null ? 0 : 1;
        // one kernel: the parameter gradients' per-(n, c) partials and dx (which may alias dy), then the per-channel
        // pass into dGamma and dBeta
        long nc = (long) n * c;
        long partials = scratchArena().allocate(16 * nc).address();
        int grid = LaunchConfig.rows((long) n * groups), threads = LaunchConfig.rowThreads(c / groups * sp);
        if (xBias == null) {
            kGroupNormBackward.begin().ptr(partials).ptr(a(dx)).ptr(a(dy)).ptr(an(addend)).ptr(a(x)).ptr(a(mean))
                    .ptr(a(rstd)).ptr(a(gamma)).ptr(betaPtr).i32(n).i32(c).i64(sp).i32(groups).i32(fuse)
                    .launch(grid, threads);
        } else {
            kGroupNormBackwardOffset.begin().ptr(partials).ptr(a(dx)).ptr(a(dy)).ptr(an(addend)).ptr(a(x))
                    .ptr(a(xBias)).ptr(a(xAdd)).ptr(a(mean)).ptr(a(rstd)).ptr(a(gamma)).ptr(betaPtr).i32(n).i32(c)
                    .i64(sp).i32(groups).i32(fuse).launch(grid, threads);
        }
        channelSums(a(dGamma), a(dBeta), partials, n, c);
    }

    @Override public void silu(Tensor y, Tensor x) {
        ensureContext();
        sameSize(y, x);
        long n = x.numel();
        if (n == 0) return;
        kSilu.begin().ptr(a(y)).ptr(a(x)).i64(n).launch(blocks(n), LaunchConfig.THREADS);
    }

    @Override public void siluBackward(Tensor dx, Tensor dy, Tensor x) {
        ensureContext();
        sameSize(dx, x);
        sameSize(dy, x);
        long n = x.numel();
        if (n == 0) return;
        kSiluBackward.begin().ptr(a(dx)).ptr(a(dy)).ptr(a(x)).i64(n).launch(blocks(n), LaunchConfig.THREADS);
    }

    @Override public void softmax(Tensor y, Tensor x) {
        ensureContext();
        sameSize(y, x);
        int cols = x.dim(-1);
        if (x.numel() == 0) return;
        long rows = x.numel() / cols;
        kSoftmax.begin().ptr(a(y)).ptr(a(x)).i64(rows).i32(cols).launch(LaunchConfig.rows(rows), LaunchConfig.rowThreads(cols));
    }

    @Override public void softmaxBackward(Tensor dx, Tensor dy, Tensor y) {
        ensureContext();
        sameSize(dx, y);
        sameSize(dy, y);
        int cols = y.dim(-1);
        if (y.numel() == 0) return;
        long rows = y.numel() / cols;
        kSoftmaxBackward.begin().ptr(a(dx)).ptr(a(dy)).ptr(a(y)).i64(rows).i32(cols)
                .launch(LaunchConfig.rows(rows), LaunchConfig.rowThreads(cols));
    }

    @Override public void dropout(Tensor y, Tensor x, float p, long seed, long offset) {
        dropoutApply(y, x, p, seed, offset);
    }

    @Override public void dropoutBackward(Tensor dx, Tensor dy, float p, long seed, long offset) {
        dropoutApply(dx, dy, p, seed, offset);
    }

    private void dropoutApply(Tensor out, Tensor in, float p, long seed, long offset) {
        ensureContext();
        sameSize(out, in);
        Check.dropout(p);
        long n = in.numel();
        if (n == 0) return;
        float keep = 1f / (1f - p);
        kDropout.begin().ptr(a(out)).ptr(a(in)).i64(n).f32(p).f32(keep).i64(seed).i64(offset)
                .launch(LaunchConfig.philoxBlocks(n, offset), LaunchConfig.THREADS);
    }

    // ------------------------------------------------------------------ reshaping

    @Override public void upsampleNearest2x(Tensor y, Tensor x) {
        ensureContext();
        if (x.rank() != 4) throw new IllegalArgumentException("upsample needs [N, C, H, W], got " + x.shape());
        long nc = (long) x.dim(0) * x.dim(1);
        int h = x.dim(2), w = x.dim(3);
        if (y.numel() != 4L * x.numel()) throw new IllegalArgumentException("upsample output " + y.shape() + " for " + x.shape());
        if (x.numel() == 0) return;
        kUpsample.begin().ptr(a(y)).ptr(a(x)).i64(nc).i32(h).i32(w).launch(blocks(y.numel()), LaunchConfig.THREADS);
    }

    @Override public void upsampleNearest2xBackward(Tensor dx, Tensor dy) {
        ensureContext();
        if (dx.rank() != 4) throw new IllegalArgumentException("upsample gradient needs [N, C, H, W], got " + dx.shape());
        long nc = (long) dx.dim(0) * dx.dim(1);
        int h = dx.dim(2), w = dx.dim(3);
        if (dy.numel() != 4L * dx.numel()) throw new IllegalArgumentException("upsample gradient " + dy.shape() + " for " + dx.shape());
        if (dx.numel() == 0) return;
        kUpsampleBackward.begin().ptr(a(dx)).ptr(a(dy)).i64(nc).i32(h).i32(w).launch(blocks(dx.numel()), LaunchConfig.THREADS);
    }

    @Override public void concatChannels(Tensor out, Tensor... parts) {
        ensureContext();
        int n = out.dim(0), cOut = out.shape().c();
        long sp = out.shape().spatial();
        int total = 0;
        for (Tensor p : parts) total += p.shape().c();
        if (total != cOut) throw new IllegalArgumentException("concat of " + total + " channels into " + out.shape());
        int c0 = 0;
        for (Tensor p : parts) {
            int pc = p.shape().c();
            if (p.dim(0) != n || p.shape().spatial() != sp) {
                throw new IllegalArgumentException("concat part " + p.shape() + " does not match " + out.shape());
            }
            long count = (long) n * pc * sp;
            if (count > 0) {
                kCopyChannels.begin().ptr(a(out)).ptr(a(p)).i32(n).i32(cOut).i32(c0).i32(pc).i32(0).i32(pc).i64(sp)
                        .launch(vecBlocks(count, sp), LaunchConfig.THREADS);
            }
            c0 += pc;
        }
    }

    @Override public void splitChannels(Tensor[] parts, Tensor in) {
        ensureContext();
        int n = in.dim(0), cIn = in.shape().c();
        long sp = in.shape().spatial();
        int total = 0;
        for (Tensor p : parts) total += p.shape().c();
        if (total != cIn) throw new IllegalArgumentException("split of " + cIn + " channels into parts of " + total);
        int c0 = 0;
        for (Tensor p : parts) {
            int pc = p.shape().c();
            if (p.dim(0) != n || p.shape().spatial() != sp) {
                throw new IllegalArgumentException("split part " + p.shape() + " does not match " + in.shape());
            }
            long count = (long) n * pc * sp;
            if (count > 0) {
                kCopyChannels.begin().ptr(a(p)).ptr(a(in)).i32(n).i32(pc).i32(0).i32(cIn).i32(c0).i32(pc).i64(sp)
                        .launch(vecBlocks(count, sp), LaunchConfig.THREADS);
            }
            c0 += pc;
        }
    }

    @Override public void oneHot(Tensor out, Tensor ids) {
        ensureContext();
        int n = out.dim(0), k = out.dim(1);
        if (ids.numel() != n) throw new IllegalArgumentException("oneHot: ids " + ids.shape() + " for " + out.shape());
        if (out.numel() == 0) return;
        kOneHot.begin().ptr(a(out)).ptr(a(ids)).ptr(scratch.address() + SCRATCH_ERRORS).i32(n).i32(k)
                .launch(blocks(out.numel()), LaunchConfig.THREADS);
    }

    // ------------------------------------------------------------------ optimiser

    @Override public void adamw(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor decayMask, float lr,
                                float beta1, float beta2, float eps, float weightDecay, float bc1, float bc2,
                                float gradScale) {
        ensureContext();
        sameSize(params, grads);
        sameSize(params, m);
        sameSize(params, v);
        if (decayMask != null) sameSize(params, decayMask);
        long n = params.numel();
        if (n == 0) return;
        kAdamw.begin().ptr(a(params)).ptr(a(grads)).ptr(a(m)).ptr(a(v)).ptr(an(decayMask)).i64(n).f32(lr).f32(beta1)
                .f32(beta2).f32(eps).f32(weightDecay).f32(bc1).f32(bc2).f32(gradScale)
                .launch(blocks(n), LaunchConfig.THREADS);
    }

    // ------------------------------------------------------------------ random numbers and embeddings

    @Override public void randn(Tensor out, long seed, long offset) {
        ensureContext();
        long n = out.numel();
        if (n == 0) return;
        kRandn.begin().ptr(a(out)).i64(n).i64(seed).i64(offset).launch(LaunchConfig.philoxBlocks(n, offset), LaunchConfig.THREADS);
    }

    @Override public void rand(Tensor out, long seed, long offset) {
        ensureContext();
        long n = out.numel();
        if (n == 0) return;
        kRand.begin().ptr(a(out)).i64(n).i64(seed).i64(offset).launch(LaunchConfig.philoxBlocks(n, offset), LaunchConfig.THREADS);
    }

    @Override public void timestepEmbedding(Tensor out, Tensor timesteps, float maxPeriod, boolean ddpmStyle) {
        ensureContext();
        int n = out.dim(0), dim = out.dim(1), half = dim / 2;
        if (timesteps.numel() != n) throw new IllegalArgumentException("timesteps " + timesteps.shape() + " for " + out.shape());
        if (out.numel() == 0) return;
        long work = (long) n * Math.max(half, 1);
        kTimestepEmbedding.begin().ptr(a(out)).ptr(a(timesteps)).i32(n).i32(dim).f32(maxPeriod).i32(ddpmStyle ? 1 : 0)
                .launch(blocks(work), LaunchConfig.THREADS);
    }

    // ------------------------------------------------------------------ diffusion

    @Override public void qSample(Tensor xt, Tensor target, Tensor x0, Tensor noise, Tensor t, Tensor sqrtAlphaBar,
                                  Tensor sqrtOneMinusAlphaBar, int targetType, long seed, long offset) {
        ensureContext();
        sameSize(xt, x0);
        if (target != null) sameSize(target, x0);
        if (noise != null) sameSize(noise, x0);
        long n = t.numel(), total = x0.numel();
        if (n == 0 || total % n != 0) throw new IllegalArgumentException("qSample: " + n + " timesteps for tensor " + x0.shape());
        if (target != null && targetType != TARGET_EPSILON && targetType != TARGET_SAMPLE && targetType != TARGET_V) {
            throw new IllegalArgumentException("qSample: unknown target type " + targetType);
        }
        long steps = sqrtAlphaBar.numel();
        if (sqrtOneMinusAlphaBar.numel() != steps) throw new IllegalArgumentException("qSample: tables differ in length");
        if (total == 0) return;
        long off = noise == null ? offset : 0L;   // the offset only matters when noise is drawn here
        kQSample.begin().ptr(a(xt)).ptr(an(target)).ptr(a(x0)).ptr(an(noise)).ptr(a(t)).ptr(a(sqrtAlphaBar))
                .ptr(a(sqrtOneMinusAlphaBar)).ptr(scratch.address() + SCRATCH_ERRORS).i64(total).i64(total / n)
                .i32((int) steps).i32(targetType).i64(seed).i64(off)
                .launch(LaunchConfig.philoxBlocks(total, off), LaunchConfig.THREADS);
    }

    /** One thread walks the Philox stream (rejection sampling makes each draw depend on the ones before). */
    @Override public void drawTimesteps(Tensor t, Tensor weights, Tensor weightTable, long seed, long position) {
        ensureContext();
        Check.drawTimesteps(t, weights, weightTable);
        if (t.numel() == 0) return;
        kDrawTimesteps.begin().ptr(a(t)).ptr(an(weights)).ptr(a(weightTable)).i32((int) t.numel())
                .i32((int) weightTable.numel()).i64(seed).i64(position).launch(1, 1);
    }

    @Override public void diffusionStep(Tensor prev, Tensor predX0, Tensor sample, Tensor modelOut, Tensor prevX0,
                                        StepCoefficients k, long seed, long offset) {
        ensureContext();
        sameSize(prev, sample);
        sameSize(modelOut, sample);
        if (predX0 != null) sameSize(predX0, sample);
        if (prevX0 != null) sameSize(prevX0, sample);
        long n = sample.numel();
        if (n == 0) return;
        long off = k.sigma() != 0f ? offset : 0L;
        kDiffusionStep.begin().ptr(a(prev)).ptr(an(predX0)).ptr(a(sample)).ptr(a(modelOut)).ptr(an(prevX0)).i64(n)
                .f32(k.x0FromSample()).f32(k.x0FromModel()).i32(k.clip() ? 1 : 0).f32(k.clipRange()).f32(k.a())
                .f32(k.b()).f32(k.c()).f32(k.d()).f32(k.sigma()).i64(seed).i64(off)
                .launch(LaunchConfig.philoxBlocks(n, off), LaunchConfig.THREADS);
    }

    @Override public void repaintBlend(Tensor out, Tensor sample, Tensor original, Tensor keepMask, float sqrtAlphaBar,
                                       float sqrtOneMinusAlphaBar, long seed, long offset) {
        ensureContext();
        sameSize(out, sample);
        sameSize(original, sample);
        long total = sample.numel(), masks = keepMask.numel();
        if (masks == 0 || total % masks != 0) {
            throw new IllegalArgumentException("repaintBlend: mask " + keepMask.shape() + " does not tile " + sample.shape());
        }
        if (total == 0) return;
        long off = sqrtOneMinusAlphaBar != 0f ? offset : 0L;
        kRepaintBlend.begin().ptr(a(out)).ptr(a(sample)).ptr(a(original)).ptr(a(keepMask)).i64(total).i64(masks)
                .f32(sqrtAlphaBar).f32(sqrtOneMinusAlphaBar).i64(seed).i64(off)
                .launch(LaunchConfig.philoxBlocks(total, off), LaunchConfig.THREADS);
    }

    @Override public void mseLoss(Tensor mse, Tensor dOut, Tensor modelOut, Tensor target, Tensor weights,
                                  float gradScale) {
        ensureContext();
        sameSize(modelOut, target);
        if (dOut != null) sameSize(dOut, modelOut);
        long n = mse.numel(), total = modelOut.numel();
        if (n == 0 || total % n != 0) throw new IllegalArgumentException("mseLoss: " + n + " samples for " + modelOut.shape());
        if (weights != null && weights.numel() != n) throw new IllegalArgumentException("mseLoss: weights " + weights.shape());
        long per = total / n;
        kMseLoss.begin().ptr(a(mse)).ptr(an(dOut)).ptr(a(modelOut)).ptr(a(target)).ptr(an(weights)).i32((int) n)
                .i64(per).f32(gradScale).launch(LaunchConfig.rows(n), LaunchConfig.rowThreads(per));
    }

    // ------------------------------------------------------------------ timing, statistics

    /**
     * Runs {@code work} (which queues GPU work) between two events and returns the GPU time between them in
     * milliseconds; waits for the work to finish. For benchmarks.
     */
    public float elapsedMillis(Runnable work) {
        ensureContext();
        check(cuEventRecord(timerStart, stream), "cuEventRecord");
        work.run();
        check(cuEventRecord(timerStop, stream), "cuEventRecord");
        syncEvent(timerStop, "cuEventSynchronize");
        float[] ms = {0f};
        check(cuEventElapsedTime(ms, timerStart, timerStop), "cuEventElapsedTime");
        return ms[0];
    }

    // ------------------------------------------------------------------ GPU time per operation (bench --profile)

    /** GPU time of one kind of operation over a profiled stretch: kernel name, or library call and shape. */
    public record OpTime(String op, long calls, double millis) {}

    private boolean profiling;
    private final List<CUevent> profileEvents = new ArrayList<>();   // a pool, grown on demand, kept until close
    private final List<String> profileLabels = new ArrayList<>();
    private int profileCount;

    /**
     * Starts timing every kernel launch and cuBLAS/cuDNN call with a pair of events around it, until
     * {@link #stopProfile}. Costs two event records per operation; off by default (one boolean test per launch).
     */
    public void startProfile() {
        ensureContext();
        if (profiling) throw new IllegalStateException("already profiling");
        if (recording) throw new IllegalStateException("cannot profile while recording a CUDA graph");
        profiling = true;
        profileCount = 0;
        profileLabels.clear();
    }

    private void profileBegin() {
        CUevent e;
        if (profileCount < profileEvents.size()) {
            e = profileEvents.get(profileCount);
        } else {
            e = new CUevent();
            check(cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
            profileEvents.add(e);
            events.add(e);   // destroyed with the others on close
        }
        check(cuEventRecord(e, stream), "cuEventRecord");
        profileCount++;
    }

    private void profileEnd(String label) {
        profileBegin();
        profileLabels.add(label);
    }

    private static String profileLabel(ConvKey k) {
        return k.n() + "x" + k.c() + "x" + k.h() + "x" + k.w() + " -> " + k.k() + "x" + k.ho() + "x" + k.wo() + " k"
                + k.kh() + (k.stride() != 1 ? " s" + k.stride() : "");
    }

    /**
     * Waits for the profiled work and returns each operation's calls and summed GPU time, largest first, followed
     * by one entry {@code "(GPU idle between operations)"}: the time between one operation's end and the next one's
     * start (memory operations, host waits and launch latency fall there).
     */
    public List<OpTime> stopProfile() {
        if (!profiling) throw new IllegalStateException("not profiling");
        profiling = false;
        syncStream("cuStreamSynchronize (profile)");
        Map<String, double[]> byOp = new HashMap<>();
        float[] ms = {0f};
        double idle = 0;
        for (int i = 0; i < profileLabels.size(); i++) {
            check(cuEventElapsedTime(ms, profileEvents.get(2 * i), profileEvents.get(2 * i + 1)), "cuEventElapsedTime");
            double[] acc = byOp.computeIfAbsent(profileLabels.get(i), k -> new double[2]);
            acc[0]++;
            acc[1] += ms[0];
            if (i > 0) {
                check(cuEventElapsedTime(ms, profileEvents.get(2 * i - 1), profileEvents.get(2 * i)), "cuEventElapsedTime");
                idle += ms[0];
            }
        }
        List<OpTime> out = new ArrayList<>();
        byOp.forEach((op, acc) -> out.add(new OpTime(op, (long) acc[0], acc[1])));
        out.sort((x, y) -> Double.compare(y.millis(), x.millis()));
        out.add(new OpTime("(GPU idle between operations)", Math.max(0, profileLabels.size() - 1), idle));
        return out;
    }

    // ------------------------------------------------------------------ recordings (CUDA graphs)

    /** Thrown inside {@link #record} by a call that a graph cannot hold; record() then returns null. */
    private static final class NotRecordable extends RuntimeException {
        NotRecordable(String what) {
            super(what + " while recording a CUDA graph", null, false, false);
        }
    }

    private boolean recording;
    private final Set<GraphRecording> graphs = new LinkedHashSet<>();
    private String lastRecordingFailure;

    /** Why the last {@link #record} returned null (null if none did). */
    public String lastRecordingFailure() { return lastRecordingFailure; }

    private void refuseWhileRecording(String what) {
        if (recording) throw new NotRecordable(what);
    }

    /**
     * Stream capture of the work into a CUDA graph (thread-local capture mode), instantiated for replay. Returns null,
     * with nothing run and the stream out of capture mode, when the work waited for the GPU, copied to or from the
     * host or allocated or freed device memory (all refused while recording), or when the driver or a library
     * refused the capture (a failed cuBLAS/cuDNN call or an invalidated capture): the caller then runs the work
     * directly, where a genuine error shows again. While profiling or with syncEveryLaunch nothing is recorded.
     */
    @Override public Recording record(Runnable work) {
        ensureContext();
        if (recording) throw new IllegalStateException("already recording a CUDA graph");
        if (profiling || options.syncEveryLaunch()) {
            lastRecordingFailure = profiling ? "profiling" : "syncEveryLaunch";
            return null;
        }
        check(cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
        RuntimeException failure = null;
        recording = true;
        try {
            work.run();
        } catch (RuntimeException e) {
            failure = e;
        } finally {
            recording = false;
        }
        CUgraph graph = new CUgraph();
        int r = cuStreamEndCapture(stream, graph);
        if (failure != null || r != CUresult.CUDA_SUCCESS) {
            if (r == CUresult.CUDA_SUCCESS) check(cuGraphDestroy(graph), "cuGraphDestroy");
            if (failure != null && !(failure instanceof NotRecordable) && !(failure instanceof CudaException)) throw failure;
            lastRecordingFailure = failure != null ? failure.getMessage() : "cuStreamEndCapture: " + CUresult.stringFor(r);
            if (TRACE_SYNCS) System.err.println("CUDA graph not recorded: " + lastRecordingFailure);
            return null;
        }
        CUgraphExec exec = new CUgraphExec();
        int ri = cuGraphInstantiate(exec, graph, 0L);
        if (ri != CUresult.CUDA_SUCCESS) {
            cuGraphDestroy(graph);
            check(ri, "cuGraphInstantiate");
        }
        GraphRecording g = new GraphRecording(graph, exec, memory.frees);
        graphs.add(g);
        return g;
    }

    /** An instantiated CUDA graph; stale once any device memory has been freed after it was recorded. */
    private final class GraphRecording implements Recording {
        private final CUgraph graph;
        private final CUgraphExec exec;
        private final long freesAtRecording;
        private boolean destroyed;

        GraphRecording(CUgraph graph, CUgraphExec exec, long freesAtRecording) {
            this.graph = graph;
            this.exec = exec;
            this.freesAtRecording = freesAtRecording;
        }

        @Override public boolean replay() {
            ensureContext();
            if (destroyed) throw new IllegalStateException("CUDA graph replayed after close");
            if (recording) throw new IllegalStateException("a CUDA graph cannot be replayed while recording another");
            if (memory.frees != freesAtRecording) return false;
            check(cuGraphLaunch(exec, stream), "cuGraphLaunch");
            graphLaunches++;
            if (options.syncEveryLaunch()) syncStream("cuGraphLaunch");
            return true;
        }

        @Override public void close() {
            if (destroyed || closed) return;   // the backend's close destroys the graphs it still holds
            ensureContext();
            destroy();
        }

        void destroy() {
            if (destroyed) return;
            destroyed = true;
            graphs.remove(this);
            check(cuGraphExecDestroy(exec), "cuGraphExecDestroy");
            check(cuGraphDestroy(graph), "cuGraphDestroy");
        }
    }

    /** Launches so far. */
    public Launches launches() {
        return new Launches(kernelLaunches, libraryCalls, memoryOps, hostSyncs, hostWaitNanos, graphLaunches);
    }

    /** Host-device copies so far. */
    public Transfers transfers() {
        return new Transfers(h2dCount, h2dBytes, d2hCount, d2hBytes);
    }

    public MemoryStats memoryStats() {
        return new MemoryStats(memory.allocations, memory.frees, ownedBytes,
                arena.capacity() + regions[0].capacity() + regions[1].capacity(),
                arena.peakDemand() + regions[0].peakDemand() + regions[1].peakDemand(), arena.generation(), workspaceBytes());
    }

    /** Number of cached cuDNN convolution plans (one per shape). */
    public int convPlanCount() { return convPlans.size(); }

    /**
     * One line per cached convolution plan: the shape and, per direction, cuDNN's algorithm number, math type
     * (cudnnMathType_t: 0 default, 1 tensor op, 2 tensor op with conversion, 3 FMA only) and workspace bytes.
     */
    public List<String> convPlanSummary() {
        List<String> out = new ArrayList<>();
        for (Map.Entry<ConvKey, ConvPlan> e : convPlans.entrySet()) {
            ConvKey k = e.getKey();
            long[] i = Cudnn.convPlanInfo(e.getValue().handle());
            out.add(String.format(Locale.ROOT, "x[%d,%d,%d,%d] w[%d,%d,%d,%d] stride %d pad %d: fwd algo %d math %d ws %d, "
                            + "bwdData algo %d math %d ws %d, bwdFilter algo %d math %d ws %d", k.n(), k.c(), k.h(), k.w(),
                    k.k(), k.c(), k.kh(), k.kw(), k.stride(), k.pad(), i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8])
                    + searchSummary(Cudnn.convPlanFindTimes(e.getValue().handle())));
        }
        return out;
    }

    /** For tests: per cached plan, its choices ({@link Cudnn#convPlanInfo}) and search ({@link Cudnn#convPlanFindTimes}). */
    List<Map.Entry<long[], float[]>> convPlanChoicesAndSearches() {
        List<Map.Entry<long[], float[]>> out = new ArrayList<>();
        for (ConvPlan p : convPlans.values()) {
            out.add(Map.entry(Cudnn.convPlanInfo(p.handle()), Cudnn.convPlanFindTimes(p.handle())));
        }
        return out;
    }

    /**
     * "; search ms (1st/2nd pass): fwd a1 0.61/0.60 a7 ..." for the fastest four candidates per direction and the
     * status of each that failed in every pass ("a6 status 9"), or "" where the plan was not searched (heuristic
     * choice).
     */
    static String searchSummary(float[] t) {
        StringBuilder sb = new StringBuilder();
        String[] dirs = {"fwd", "bwdData", "bwdFilter"};
        int at = 0;
        for (String dir : dirs) {
            int c = (int) t[at++];
            if (c > 0) sb.append(sb.length() == 0 ? "; search ms (1st/2nd pass):" : ",").append(' ').append(dir);
            int shown = 0;
            for (int r = 0; r < c; r++, at += 6) {
                if (t[at + 2] != 0) {   // failed in every pass: its cuDNN status
                    sb.append(String.format(Locale.ROOT, " a%d status %d", (int) t[at], (int) t[at + 2]));
                } else if (shown++ < 4) {   // the fastest four that ran
                    sb.append(String.format(Locale.ROOT, " a%d %s/%s", (int) t[at], ms(t[at + 3]), ms(t[at + 4])));
                }
            }
        }
        return sb.toString();
    }

    private static String ms(float v) {
        return v < 0 ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }

    /** The raw CUstream handle (for interop, e.g. timing with other libraries). */
    public long streamHandle() { return stream.address(); }

    // ------------------------------------------------------------------ close

    /**
     * Waits for queued work, frees every device allocation (owned tensors not closed yet included), destroys the
     * library handles, the stream and the module and releases the primary context. Closing again does nothing;
     * any other use afterwards fails.
     */
    @Override public void close() {
        if (closed) return;
        ensureContext();
        RuntimeException first = null;
        try {
            syncStream("cuStreamSynchronize");
        } catch (RuntimeException e) {
            first = e;
        }
        closed = true;
        RuntimeException e2 = releaseQuietly();
        if (first == null) first = e2;
        if (first != null) throw first;
    }

    /** Releases whatever was set up; returns the first failure instead of throwing. */
    private RuntimeException releaseQuietly() {
        closed = true;
        List<RuntimeException> errors = new ArrayList<>();
        Runnable[] steps = {
            () -> {
                for (GraphRecording g : new ArrayList<>(graphs)) g.destroy();
                graphs.clear();
            },
            () -> {
                for (ConvPlan p : convPlans.values()) Cudnn.convPlanDestroy(p.handle());
                convPlans.clear();
            },
            () -> { if (cudnnHandle != 0) Cudnn.destroy(cudnnHandle); cudnnHandle = 0; },
            () -> { if (cublasHandle != 0) Cublas.destroy(cublasHandle); cublasHandle = 0; },
            arena::close,
            regions[0]::close,
            regions[1]::close,
            () -> {
                List<DeviceMemory.Allocation> all = new ArrayList<>(liveOwned);
                liveOwned.clear();
                ownedBytes = 0;
                if (workspace != null) all.add(workspace);
                if (cublasWorkspace != null) all.add(cublasWorkspace);
                if (scratch != null) all.add(scratch);
                workspace = cublasWorkspace = scratch = null;
                for (DeviceMemory.Allocation a : all) memory.free(a);
            },
            () -> { if (stagingAllocated) check(cuMemFreeHost(staging), "cuMemFreeHost"); stagingAllocated = false; },
            () -> { if (ringAllocated) check(cuMemFreeHost(ring), "cuMemFreeHost"); ringAllocated = false; },
            () -> {
                for (CUevent e : events) check(cuEventDestroy(e), "cuEventDestroy");
                events.clear();
                profileEvents.clear();
            },
            () -> { if (streamCreated) check(cuStreamDestroy(stream), "cuStreamDestroy"); streamCreated = false; },
            () -> { if (moduleLoaded) check(cuModuleUnload(module), "cuModuleUnload"); moduleLoaded = false; },
            () -> {
                if (contextRetained) check(cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease");
                contextRetained = false;
            },
        };
        for (Runnable step : steps) {
            try {
                step.run();
            } catch (RuntimeException | LinkageError e) {
                errors.add(e instanceof RuntimeException r ? r : new CudaException(e.toString(), e));
            }
        }
        return errors.isEmpty() ? null : errors.get(0);
    }

    @Override public String toString() {
        return "CudaBackend[" + (closed ? "closed" : description) + "]";
    }
}
