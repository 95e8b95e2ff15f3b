package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.tensor.UpdateGate;
import jcuda.driver.CUevent;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.github.diffusion4j.backend.cuda.DTypeStaging.F32_ONLY;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;

/**
 * The GPU backend: every tensor lives in device memory, every op is one of our kernels (kernels/*.cu, loaded from
 * the embedded fatbin), a cuBLAS GEMM or a cuDNN convolution, queued on ONE non-blocking stream. Java only
 * orchestrates.
 *
 * <ul>
 *   <li><b>Driver</b> ({@link CudaDevice}): JCuda's driver API ({@code cuInit}, the device's <em>primary</em>
 *       context, which cuDNN and cuBLAS use too, so their memory and ours are one address space), one stream created
 *       non-blocking, the module from {@code cuModuleLoadData}, every {@code CUfunction} looked up once, kernel
 *       parameters in prepared buffers ({@link KernelArgs}) with device pointers passed as raw 64-bit addresses.</li>
 *   <li><b>Ops</b>: each Backend op is dispatched here through {@link DTypeStaging} (which dtypes its kernels take)
 *       to the launchers of its family ({@code ElementwiseOps}, {@code GroupNormOps}, ... : one per kernels/*.cu file
 *       or library, named as the CPU reference's and the conformance test's sections).</li>
 *   <li><b>Memory</b>: {@code zeros}/{@code fromArray} make owned allocations (parameters, gradients, optimizer
 *       moments, EMA: one each, through the flat buffers of ParamStore/AdamW/Ema); {@code empty} serves activations
 *       from the {@link DeviceArena}, reset by {@link #beginStep()}, so the steady-state loop does no cuMemAlloc.
 *       Host transfers go through a pinned staging buffer and are counted ({@link #transfers()}).</li>
 *   <li><b>Libraries</b>: GEMMs by cuBLAS (row-major mapping in {@link Cublas}); convolutions by cuDNN's legacy API
 *       with one plan (algorithms chosen once) per shape, cached, and one shared workspace grown as needed;
 *       transposed convolutions through backward-data (the Backend defaults).</li>
 *   <li><b>Math</b>: GEMMs in full FP32 and convolutions with TF32 allowed by default, as PyTorch's defaults;
 *       {@code --tf32 on} allows TF32 for both, {@code --tf32 off} forbids it for both (see {@link CudaOptions}).</li>
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
     * @param workspaceBytes the shared cuDNN workspace (and the staging buffers of NHWC convolutions)
     */
    public record MemoryStats(long allocations, long frees, long ownedBytes, long arenaCapacity, long arenaPeak,
                              int arenaGeneration, long workspaceBytes) {}

    /** Bits of the device error word; keep in sync with d4j::ERROR_* in kernels/common.cuh. */
    static final int ERROR_TIMESTEP_RANGE = 1, ERROR_CLASS_ID = 2;

    static final long SCRATCH_RESULT = CudaDevice.SCRATCH_RESULT, SCRATCH_NONFINITE = CudaDevice.SCRATCH_NONFINITE,
            SCRATCH_ERRORS = CudaDevice.SCRATCH_ERRORS, SCRATCH_PARTIALS = CudaDevice.SCRATCH_PARTIALS;

    private final CudaOptions options;
    /** The driver session: context, stream, module, counted allocations, library handles, host waits. */
    private final CudaDevice dev;
    private final CudaDevice.Memory memory;
    private final DeviceArena arena;
    /** The two alternating backward regions ({@link #scratchRegion}) and the one scratch() serves now (-1: arena). */
    private final DeviceArena[] regions;
    private int region = -1;
    private final Set<DeviceMemory.Allocation> liveOwned = new LinkedHashSet<>();
    private long ownedBytes;
    final int gemmCompute;
    private boolean closed;

    // host copies, per-operation timing and CUDA graphs (set up before the driver: close releases what they hold)
    private final HostCopies hostCopies;
    private final Profiler profiler;
    private final GraphRecorder graphRecorder;
    // the op families (one per kernels/*.cu file or library), which hold their kernels' launchers
    private final ElementwiseOps elementwiseOps;
    private final ReduceOps reduceOps;
    final BroadcastOps broadcastOps;
    private final GroupNormOps groupNormOps;
    private final SoftmaxOps softmaxOps;
    private final RandomOps randomOps;
    private final ReshapeOps reshapeOps;
    private final EmbeddingOps embeddingOps;
    private final OptimOps optimOps;
    private final DiffusionOps diffusionOps;
    private final GemmOps gemmOps;
    private final ConvOps convOps;
    private final DTypeStaging staging = new DTypeStaging(this);

    // ------------------------------------------------------------------ construction

    /** A backend on GPU {@code device} with {@link CudaOptions#defaults}. */
    public static CudaBackend create(int device) {
        return create(CudaOptions.defaults(device));
    }

    /**
     * A backend with the given options. Fails with a {@link CudaException} whose message says why (in one line)
     * when CUDA is unavailable (see {@link CudaAvailability}) or the device cannot be set up; never with a linkage
     * error.
     */
    public static CudaBackend create(CudaOptions options) {
        CudaAvailability a = CudaAvailability.probe();
        if (!a.available()) throw new CudaException(a.reason());
        return new CudaBackend(options, a);
    }

    /** Skips the availability check (tests: the JCuda path must fail cleanly on its own). */
    static CudaBackend createUnchecked(CudaOptions options) {
        return new CudaBackend(options, CudaAvailability.probe());
    }

    private CudaBackend(CudaOptions options, CudaAvailability availability) {
        this.options = options;
        this.gemmCompute = options.tf32Gemm() ? Cublas.COMPUTE_32F_FAST_TF32 : Cublas.COMPUTE_32F;
        this.dev = new CudaDevice(options, availability, new CudaDevice.Hooks() {
            @Override public void refuseWhileRecording(String what) { graphRecorder.refuseWhileRecording(what); }
            @Override public void streamDrained() { hostCopies.streamDrained(); }
            @Override public boolean profiling() { return profiler.active; }
            @Override public void profileBegin() { profiler.begin(); }
            @Override public void profileEnd(String label) { profiler.end(label); }
        });
        this.memory = dev.memory;
        this.arena = new DeviceArena(memory);
        this.regions = new DeviceArena[] {new DeviceArena(memory), new DeviceArena(memory)};
        this.hostCopies = new HostCopies(this);
        this.profiler = new Profiler(this);
        this.graphRecorder = new GraphRecorder(this);
        this.convOps = new ConvOps(this);
        try {
            dev.openDriver(hostCopies::allocate);
            // each family looks up its kernels (the same lookups, in the same order, as before the split)
            elementwiseOps = new ElementwiseOps(this);
            reduceOps = new ReduceOps(this);
            broadcastOps = new BroadcastOps(this);
            groupNormOps = new GroupNormOps(this);
            softmaxOps = new SoftmaxOps(this);
            randomOps = new RandomOps(this);
            reshapeOps = new ReshapeOps(this);
            embeddingOps = new EmbeddingOps(this);
            optimOps = new OptimOps(this, reduceOps);
            diffusionOps = new DiffusionOps(this);
            gemmOps = new GemmOps(this);
            dev.openLibraries();
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

    KernelArgs kernel(String name) { return dev.kernel(name); }

    /** The F32 and BF16 instantiations of kernel {@code name} ({@link Kernels#bf16}). */
    KernelArgs.Typed typedKernel(String name) {
        return new KernelArgs.Typed(kernel(name), kernel(Kernels.bf16(name)));
    }

    static void check(int result, String call) { CudaDevice.check(result, call); }

    static DevicePtr ptr(DeviceMemory.Allocation a) { return CudaDevice.ptr(a); }

    // ------------------------------------------------------------------ state checks (used by CudaStorage)

    void checkOpen() {
        if (closed) throw new IllegalStateException("CUDA backend used after close");
    }

    boolean arenaLive(DeviceArena.Slice s) { return s.owner().isLive(s); }

    int arenaGeneration() { return arena.generation(); }

    /** Where scratch memory comes from now: the step's arena, or the selected backward region. */
    DeviceArena scratchArena() { return region < 0 ? arena : regions[region]; }

    void freeOwned(DeviceMemory.Allocation a) {
        if (closed || !liveOwned.remove(a)) return;   // freed with the backend already
        ensureContext();
        memory.synchronize();
        memory.free(a);
        ownedBytes -= a.bytes();
    }

    /** Makes the primary context current when the backend is used from another thread than last time. */
    void ensureContext() {
        checkOpen();
        dev.ensureContext();
    }

    CudaStorage storage(Tensor t) {
        if (!(t.storage() instanceof CudaStorage s) || s.backend() != this) {
            throw new IllegalArgumentException("tensor " + t + " does not live on this CUDA backend");
        }
        return s;
    }

    /** Device address of the tensor's first element (checked: this backend, open, arena generation). */
    long a(Tensor t) {
        return storage(t).address(t.offset());
    }

    /** As {@link #a}, 0 for null. */
    long an(Tensor t) {
        return t == null ? 0L : a(t);
    }

    DevicePtr dp(Tensor t) {
        return storage(t).pointer(t.offset());
    }

    /**
     * Blocks of a kernel over {@code n} elements in rows of {@code rowLength} that works on float4 groups when it
     * can (d4j::vec4_ok in common.cuh): a quarter of the threads when rows divide by 4. Either path is a grid-stride
     * loop, so the result does not depend on the grid.
     */
    static int vecBlocks(long n, long rowLength) { return LaunchConfig.blocks(rowLength % 4 == 0 ? (n + 3) / 4 : n); }

    /** The device address of the error word that kernels set for values the host cannot check (readScratch). */
    long errorWordAddress() { return dev.scratchAddress(SCRATCH_ERRORS); }

    /** The device address {@code offset} bytes into the scratch block (SCRATCH_*). */
    long scratchAddress(long offset) { return dev.scratchAddress(offset); }

    /** As {@link #scratchAddress}, as a driver pointer. */
    DevicePtr scratchPointer(long offset) { return dev.scratchPointer(offset); }

    // ------------------------------------------------------------------ for the op families

    StreamHandle stream() { return dev.stream; }
    long cublasHandle() { return dev.cublasHandle; }
    long cudnnHandle() { return dev.cudnnHandle; }
    DeviceMemory memory() { return memory; }
    long memoryFrees() { return memory.frees; }
    /** A driver memset or device-to-device copy was queued. */
    void countMemoryOp() { dev.memoryOps++; }
    void countGraphLaunch() { dev.graphLaunches++; }
    boolean isClosed() { return closed; }
    /** An event destroyed with the backend. */
    void trackEvent(CUevent e) { dev.trackEvent(e); }
    boolean profiling() { return profiler.active; }
    void profileBegin() { profiler.begin(); }
    void profileEnd(String label) { profiler.end(label); }
    boolean recording() { return graphRecorder.recording(); }
    void refuseWhileRecording(String what) { graphRecorder.refuseWhileRecording(what); }

    // ------------------------------------------------------------------ Backend: identity

    @Override public String name() {
        return "cuda";
    }

    @Override public String description() {
        return dev.description();
    }

    public CudaOptions options() { return options; }

    // ------------------------------------------------------------------ memory

    /** F32, and BF16 (bfloat16 in 2 bytes, computed in float32 by every kernel; see {@link DTypeStaging}). */
    private static final Set<DType> DTYPES = java.util.Collections.unmodifiableSet(java.util.EnumSet.of(DType.F32, DType.BF16));

    @Override public Set<DType> dtypes() { return DTYPES; }

    @Override public Tensor zeros(Shape shape) { return zeros(shape, DType.F32); }

    @Override public Tensor zeros(Shape shape, DType dtype) {
        Tensor t = allocateOwned(shape, dtype);
        if (shape.numel() > 0) {
            dev.memoryOps++;
            check(cuMemsetD8Async(dp(t), (byte) 0, shape.numel() * dtype.bytes(), dev.stream), "cuMemsetD8Async");
        }
        return t;
    }

    private Tensor allocateOwned(Shape shape, DType dtype) {
        Check.supported(this, dtype);
        ensureContext();
        long n = shape.numel();
        DeviceMemory.Allocation a = null;
        if (n > 0) {
            a = memory.allocate(dtype.bytes() * n);
            liveOwned.add(a);
            ownedBytes += a.bytes();
        }
        return new Tensor(CudaStorage.owned(this, a, n, dtype), 0, shape, true);
    }

    /** A persistent allocation without the memset of {@link #zeros}. */
    @Override public Tensor empty(Shape shape) {
        return allocateOwned(shape, DType.F32);
    }

    /** Step-scoped: served from the activation arena, valid until the next {@link #beginStep()}. */
    @Override public Tensor scratch(Shape shape) { return scratch(shape, DType.F32); }

    @Override public Tensor scratch(Shape shape, DType dtype) {
        Check.supported(this, dtype);
        ensureContext();
        if (shape.numel() == 0) return new Tensor(CudaStorage.owned(this, null, 0, dtype), 0, shape, true);
        // slices stay 16-byte aligned whatever the element size (the arena rounds every slice up)
        DeviceArena.Slice s = scratchArena().allocate(dtype.bytes() * shape.numel());
        return new Tensor(CudaStorage.arena(this, s, shape.numel(), dtype), 0, shape, true);
    }

    @Override public Tensor fromArray(float[] data, Shape shape) {
        if (data.length != shape.numel()) throw new IllegalArgumentException(data.length + " values for shape " + shape);
        Tensor t = allocateOwned(shape, DType.F32);
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
        hostCopies.copyFromHost(dst, src, srcOffset);
    }

    /** The host waits for everything queued on the stream (counted). */
    void syncStream(String what) { dev.syncStream(what); }

    /** The host waits for an event (counted). */
    void syncEvent(CUevent e, String what) { dev.syncEvent(e, what); }

    /**
     * Small tensors (at most one ring slot, e.g. a step's per-sample losses) are copied into a pinned ring slot behind
     * the queued work; the host waits only when it reads them. Larger ones are copied at once.
     */
    @Override public PendingCopy toHostLater(Tensor t) {
        PendingCopy c = hostCopies.toHostLater(t);
        return c != null ? c : Backend.super.toHostLater(t);
    }

    @Override public float[] toHost(Tensor t) {
        float[] out = new float[t.size()];
        copyToHost(out, 0, t);
        return out;
    }

    @Override public void copyToHost(float[] dst, int dstOffset, Tensor t) { hostCopies.copyToHost(dst, dstOffset, t); }

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
     * word; throws when the error word is set (and clears it). Returns the staging buffer, which holds the bytes
     * copied from byte 0.
     */
    java.nio.ByteBuffer readScratch(boolean header) {
        long from = header ? SCRATCH_RESULT : SCRATCH_ERRORS;
        long bytes = header ? 16 : 4;
        java.nio.ByteBuffer b = hostCopies.readSmall(dev.scratchPointer(from), bytes);
        int errors = b.getInt((int) (SCRATCH_ERRORS - from));
        if (errors != 0) {
            dev.memoryOps++;
            check(cuMemsetD32Async(dev.scratchPointer(SCRATCH_ERRORS), 0, 1, dev.stream), "cuMemsetD32Async");
            List<String> what = new ArrayList<>();
            if ((errors & ERROR_TIMESTEP_RANGE) != 0) what.add("qSample: a timestep outside [0, T) (outputs set to NaN)");
            if ((errors & ERROR_CLASS_ID) != 0) what.add("oneHot: a class id that is not an integer in [0, K) (row left zero)");
            if (what.isEmpty()) what.add("unknown error bits 0x" + Integer.toHexString(errors));
            throw new CudaException("a kernel reported invalid input since the last check: " + String.join("; ", what));
        }
        return b;
    }

    // Every op below declares, for DTypeStaging, the dtypes its implementation handles and the tensors it writes
    // (W0 = first tensor, ...); other dtype combinations run through float32 copies. Ops whose contract is float32
    // only (Check refuses other dtypes on every backend) are called directly.

    private static final int W0 = 1, W01 = 3, W012 = 7;

    @Override public double sum(Tensor x) {
        double[] r = {0};
        staging.run(F32_ONLY, 0, t -> r[0] = reduceOps.sum(t[0]), x);
        return r[0];
    }

    @Override public double sumSquares(Tensor x) {
        double[] r = {0};
        staging.run(F32_ONLY, 0, t -> r[0] = reduceOps.sumSquares(t[0]), x);
        return r[0];
    }

    @Override public boolean allFinite(Tensor x) {
        boolean[] r = {false};
        staging.run(F32_ONLY, 0, t -> r[0] = reduceOps.allFinite(t[0]), x);
        return r[0];
    }

    @Override public void sumPerSample(Tensor out, Tensor x) {
        staging.run(F32_ONLY, W0, t -> reduceOps.sumPerSample(t[0], t[1]), out, x);
    }

    // ------------------------------------------------------------------ elementwise

    @Override public void fill(Tensor out, float value) { elementwiseOps.fill(out, value); }
    @Override public void copy(Tensor out, Tensor in) { elementwiseOps.copy(out, in); }

    @Override public void axpby(Tensor out, float alpha, Tensor a, float beta, Tensor b) {
        staging.run(ElementwiseOps::handles, W0, t -> elementwiseOps.axpby(t[0], alpha, t[1], beta, t[2]), out, a, b);
    }

    @Override public void scale(Tensor out, Tensor a, float s) {
        staging.run(ElementwiseOps::handles, W0, t -> elementwiseOps.scale(t[0], t[1], s), out, a);
    }

    @Override public void mul(Tensor out, Tensor a, Tensor b) {
        staging.run(ElementwiseOps::handles, W0, t -> elementwiseOps.mul(t[0], t[1], t[2]), out, a, b);
    }

    @Override public void clamp(Tensor out, Tensor a, float lo, float hi) {
        staging.run(ElementwiseOps::handles, W0, t -> elementwiseOps.clamp(t[0], t[1], lo, hi), out, a);
    }

    // ------------------------------------------------------------------ bias and broadcasts

    @Override public void addBias(Tensor out, Tensor in, Tensor bias) {
        staging.run(t -> BroadcastOps.handles(t), W0, t -> broadcastOps.addBias(t[0], t[1], t[2]), out, in, bias);
    }

    @Override public void biasGrad(Tensor dBias, Tensor dOut) {
        staging.run(BroadcastOps::biasGradHandles, W0, t -> broadcastOps.biasGrad(t[0], t[1]), dBias, dOut);
    }

    @Override public void addBiasAdd(Tensor out, Tensor in, Tensor bias, Tensor other, Tensor otherBias) {
        staging.run(t -> BroadcastOps.handles(t, 3), W0, t -> broadcastOps.addBiasAdd(t[0], t[1], t[2], t[3], t[4]), out, in, bias, other,
                otherBias);
    }

    @Override public void addBiasPerSampleChannel(Tensor out, Tensor in, Tensor bias, Tensor v) {
        staging.run(t -> BroadcastOps.handles(t), W0, t -> broadcastOps.addBiasPerSampleChannel(t[0], t[1], t[2], t[3]), out, in, bias, v);
    }

    @Override public void addPerSampleChannel(Tensor out, Tensor in, Tensor v) {
        staging.run(t -> BroadcastOps.handles(t), W0, t -> broadcastOps.addPerSampleChannel(t[0], t[1], t[2]), out, in, v);
    }

    /** The activations' positions: perSampleChannelSum's dOut (1); scaleShiftBackward's dIn, dOut and in (0, 3, 4). */
    private static final java.util.function.Predicate<Tensor[]> PER_SAMPLE_CHANNEL_SUM = DTypeStaging.activationsAt(1),
            SCALE_SHIFT_BACKWARD = DTypeStaging.activationsAt(0, 3, 4);

    @Override public void perSampleChannelSum(Tensor dv, Tensor dOut) {
        // dv F32, dOut F32 or BF16
        staging.run(PER_SAMPLE_CHANNEL_SUM, W0, t -> broadcastOps.perSampleChannelSum(t[0], t[1]), dv, dOut);
    }

    @Override public void scaleShift(Tensor out, Tensor in, Tensor scale, Tensor shift) {
        staging.run(t -> BroadcastOps.handles(t), W0, t -> broadcastOps.scaleShift(t[0], t[1], t[2], t[3]), out, in, scale, shift);
    }

    @Override public void scaleShiftBackward(Tensor dIn, Tensor dScale, Tensor dShift, Tensor dOut, Tensor in,
                                             Tensor scale) {
        // dIn, dOut and in of one dtype, F32 or BF16; dScale, dShift and scale F32
        staging.run(SCALE_SHIFT_BACKWARD, W012, t -> broadcastOps.scaleShiftBackward(t[0], t[1], t[2], t[3], t[4], t[5]), dIn,
                dScale, dShift, dOut, in, scale);
    }

    // ------------------------------------------------------------------ matrix products (cuBLAS)

    @Override public void matmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha,
                                 float beta) {
        staging.run(GemmOps::handles, W0, t -> gemmOps.matmul(t[0], t[1], t[2], transA, transB, alpha, beta), c, a, b);
    }

    @Override public void batchedMatmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB, float alpha,
                                        float beta) {
        staging.run(GemmOps::handles, W0, t -> gemmOps.batchedMatmul(t[0], t[1], t[2], transA, transB, alpha, beta), c,
                a, b);
    }

    @Override public void stridedBatchedMatmul(Tensor c, long strideC, Tensor a, long strideA, Tensor b, long strideB,
                                               int batch, int m, int n, int k, boolean transA, boolean transB,
                                               float alpha, float beta) {
        staging.run(GemmOps::handles, W0, t -> gemmOps.stridedBatchedMatmul(t[0], strideC, t[1], strideA, t[2], strideB,
                batch, m, n, k, transA, transB, alpha, beta), c, a, b);
    }

    void afterLibraryCall(String what) { dev.afterLibraryCall(what); }

    // ------------------------------------------------------------------ convolutions (cuDNN)

    @Override public void conv2d(Tensor y, Tensor x, Tensor w, Tensor bias, int stride, int pad) {
        staging.run(ConvOps::handles, W0, t -> convOps.conv2d(t[0], t[1], t[2], t[3], stride, pad), y, x, w, bias);
    }

    /** cuDNN with beta = 1: the convolution adds into y. */
    @Override public void conv2dAccumulate(Tensor y, Tensor x, Tensor w, int stride, int pad) {
        staging.run(ConvOps::handles, W0, t -> convOps.conv2dAccumulate(t[0], t[1], t[2], stride, pad), y, x, w);
    }

    @Override public void conv2dBackwardData(Tensor dx, Tensor dy, Tensor w, int stride, int pad) {
        staging.run(ConvOps::handles, W0, t -> convOps.conv2dBackwardData(t[0], t[1], t[2], stride, pad), dx, dy, w);
    }

    @Override public void conv2dBackwardFilter(Tensor dw, Tensor dBias, Tensor dy, Tensor x, int stride, int pad) {
        staging.run(ConvOps::handlesBackwardFilter, W01, t -> convOps.conv2dBackwardFilter(t[0], t[1], t[2], t[3], stride, pad), dw, dBias,
                dy, x);
    }

    // ------------------------------------------------------------------ normalisation and activations

    /** The activations' positions: groupNorm's and groupNormSilu's y (0) and x (3); their backwards' dx, dy, x (and addend). */
    private static final java.util.function.Predicate<Tensor[]> GN_FORWARD = DTypeStaging.activationsAt(0, 3),
            GN_BACKWARD = DTypeStaging.activationsAt(0, 3, 4),
            GN_SILU_BACKWARD = DTypeStaging.activationsAt(0, 3, 4, 11);

    @Override public void groupNorm(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups,
                                    float eps) {
        staging.run(GN_FORWARD, W012, t -> groupNormOps.groupNorm(t[0], t[1], t[2], t[3], t[4], t[5], groups, eps), y,
                mean, rstd, x, gamma, beta);
    }

    @Override public void groupNormBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x, Tensor mean,
                                            Tensor rstd, Tensor gamma, int groups) {
        staging.run(GN_BACKWARD, W012, t -> groupNormOps.groupNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7],
                groups), dx, dGamma, dBeta, dy, x, mean, rstd, gamma);
    }

    @Override public void groupNormSilu(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor xBias, Tensor xAdd,
                                        Tensor gamma, Tensor beta, int groups, float eps, float p, long seed,
                                        long offset) {
        staging.run(GN_FORWARD, W012, t -> groupNormOps.groupNormSilu(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7],
                groups, eps, p, seed, offset), y, mean, rstd, x, xBias, xAdd, gamma, beta);
    }

    @Override public void groupNormSiluBackward(Tensor dx, Tensor dGamma, Tensor dBeta, Tensor dy, Tensor x,
                                                Tensor xBias, Tensor xAdd, Tensor mean, Tensor rstd, Tensor gamma,
                                                Tensor beta, int groups, float eps, Tensor addend) {
        staging.run(GN_SILU_BACKWARD, W012, t -> groupNormOps.groupNormSiluBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6],
                t[7], t[8], t[9], t[10], groups, eps, t[11]), dx, dGamma, dBeta, dy, x, xBias, xAdd, mean, rstd, gamma,
                beta, addend);
    }

    @Override public void silu(Tensor y, Tensor x) {
        staging.run(ElementwiseOps::handles, W0, t -> elementwiseOps.silu(t[0], t[1]), y, x);
    }

    @Override public void siluBackward(Tensor dx, Tensor dy, Tensor x) {
        staging.run(ElementwiseOps::handles, W0, t -> elementwiseOps.siluBackward(t[0], t[1], t[2]), dx, dy, x);
    }

    @Override public void softmax(Tensor y, Tensor x) {
        staging.run(SoftmaxOps.SOFTMAX, W0, t -> softmaxOps.softmax(t[0], t[1]), y, x);
    }

    @Override public void softmaxBackward(Tensor dx, Tensor dy, Tensor y) {
        staging.run(SoftmaxOps.SOFTMAX_BACKWARD, W0, t -> softmaxOps.softmaxBackward(t[0], t[1], t[2]), dx, dy, y);
    }

    @Override public void dropout(Tensor y, Tensor x, float p, long seed, long offset) {
        staging.run(DTypeStaging::uniform, W0, t -> randomOps.dropout(t[0], t[1], p, seed, offset), y, x);
    }

    @Override public void dropoutBackward(Tensor dx, Tensor dy, float p, long seed, long offset) {
        staging.run(DTypeStaging::uniform, W0, t -> randomOps.dropoutBackward(t[0], t[1], p, seed, offset), dx, dy);
    }

    // ------------------------------------------------------------------ reshaping

    @Override public void upsampleNearest2x(Tensor y, Tensor x) {
        staging.run(DTypeStaging::uniform, W0, t -> reshapeOps.upsampleNearest2x(t[0], t[1]), y, x);
    }

    @Override public void upsampleNearest2xBackward(Tensor dx, Tensor dy) {
        staging.run(DTypeStaging::uniform, W0, t -> reshapeOps.upsampleNearest2xBackward(t[0], t[1]), dx, dy);
    }

    @Override public void concatChannels(Tensor out, Tensor... parts) {
        Tensor[] all = new Tensor[parts.length + 1];
        all[0] = out;
        System.arraycopy(parts, 0, all, 1, parts.length);
        staging.run(DTypeStaging::uniform, W0, t -> reshapeOps.concatChannels(t[0], java.util.Arrays.copyOfRange(t, 1, t.length)),
                all);
    }

    @Override public void splitChannels(Tensor[] parts, Tensor in) {
        Tensor[] all = new Tensor[parts.length + 1];
        System.arraycopy(parts, 0, all, 0, parts.length);
        all[parts.length] = in;
        staging.run(DTypeStaging::uniform, (1 << parts.length) - 1, t -> reshapeOps.splitChannels(
                java.util.Arrays.copyOf(t, parts.length), t[parts.length]), all);
    }

    @Override public void oneHot(Tensor out, Tensor ids) {
        staging.run(F32_ONLY, W0, t -> embeddingOps.oneHot(t[0], t[1]), out, ids);
    }

    // ------------------------------------------------------------------ optimiser

    @Override public void updateGate(Tensor gate, Tensor grads, UpdateGate g) { optimOps.updateGate(gate, grads, g); }

    /** The parameter copy may be BF16 (the optimizer pass refreshes the model's compute weights). */
    @Override public void adamw(Tensor params, Tensor paramsCopy, Tensor grads, Tensor m, Tensor v, Tensor decayMask,
                                float lr, float beta1, float beta2, float eps, float weightDecay, Tensor gate) {
        staging.run(OptimOps::adamwHandles, 0b11011, t -> optimOps.adamw(t[0], t[1], t[2], t[3], t[4], t[5], lr, beta1, beta2, eps,
                weightDecay, t[6]), params, paramsCopy, grads, m, v, decayMask, gate);
    }

    @Override public void emaUpdate(Tensor shadow, Tensor params, Tensor gate) { optimOps.emaUpdate(shadow, params, gate); }

    // ------------------------------------------------------------------ random numbers and embeddings

    @Override public void randn(Tensor out, long seed, long offset) {
        staging.run(F32_ONLY, W0, t -> randomOps.randn(t[0], seed, offset), out);
    }

    @Override public void rand(Tensor out, long seed, long offset) {
        staging.run(F32_ONLY, W0, t -> randomOps.rand(t[0], seed, offset), out);
    }

    @Override public void timestepEmbedding(Tensor out, Tensor timesteps, float maxPeriod, boolean ddpmStyle) {
        staging.run(F32_ONLY, W0, t -> embeddingOps.timestepEmbedding(t[0], t[1], maxPeriod, ddpmStyle), out, timesteps);
    }

    // ------------------------------------------------------------------ diffusion

    @Override public void qSample(Tensor xt, Tensor target, Tensor x0, Tensor noise, Tensor t, Tensor sqrtAlphaBar,
                                  Tensor sqrtOneMinusAlphaBar, int targetType, long seed, long offset) {
        staging.run(F32_ONLY, W01, s -> diffusionOps.qSample(s[0], s[1], s[2], s[3], s[4], s[5], s[6], targetType, seed,
                offset), xt, target, x0, noise, t, sqrtAlphaBar, sqrtOneMinusAlphaBar);
    }

    @Override public void drawTimesteps(Tensor t, Tensor weights, Tensor weightTable, long seed, long position) {
        diffusionOps.drawTimesteps(t, weights, weightTable, seed, position);
    }

    @Override public void diffusionStep(Tensor prev, Tensor predX0, Tensor sample, Tensor modelOut, Tensor prevX0,
                                        StepCoefficients k, long seed, long offset) {
        staging.run(F32_ONLY, W01, t -> diffusionOps.diffusionStep(t[0], t[1], t[2], t[3], t[4], k, seed, offset), prev,
                predX0, sample, modelOut, prevX0);
    }

    @Override public void vlbLoss(Tensor vb, Tensor dV, Tensor x0, Tensor xt, Tensor pred, Tensor v, Tensor coefs,
                                  float gradScale) {
        diffusionOps.vlbLoss(vb, dV, x0, xt, pred, v, coefs, gradScale);
    }

    @Override public void dynamicThreshold(Tensor x, float ratio, float maxValue) {
        diffusionOps.dynamicThreshold(x, ratio, maxValue);
    }

    @Override public void repaintBlend(Tensor out, Tensor sample, Tensor original, Tensor keepMask, float sqrtAlphaBar,
                                       float sqrtOneMinusAlphaBar, long seed, long offset) {
        staging.run(F32_ONLY, W0, t -> diffusionOps.repaintBlend(t[0], t[1], t[2], t[3], sqrtAlphaBar,
                sqrtOneMinusAlphaBar, seed, offset), out, sample, original, keepMask);
    }

    @Override public void mseLoss(Tensor mse, Tensor dOut, Tensor modelOut, Tensor target, Tensor weights,
                                  float gradScale) {
        staging.run(F32_ONLY, W01, t -> diffusionOps.mseLoss(t[0], t[1], t[2], t[3], t[4], gradScale), mse, dOut,
                modelOut, target, weights);
    }

    /** out (F32) += in (BF16): for ConvOps' weight gradients. */
    void accumulateBf16(Tensor out, Tensor in) { elementwiseOps.accumulate(out, in); }

    /** ReshapeOps#transposeInner on device addresses: y [n, b, a] = x [n, a, b] of {@code dtype} (NHWC convolutions). */
    void transposeInner(long y, long x, DType dtype, int n, int a, int b) { reshapeOps.transposeInner(y, x, dtype, n, a, b); }

    /** Ops that ran through float32 copies because no kernel of theirs takes their tensors' dtypes ({@link DTypeStaging}). */
    public long stagedOps() { return staging.stagedOps(); }

    /** {@link #stagedOps()} by op name (the Backend method). */
    public Map<String, Long> stagedByOp() { return staging.stagedByOp(); }

    // ------------------------------------------------------------------ timing, statistics

    /**
     * Runs {@code work} (which queues GPU work) between two events and returns the GPU time between them in
     * milliseconds; waits for the work to finish. For benchmarks.
     */
    public float elapsedMillis(Runnable work) {
        ensureContext();
        return dev.elapsedMillis(work);
    }

    /** Events recorded on the stream: GPU times ({@link CudaTimeline}). */
    @Override public Timeline timeline() {
        ensureContext();
        return new CudaTimeline(this);
    }

    // ------------------------------------------------------------------ GPU time per operation (bench --profile)

    /** GPU time of one kind of operation over a profiled stretch: kernel name, or library call and shape. */
    public record OpTime(String op, long calls, double millis) {}

    /**
     * Starts timing every kernel launch and cuBLAS/cuDNN call with a pair of events around it, until
     * {@link #stopProfile}. Costs two event records per operation; off by default (one boolean test per launch).
     */
    public void startProfile() { profiler.start(); }

    /**
     * Waits for the profiled work and returns each operation's calls and summed GPU time, largest first, followed
     * by one entry {@code "(GPU idle between operations)"}: the time between one operation's end and the next one's
     * start (memory operations, host waits and launch latency fall there).
     */
    public List<OpTime> stopProfile() { return profiler.stop(); }

    // ------------------------------------------------------------------ recordings (CUDA graphs)

    /** Why the last {@link #record} returned null (null if none did). */
    public String lastRecordingFailure() { return graphRecorder.lastRecordingFailure(); }

    /**
     * Stream capture of the work into a CUDA graph (thread-local capture mode), instantiated for replay. Returns null,
     * with nothing run and the stream out of capture mode, when the work waited for the GPU, copied to or from the
     * host or allocated or freed device memory (all refused while recording), or when the driver or a library
     * refused the capture (a failed cuBLAS/cuDNN call or an invalidated capture): the caller then runs the work
     * directly, where a genuine error shows again. While profiling or with syncEveryLaunch nothing is recorded.
     */
    @Override public Recording record(Runnable work) { return graphRecorder.record(work); }

    // ------------------------------------------------------------------ statistics

    /** Launches so far. */
    public Launches launches() {
        return new Launches(dev.kernelLaunches, dev.libraryCalls, dev.memoryOps, dev.hostSyncs, dev.hostWaitNanos,
                dev.graphLaunches);
    }

    /** Host-device copies so far. */
    public Transfers transfers() { return hostCopies.transfers(); }

    public MemoryStats memoryStats() {
        return new MemoryStats(memory.allocations, memory.frees, ownedBytes,
                arena.capacity() + regions[0].capacity() + regions[1].capacity(),
                arena.peakDemand() + regions[0].peakDemand() + regions[1].peakDemand(), arena.generation(), convOps.workspaceBytes());
    }

    /** Number of cached cuDNN convolution plans (one per shape). */
    public int convPlanCount() { return convOps.convPlanCount(); }

    /**
     * One line per cached convolution plan: the shape and, per direction, cuDNN's algorithm number, math type
     * (cudnnMathType_t: 0 default, 1 tensor op, 2 tensor op with conversion, 3 FMA only) and workspace bytes.
     */
    public List<String> convPlanSummary() { return convOps.convPlanSummary(); }

    /** For tests: per cached plan, its choices ({@link Cudnn#convPlanInfo}) and search ({@link Cudnn#convPlanFindTimes}). */
    List<Map.Entry<long[], float[]>> convPlanChoicesAndSearches() { return convOps.convPlanChoicesAndSearches(); }

    /** NCCL on a communication stream of its own ({@link NcclAllReduce}). */
    @Override public io.github.diffusion4j.dist.AllReduce allReduce(io.github.diffusion4j.dist.World world) {
        return new NcclAllReduce(this, world);
    }

    /** The raw CUstream handle (for interop, e.g. timing with other libraries). */
    public long streamHandle() { return dev.stream.address(); }

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
        List<Runnable> steps = new ArrayList<>(List.of(graphRecorder::destroyAll, convOps::destroyPlans));
        steps.addAll(List.of(dev.releaseLibraries()));
        steps.addAll(List.of(
            arena::close,
            regions[0]::close,
            regions[1]::close,
            () -> {
                List<DeviceMemory.Allocation> all = new ArrayList<>(liveOwned);
                liveOwned.clear();
                ownedBytes = 0;
                all.addAll(convOps.takeAllocations());
                all.addAll(dev.takeAllocations());
                for (DeviceMemory.Allocation a : all) memory.free(a);
            },
            hostCopies::freeStaging,
            hostCopies::freeRing));
        steps.addAll(List.of(dev.releaseDriver(profiler::forgetEvents)));
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
        return "CudaBackend[" + (closed ? "closed" : dev.description()) + "]";
    }
}
