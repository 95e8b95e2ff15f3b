package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Tensor;

import java.util.function.Predicate;

/**
 * How the CUDA backend runs an op whose tensors' dtypes it has no kernel for: through float32 copies. Every tensor
 * that is not F32 is converted into an F32 scratch tensor (exact: a bfloat16 value is a float32 value), the op's F32
 * implementation runs on the copies, and the tensors the op writes are converted back (rounded to nearest even). That
 * is the CPU backend's bf16 semantics exactly (inputs read as bfloat16 values, float32 arithmetic, one rounding on the
 * store; {@code CpuStorage}), so every op works in every dtype combination the CPU reference accepts, and the native
 * kernels (templates over the element type, cuBLAS and cuDNN in bf16) are an optimisation that the tests compare with
 * this path and with the CPU.
 *
 * <p>The rule for each op is declared where the CUDA backend dispatches it: which tensors it writes (a bit mask over
 * the tensors' positions) and which dtype combinations its own implementation handles ({@link #F32_ONLY},
 * {@link #uniform} for kernels templated over one element type, or a predicate of the op family). The same tensor given twice (an op in place) shares one copy.
 * Copies come from the step's scratch memory, as the op's own temporaries would. {@link #stagedOps()} counts the
 * ops that went through copies (a benchmark shows them: each is an op that lacks a native kernel).
 */
final class DTypeStaging {
    /** The op's tensors; the staged op sees F32 copies in the same positions (nulls stay null). */
    interface Op {
        void run(Tensor[] t);
    }

    /** Only all-F32 tensors run natively (the op's kernels are float-only). */
    static final Predicate<Tensor[]> F32_ONLY = t -> allOf(DType.F32, t);

    private final CudaBackend cb;
    private long staged;
    /** Ops staged so far, by the names of the Backend methods that staged them (for benchmarks and tests). */
    private final java.util.Map<String, Long> byOp = new java.util.TreeMap<>();

    DTypeStaging(CudaBackend cb) {
        this.cb = cb;
    }

    /** Whether the non-null tensors all have dtype {@code d}. */
    static boolean allOf(DType d, Tensor[] t) {
        for (Tensor x : t) if (x != null && x.dtype() != d) return false;
        return true;
    }

    /** Whether the non-null tensors share one dtype, F32 or BF16 (what a kernel templated on one element type takes). */
    static boolean uniform(Tensor[] t) {
        DType d = null;
        for (Tensor x : t) {
            if (x == null) continue;
            if (d == null) d = x.dtype();
            else if (x.dtype() != d) return false;
        }
        return d == null || d == DType.F32 || d == DType.BF16;
    }

    /**
     * Whether the tensors at the positions {@code activations} (those non-null) share one dtype, F32 or BF16, and
     * every other non-null tensor is F32: what a kernel templated on its activations' element type takes when its
     * per-channel values, statistics and parameter gradients stay float (the broadcasts, GroupNorm).
     */
    static boolean activations(Tensor[] t, int... activations) {
        DType d = null;
        for (int a : activations) {
            if (t[a] == null) continue;
            if (d == null) d = t[a].dtype();
            else if (t[a].dtype() != d) return false;
        }
        if (d != null && d != DType.F32 && d != DType.BF16) return false;
        for (int k = 0; k < t.length; k++) {
            if (t[k] == null) continue;
            boolean act = false;
            for (int a : activations) act |= a == k;
            if (!act && t[k].dtype() != DType.F32) return false;
        }
        return true;
    }

    /** {@link #activations} at fixed positions, as the predicate an op's dispatch passes to {@link #run}. */
    static Predicate<Tensor[]> activationsAt(int... positions) {
        return t -> activations(t, positions);
    }

    /**
     * Runs {@code op} on {@code t} when {@code natively} accepts their dtypes, else on F32 copies as described above;
     * {@code writes} has bit k set when the op writes (or accumulates into) {@code t[k]}.
     */
    void run(Predicate<Tensor[]> natively, int writes, Op op, Tensor... t) {
        if (t.length > 31) throw new IllegalArgumentException("an op over " + t.length + " tensors (at most 31)");
        if (natively.test(t)) {
            op.run(t);
            return;
        }
        staged++;
        byOp.merge(caller(), 1L, Long::sum);
        Tensor[] f = new Tensor[t.length];
        for (int k = 0; k < t.length; k++) {
            Tensor x = t[k];
            if (x == null || x.dtype() == DType.F32) {
                f[k] = x;
                continue;
            }
            int same = sameAs(t, k);
            if (same >= 0) {
                f[k] = f[same];
                continue;
            }
            f[k] = cb.scratch(x.shape());
            cb.copy(f[k], x);   // the conversion kernel: exact widening
        }
        op.run(f);
        int written = 0;   // per first occurrence: whether any of its positions is written
        for (int k = 0; k < t.length; k++) {
            if ((writes & (1 << k)) == 0 || t[k] == null) continue;
            int same = sameAs(t, k);
            written |= 1 << (same >= 0 ? same : k);
        }
        for (int k = 0; k < t.length; k++) {
            if ((written & (1 << k)) != 0 && f[k] != t[k]) cb.copy(t[k], f[k]);   // rounded to nearest even
        }
    }

    /** The first position before {@code k} holding the same view as {@code t[k]} (same storage, offset and size), or -1. */
    private static int sameAs(Tensor[] t, int k) {
        for (int j = 0; j < k; j++) {
            if (t[j] != null && t[j].storage() == t[k].storage() && t[j].offset() == t[k].offset()
                    && t[j].numel() == t[k].numel()) return j;
        }
        return -1;
    }

    /** Ops run through F32 copies so far. */
    long stagedOps() { return staged; }

    /** The same by op (the CudaBackend method that staged it), sorted by name. */
    java.util.Map<String, Long> stagedByOp() { return java.util.Collections.unmodifiableMap(byOp); }

    private static final StackWalker WALKER = StackWalker.getInstance();

    /** The name of the CudaBackend method that called run (only on this slow path). */
    private static String caller() {
        return WALKER.walk(frames -> frames.skip(2).findFirst().map(StackWalker.StackFrame::getMethodName).orElse("?"));
    }
}
