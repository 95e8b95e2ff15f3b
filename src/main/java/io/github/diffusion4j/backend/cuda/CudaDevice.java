package io.github.diffusion4j.backend.cuda;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream_flags;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
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
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

/**
 * The driver session under a {@link CudaBackend}: the device's primary context (which cuDNN and cuBLAS use too), the
 * one non-blocking stream, the kernels' module and their launchers, counted device allocations, the scratch block
 * (reduction results, the device error word), the cuBLAS and cuDNN handles, every host wait, and the launch counters.
 * The backend holds the tensors, the op families and the Backend contract; this class holds what the driver gives
 * out and takes back, in the order {@link #release} undoes it.
 *
 * <p>What it needs from the backend (its profiler, its graph recorder, its host-copy ring) comes through
 * {@link Hooks}, so that the session never sees tensors.
 */
final class CudaDevice {
    /** What the session calls back into: a recording refuses waits and allocations; a profiler times launches. */
    interface Hooks {
        /** Throws while a CUDA graph is being recorded ({@code what} is the refused call). */
        void refuseWhileRecording(String what);

        /** The stream has drained: every host-copy ring slot has been read. */
        void streamDrained();

        /** Whether launches are being timed ({@link Profiler}); then begin/end bracket each one. */
        boolean profiling();

        void profileBegin();

        void profileEnd(String label);
    }

    // scratch layout (bytes): [0, 8) double reduction result, [8, 12) int non-finite flag, [12, 16) int error word,
    // [64, 64 + 8 * MAX_REDUCE_BLOCKS) double partial sums
    static final long SCRATCH_RESULT = 0, SCRATCH_NONFINITE = 8, SCRATCH_ERRORS = 12, SCRATCH_PARTIALS = 64;
    private static final long SCRATCH_BYTES = SCRATCH_PARTIALS + 8L * LaunchConfig.MAX_REDUCE_BLOCKS;
    /** cuBLAS workspace (NVIDIA recommends 32 MiB on Hopper). */
    private static final long CUBLAS_WORKSPACE = 32L << 20;

    private final CudaOptions options;
    private final CudaAvailability availability;
    private final Hooks hooks;
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    final StreamHandle stream = new StreamHandle();
    private final CUmodule module = new CUmodule();
    private final CUevent timerStart = new CUevent(), timerStop = new CUevent();
    final Memory memory = new Memory();
    private DeviceMemory.Allocation scratch;
    private DeviceMemory.Allocation cublasWorkspace;
    long cublasHandle, cudnnHandle;
    private final Map<String, KernelArgs> kernels = new HashMap<>();
    private String description;
    private Thread contextThread;
    private boolean contextRetained, moduleLoaded, streamCreated;
    private final List<CUevent> events = new ArrayList<>();
    long kernelLaunches, libraryCalls, memoryOps, hostSyncs, hostWaitNanos, graphLaunches;

    CudaDevice(CudaOptions options, CudaAvailability availability, Hooks hooks) {
        this.options = options;
        this.availability = availability;
        this.hooks = hooks;
    }

    // ------------------------------------------------------------------ opening

    /**
     * Initialises the driver, retains the primary context of {@code options.device()}, creates the stream and the
     * timer events, runs {@code beforeModule} (the backend's pinned host buffers, which need the context), loads the
     * kernels' module and allocates the scratch block.
     */
    void openDriver(Runnable beforeModule) {
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
        beforeModule.run();

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

    /** The cuBLAS handle (on the stream, with its workspace and math mode) and the cuDNN handle. */
    void openLibraries() {
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

    /** The device's one-line description (name, compute capability, memory, driver and library versions, math). */
    String description() { return description; }

    // ------------------------------------------------------------------ kernels

    /** The launcher of kernel {@code name}, looked up once in the module; every launch is counted (and checked). */
    KernelArgs kernel(String name) {
        String sig = Kernels.SIGNATURES.get(name);
        if (sig == null) throw new IllegalStateException("no signature for kernel " + name);
        FunctionHandle fn = new FunctionHandle();
        check(cuModuleGetFunction(fn, module, name), "cuModuleGetFunction(" + name + ")");
        long function = fn.address(), streamHandle = stream.address();
        KernelArgs args = new KernelArgs(name, sig, Launch::address, (a, grid, block, shared) -> {
            boolean timed = hooks.profiling();
            if (timed) hooks.profileBegin();
            int r = Launch.kernel(function, grid, block, shared, streamHandle, a.params());
            kernelLaunches++;
            if (timed) hooks.profileEnd(a.name());
            if (r != CUresult.CUDA_SUCCESS) fail(r, "cuLaunchKernel(" + a.name() + ", grid " + grid + ", block " + block + ")");
            if (options.syncEveryLaunch()) syncStream("kernel " + a.name());
        });
        kernels.put(name, args);
        return args;
    }

    /** A cuBLAS or cuDNN call was queued (counted; synchronised and checked with syncEveryLaunch). */
    void afterLibraryCall(String what) {
        libraryCalls++;
        if (options.syncEveryLaunch()) syncStream(what);
    }

    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) fail(result, call);
    }

