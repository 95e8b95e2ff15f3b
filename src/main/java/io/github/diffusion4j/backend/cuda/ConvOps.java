package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;

/**
 * The convolutions of the CUDA backend: cuDNN's legacy API through the JNI shim ({@link Cudnn}, native/cudnn.c), one
 * plan (algorithms chosen once, by heuristics or by timing them: {@link CudaOptions#autotuneConv}) per shape,
 * cached, and one shared workspace grown as needed; transposed convolutions through backward-data (the Backend
 * defaults). CPU reference: {@code backend/cpu/CpuConv} (CpuBackend.conv2d and its backward passes); conformance:
 * {@code BackendConformance.conv2d}.
 *
 * <p>The layout is this class's business: the engine's tensors are NCHW, and with {@link CudaOptions#nhwcConv} every
 * convolution runs in NHWC instead (x [n, h, w, c], w [k, kh, kw, c], y [n, ho, wo, k]): its operands are transposed
 * into staging buffers of this class (grown as the workspace is, so the activation arena does not grow) and the
 * result back into the caller's tensor ({@link ReshapeOps#transposeInner}). That costs two or three transposes per
 * call, which is what measuring cuDNN's NHWC kernels against NCHW needs, and the place where activations that stay
 * NHWC between convolutions would later skip them. Test: {@code NhwcConvGpuTest}.
 */
final class ConvOps {
    private final CudaBackend cb;
    private final int convMath;
    private final boolean nhwc;
    /** NHWC staging: 0 the data input (x or dy), 1 the filter, 2 the output or second data operand; null until used. */
    private final DeviceMemory.Allocation[] staging = new DeviceMemory.Allocation[3];
    private final Map<ConvKey, ConvPlan> convPlans = new HashMap<>();
    private DeviceMemory.Allocation workspace;

    ConvOps(CudaBackend cb) {
        this.cb = cb;
        this.convMath = cb.options().tf32Conv() ? Cudnn.DEFAULT_MATH : Cudnn.FMA_MATH;
        this.nhwc = cb.options().nhwcConv();
    }

    /** One convolution shape: x [n, c, h, w] * w [k, c, kh, kw] -> y [n, k, ho, wo], all of {@code dtype}. */
    record ConvKey(int n, int c, int h, int w, int k, int kh, int kw, int stride, int pad, int ho, int wo, DType dtype) {}

    /**
     * The convolutions cuDNN runs on these dtypes: x, w and y (dx, dy) of one dtype, F32 or BF16 (bf16 data with
     * FP32 compute, on tensor cores); the backward filter pass also into F32 weight gradients from bf16 x and dy
     * (through a bf16 gradient: cuDNN's filter gradient has the data's type). A bias or its gradient may be F32
     * either way (added by its own op). Mixed x and w are refused by the op's contract, as on the CPU.
     */
    static boolean handles(Tensor[] t) {
        DType d = t[1].dtype();   // forward (y, x, w, bias), backward data (dx, dy, w): the second tensor's
        if (t[2].dtype() != d) return true;   // mixed operands: Check.convOperands refuses them, as on the CPU
        return (d == DType.F32 || d == DType.BF16) && t[0].dtype() == d;
    }