    private static void fail(int result, String call) {
        String extra = result == CUresult.CUDA_ERROR_ILLEGAL_ADDRESS || result == CUresult.CUDA_ERROR_LAUNCH_FAILED
                ? " (may come from an earlier asynchronous kernel; run again with --sync-launches to "
                + "find it)" : "";
        throw new CudaException(call + ": " + CUresult.stringFor(result) + " (" + result + ")" + extra);
    }

    static DevicePtr ptr(DeviceMemory.Allocation a) {
        return (DevicePtr) a.handle();
    }

    /** cuMemAlloc / cuMemFree with counting. */
    final class Memory implements DeviceMemory {
        long allocations, frees;

        @Override public Allocation allocate(long bytes) {
            hooks.refuseWhileRecording("cuMemAlloc");
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
            hooks.refuseWhileRecording("cuMemFree");
            check(cuMemFree(ptr(a)), "cuMemFree");
            frees++;
        }

        @Override public void synchronize() {
            syncStream("cuStreamSynchronize");
        }
    }

    // ------------------------------------------------------------------ the context, host waits, timing

    /** Makes the primary context current when the backend is used from another thread than last time. */
    void ensureContext() {
        Thread t = Thread.currentThread();
        if (t != contextThread) {
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            contextThread = t;
        }
    }

    /** The host waits for everything queued on the stream (counted). */
    void syncStream(String what) {
        hostWait(what, () -> cuStreamSynchronize(stream));
        hooks.streamDrained();   // the stream has read every slot
    }

    /** The host waits for an event (counted). */
    void syncEvent(CUevent e, String what) {
        hostWait(what, () -> cuEventSynchronize(e));
    }

    /** Every host wait: refused while recording, counted, traced on request, timed, checked. */
    private void hostWait(String what, java.util.function.IntSupplier wait) {
        hooks.refuseWhileRecording(what);
        hostSyncs++;
        if (options.traceSyncs()) traceSync(what);
        long t0 = System.nanoTime();
        int r = wait.getAsInt();
        hostWaitNanos += System.nanoTime() - t0;
        check(r, what);
    }

    private static void traceSync(String what) {
        StringBuilder sb = new StringBuilder("host waits for the GPU (" + what + ") at");
        StackTraceElement[] st = new Throwable().getStackTrace();
        // skip traceSync, hostWait, syncStream / syncEvent and the backend's delegate
        for (int i = 4; i < Math.min(st.length, 11); i++) sb.append("\n    ").append(st[i]);
        System.err.println(sb);
    }

    /** GPU milliseconds between two events around {@code work}; waits for the work to finish. */
    float elapsedMillis(Runnable work) {
        check(cuEventRecord(timerStart, stream), "cuEventRecord");
        work.run();
        check(cuEventRecord(timerStop, stream), "cuEventRecord");
        syncEvent(timerStop, "cuEventSynchronize");
        float[] ms = {0f};
        check(cuEventElapsedTime(ms, timerStart, timerStop), "cuEventElapsedTime");
        return ms[0];
    }

    /** An event destroyed with the session. */
    void trackEvent(CUevent e) { events.add(e); }

    // ------------------------------------------------------------------ the scratch block

    /** The device address {@code offset} bytes into the scratch block (SCRATCH_*). */
    long scratchAddress(long offset) { return scratch.address() + offset; }

    /** As {@link #scratchAddress}, as a driver pointer. */
    DevicePtr scratchPointer(long offset) { return ptr(scratch).offsetBytes(offset); }

    // ------------------------------------------------------------------ release

    /**
     * The steps that give back what {@link #openLibraries} and {@link #openDriver} took, in reverse order, each run
     * even when an earlier one failed: {@code libraries} first (the handles), {@code driver} last (the events, the
     * stream, the module, the context). The backend frees its own allocations between the two, together with
     * {@link #takeAllocations()}.
     */
    Runnable[] releaseLibraries() {
        return new Runnable[] {
            () -> { if (cudnnHandle != 0) Cudnn.destroy(cudnnHandle); cudnnHandle = 0; },
            () -> { if (cublasHandle != 0) Cublas.destroy(cublasHandle); cublasHandle = 0; },
        };
    }

    /** The session's own allocations (the cuBLAS workspace and the scratch block), handed over to be freed once. */
    List<DeviceMemory.Allocation> takeAllocations() {
        List<DeviceMemory.Allocation> all = new ArrayList<>();
        if (cublasWorkspace != null) all.add(cublasWorkspace);
        if (scratch != null) all.add(scratch);
        cublasWorkspace = scratch = null;
        return all;
    }

    /** See {@link #releaseLibraries}; {@code forgetEvents} runs after the events are destroyed. */
    Runnable[] releaseDriver(Runnable forgetEvents) {
        return new Runnable[] {
            () -> {
                for (CUevent e : events) check(cuEventDestroy(e), "cuEventDestroy");
                events.clear();
                forgetEvents.run();
            },
            () -> { if (streamCreated) check(cuStreamDestroy(stream), "cuStreamDestroy"); streamCreated = false; },
            () -> { if (moduleLoaded) check(cuModuleUnload(module), "cuModuleUnload"); moduleLoaded = false; },
            () -> {
                if (contextRetained) check(cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease");
                contextRetained = false;
            },
        };
    }
}