    /** {@link #handles} for conv2dBackwardFilter (dw, dBias, dy, x). */
    static boolean handlesBackwardFilter(Tensor[] t) {
        DType d = t[2].dtype();
        if (t[3].dtype() != d) return true;   // mixed operands: refused by Check.convOperands
        return (d == DType.F32 || d == DType.BF16) && (t[0].dtype() == d || t[0].dtype() == DType.F32);
    }

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
        return new ConvKey(n, cin, h, wd, cout, kh, kw, stride, pad, ho, wo, x.dtype());
    }

    private ConvPlan plan(ConvKey key) {
        ConvPlan p = convPlans.get(key);
        if (p == null) {
            CudaOptions options = cb.options();
            boolean bf16 = key.dtype() == DType.BF16;
            long h = Cudnn.convPlan(cb.cudnnHandle(), key.n(), key.c(), key.h(), key.w(), key.k(), key.kh(), key.kw(),
                    key.pad(), key.pad(), key.stride(), key.stride(), key.ho(), key.wo(),
                    bf16 ? Cudnn.DATA_BFLOAT16 : Cudnn.DATA_FLOAT, bf16 ? Cudnn.TENSOR_OP_MATH : convMath,
                    options.deterministicConv(), options.convWorkspaceLimit(), nhwc ? Cudnn.TENSOR_NHWC : Cudnn.TENSOR_NCHW);
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
        CudaOptions options = cb.options();
        DeviceMemory memory = cb.memory();
        long es = k.dtype().bytes();
        long xBytes = es * k.n() * k.c() * k.h() * k.w(), yBytes = es * k.n() * k.k() * k.ho() * k.wo();
        long wBytes = es * k.k() * k.c() * k.kh() * k.kw();
        long[] free = {0}, total = {0};
        CudaBackend.check(cuMemGetInfo(free, total), "cuMemGetInfo");
        // the search may use up to the workspace limit, but not more than a quarter of what is free after the buffers
        long wsBytes = Math.min(options.convWorkspaceLimit(), Math.max(0, (free[0] - 2 * xBytes - yBytes - 2 * wBytes) / 4))
                & ~((1L << 20) - 1);   // whole MiB, rounded down
        List<DeviceMemory.Allocation> temp = new ArrayList<>();
        try {
            DeviceMemory.Allocation x = memory.allocate(xBytes), dx = memory.allocate(xBytes), y = memory.allocate(yBytes);
            DeviceMemory.Allocation w = memory.allocate(wBytes), dw = memory.allocate(wBytes);
            temp.addAll(List.of(x, dx, y, w, dw));
            for (DeviceMemory.Allocation t : temp) {
                cb.countMemoryOp();
                CudaBackend.check(cuMemsetD8Async(CudaBackend.ptr(t), (byte) 0, t.bytes(), cb.stream()), "cuMemsetD8Async");
            }
            // a workspace for the search only: the shared one then grows to what the chosen algorithms need
            DeviceMemory.Allocation ws = wsBytes > 0 ? memory.allocate(wsBytes) : null;
            if (ws != null) temp.add(ws);
            Cudnn.convPlanFind(cb.cudnnHandle(), plan, x.address(), w.address(), y.address(), dx.address(), dw.address(),
                    ws == null ? 0L : ws.address(), wsBytes, options.deterministicConv());
            cb.afterLibraryCall("cudnnFindConvolution*AlgorithmEx");
        } finally {
            memory.synchronize();
            for (DeviceMemory.Allocation t : temp) memory.free(t);
        }
    }

    /** The shared cuDNN workspace, grown (between uses: queued work is awaited first) to at least {@code bytes}. */
    private long workspace(long bytes) {
        if (bytes == 0) return 0;
        workspace = grown(workspace, bytes);
        return workspace.address();
    }

    /** {@code a}, or when it is null or smaller than {@code bytes} a new one of whole MiB (the old one freed once queued work is done). */
    private DeviceMemory.Allocation grown(DeviceMemory.Allocation a, long bytes) {
        if (a != null && a.bytes() >= bytes) return a;
        DeviceMemory memory = cb.memory();
        if (a != null) {
            memory.synchronize();
            memory.free(a);
        }
        return memory.allocate(DeviceArena.roundUp(Math.max(bytes, 1), 1L << 20));
    }

    /** Bytes of the shared workspace and of the NHWC staging buffers. */
    long workspaceBytes() {
        long b = workspace == null ? 0 : workspace.bytes();
        for (DeviceMemory.Allocation a : staging) b += a == null ? 0 : a.bytes();
        return b;
    }

    /**
     * The address of NHWC staging buffer {@code slot} (grown to {@code elems} elements of {@code dtype}), holding t
     * ([outer, ch, sp] in NCHW order) transposed to [outer, sp, ch] when {@code t} is not null.
     */
    private long nhwcStaging(int slot, long elems, DType dtype, Tensor t, int outer, int ch, int sp) {
        staging[slot] = grown(staging[slot], elems * dtype.bytes());
        long at = staging[slot].address();
        if (t != null) cb.transposeInner(at, cb.a(t), dtype, outer, ch, sp);
        return at;
    }

    void conv2d(Tensor y, Tensor x, Tensor w, Tensor bias, int stride, int pad) {
        if (convForward(y, x, w, stride, pad, 0f) && bias != null) cb.addBias(y, y, bias);
    }

    /** cuDNN with beta = 1: the convolution adds into y. */
    void conv2dAccumulate(Tensor y, Tensor x, Tensor w, int stride, int pad) {
        convForward(y, x, w, stride, pad, 1f);
    }

    /** y = conv(x, w) + beta * y; false when y is empty (nothing queued). */
    private boolean convForward(Tensor y, Tensor x, Tensor w, int stride, int pad, float beta) {
        cb.ensureContext();
        Check.convOperands("conv2d", x, w);
        ConvKey key = convKey(y, x, w, stride, pad);
        if (y.numel() == 0) return false;
        ConvPlan p = plan(key);
        long ws = workspace(p.fwdBytes());
        long xa = cb.a(x), wa = cb.a(w), ya = cb.a(y);
        if (nhwc) {
            xa = nhwcStaging(0, x.numel(), key.dtype(), x, key.n(), key.c(), key.h() * key.w());
            wa = nhwcStaging(1, w.numel(), key.dtype(), w, key.k(), key.c(), key.kh() * key.kw());
            ya = nhwcStaging(2, y.numel(), key.dtype(), beta == 0f ? null : y, key.n(), key.k(), key.ho() * key.wo());
        }
        if (cb.profiling()) cb.profileBegin();
        Cudnn.convForward(cb.cudnnHandle(), p.handle(), xa, wa, ya, ws, ws == 0 ? 0 : workspace.bytes(), 1f, beta);
        if (cb.profiling()) cb.profileEnd((beta == 0f ? "conv fwd " : "conv fwd+= ") + profileLabel(key));
        cb.afterLibraryCall("cudnnConvolutionForward");
        if (nhwc) cb.transposeInner(cb.a(y), ya, key.dtype(), key.n(), key.ho() * key.wo(), key.k());
        return true;
    }

    void conv2dBackwardData(Tensor dx, Tensor dy, Tensor w, int stride, int pad) {
        cb.ensureContext();
        Check.convOperands("conv2dBackwardData", dy, w);
        ConvKey key = convKey(dy, dx, w, stride, pad);
        if (dx.numel() == 0) return;
        ConvPlan p = plan(key);
        long ws = workspace(p.bwdDataBytes());
        long wa = cb.a(w), dya = cb.a(dy), dxa = cb.a(dx);
        if (nhwc) {
            dya = nhwcStaging(0, dy.numel(), key.dtype(), dy, key.n(), key.k(), key.ho() * key.wo());
            wa = nhwcStaging(1, w.numel(), key.dtype(), w, key.k(), key.c(), key.kh() * key.kw());
            dxa = nhwcStaging(2, dx.numel(), key.dtype(), null, 0, 0, 0);
        }
        if (cb.profiling()) cb.profileBegin();
        Cudnn.convBackwardData(cb.cudnnHandle(), p.handle(), wa, dya, dxa, ws, ws == 0 ? 0 : workspace.bytes(), 1f, 0f);
        if (cb.profiling()) cb.profileEnd("conv bwd-data " + profileLabel(key));
        cb.afterLibraryCall("cudnnConvolutionBackwardData");
        if (nhwc) cb.transposeInner(cb.a(dx), dxa, key.dtype(), key.n(), key.h() * key.w(), key.c());
    }

    void conv2dBackwardFilter(Tensor dw, Tensor dBias, Tensor dy, Tensor x, int stride, int pad) {
        cb.ensureContext();
        Check.convOperands("conv2dBackwardFilter", dy, x);
        ConvKey key = convKey(dy, x, dw, stride, pad);
        if (dw.numel() == 0) return;
        ConvPlan p = plan(key);
        long ws = workspace(p.bwdFilterBytes());
        // beta = 1: parameter gradients accumulate; into F32 gradients of bf16 data through a bf16 gradient (cuDNN's
        // filter gradient has the data's type), added in float
        Tensor g = dw.dtype() == x.dtype() ? dw : cb.scratch(dw.shape(), x.dtype());
        float beta = g == dw ? 1f : 0f;
        long xa = cb.a(x), dya = cb.a(dy), ga = cb.a(g);
        int taps = key.kh() * key.kw();
        if (nhwc) {   // the filter gradient in [k, kh, kw, c], accumulating onto dw's transpose when g is dw
            xa = nhwcStaging(0, x.numel(), key.dtype(), x, key.n(), key.c(), key.h() * key.w());
            dya = nhwcStaging(2, dy.numel(), key.dtype(), dy, key.n(), key.k(), key.ho() * key.wo());
            ga = nhwcStaging(1, g.numel(), key.dtype(), beta == 0f ? null : g, key.k(), key.c(), taps);
        }
        if (cb.profiling()) cb.profileBegin();
        Cudnn.convBackwardFilter(cb.cudnnHandle(), p.handle(), xa, dya, ga, ws, ws == 0 ? 0 : workspace.bytes(), 1f, beta);
        if (cb.profiling()) cb.profileEnd("conv bwd-filter " + profileLabel(key));
        cb.afterLibraryCall("cudnnConvolutionBackwardFilter");
        if (nhwc) cb.transposeInner(cb.a(g), ga, key.dtype(), key.k(), taps, key.c());
        if (g != dw) cb.accumulateBf16(dw, g);
        if (dBias != null) cb.biasGrad(dBias, dy);
    }

    private static String profileLabel(ConvKey k) {
        return (k.dtype() == DType.F32 ? "" : k.dtype() + " ") + k.n() + "x" + k.c() + "x" + k.h() + "x" + k.w() + " -> " + k.k() + "x" + k.ho() + "x" + k.wo() + " k"
                + k.kh() + (k.stride() != 1 ? " s" + k.stride() : "");
    }

    // ------------------------------------------------------------------ plan statistics and release

    int convPlanCount() { return convPlans.size(); }

    /** See {@link CudaBackend#convPlanSummary}. */
    List<String> convPlanSummary() {
        List<String> out = new ArrayList<>();
        for (Map.Entry<ConvKey, ConvPlan> e : convPlans.entrySet()) {
            ConvKey k = e.getKey();
            long[] i = Cudnn.convPlanInfo(e.getValue().handle());
            out.add(String.format(Locale.ROOT, "%s x[%d,%d,%d,%d] w[%d,%d,%d,%d] stride %d pad %d: fwd algo %d math %d ws %d, "
                            + "bwdData algo %d math %d ws %d, bwdFilter algo %d math %d ws %d", k.dtype(), k.n(), k.c(), k.h(), k.w(),
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

    /** Close: destroys the cached plans. */
    void destroyPlans() {
        for (ConvPlan p : convPlans.values()) Cudnn.convPlanDestroy(p.handle());
        convPlans.clear();
    }

    /** Close: hands over the shared workspace and the NHWC staging buffers for CudaBackend to free with its other allocations. */
    List<DeviceMemory.Allocation> takeAllocations() {
        List<DeviceMemory.Allocation> out = new ArrayList<>();
        if (workspace != null) out.add(workspace);
        for (int i = 0; i < staging.length; i++) {
            if (staging[i] != null) out.add(staging[i]);
            staging[i] = null;
        }
        workspace = null;
        return out;
    }
}
