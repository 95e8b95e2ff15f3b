package io.github.diffusion4j.tensor;

/**
 * The argument checks that every backend makes for an operation, written once: each backend's entry point calls the
 * one for its op before it touches memory, so a wrong shape, size or dtype gives the same one-line error on the CPU
 * and on the GPU.
 */
public final class Check {
    private Check() {}

    /**
     * Every tensor given (nulls are skipped) has dtype {@code want}: the check of an op that computes in one type only,
     * e.g. {@code Check.dtype("conv2d", DType.F32, y, x, w, bias)}.
     */
    public static void dtype(String op, DType want, Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null && t.dtype() != want) {
                throw new IllegalArgumentException(op + ": a " + t.dtype() + " tensor " + t.shape() + " where " + want
                        + " is needed (on the " + t.backend().name() + " backend)");
            }
        }
    }

    /** The tensors given (nulls skipped) share one dtype, which is returned (F32 when none is given). */
    public static DType sameDType(String op, Tensor... ts) {
        DType d = null;
        for (Tensor t : ts) {
            if (t == null) continue;
            if (d == null) d = t.dtype();
            else if (t.dtype() != d) {
                throw new IllegalArgumentException(op + ": dtype mismatch, " + d + " and " + t.dtype() + " " + t.shape());
            }
        }
        return d == null ? DType.F32 : d;
    }

    /** The backend can store {@code dtype} ({@link Backend#dtypes()}). */
    public static void supported(Backend b, DType dtype) {
        if (!b.dtypes().contains(dtype)) {
            throw new IllegalArgumentException("the " + b.name() + " backend has no " + dtype + " tensors (it has "
                    + b.dtypes() + ")");
        }
    }

    /** {@link Backend#drawTimesteps}: a non-empty table, and as many weights (when given) as timesteps. */
    public static void drawTimesteps(Tensor t, Tensor weights, Tensor weightTable) {
        dtype("drawTimesteps", DType.F32, t, weights, weightTable);
        if (weightTable.numel() <= 0 || weightTable.numel() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("drawTimesteps: a weight table of " + weightTable.numel() + " timesteps");
        }
        if (weights != null) sameSize(weights, t);
        if (t.numel() > Integer.MAX_VALUE) throw new IllegalArgumentException("drawTimesteps: " + t.numel() + " draws");
    }

    /**
     * {@link Backend#diffusionStep}: every operand of the sample's size, but a learned-variance model output [N, 2P]
     * (and then no output aliasing it).
     */
    public static void diffusionStep(Tensor prev, Tensor predX0, Tensor sample, Tensor modelOut, Tensor prevX0,
                                     StepCoefficients k) {
        sameSize(prev, sample);
        if (predX0 != null) sameSize(predX0, sample);
        if (prevX0 != null) sameSize(prevX0, sample);
        if (!k.learnedVariance()) {
            sameSize(modelOut, sample);
            return;
        }
        if (sample.rank() < 1 || sample.dim(0) == 0 || modelOut.dim(0) != sample.dim(0) || modelOut.numel() != 2 * sample.numel()) {
            throw new IllegalArgumentException("diffusionStep: a learned-variance model output has twice the sample's values per "
                    + "sample, got " + modelOut.shape() + " for " + sample.shape());
        }
        if (sample.numel() / sample.dim(0) > Integer.MAX_VALUE) throw new IllegalArgumentException("diffusionStep: samples too large");
    }

    /** {@link Backend#vlbLoss}: matching [N, ...] operands, N values of vb, 7 N coefficients. */
    public static void vlbLoss(Tensor vb, Tensor dV, Tensor x0, Tensor xt, Tensor pred, Tensor v, Tensor coefs) {
        dtype("vlbLoss", DType.F32, vb, dV, x0, xt, pred, v, coefs);
        sameSize(xt, x0);
        sameSize(pred, x0);
        sameSize(v, x0);
        if (dV != null) sameSize(dV, x0);
        int n = x0.rank() < 1 ? 0 : x0.dim(0);
        if (n == 0 || vb.numel() != n || coefs.numel() != (long) Backend.VLB_COEFFICIENTS * n) {
            throw new IllegalArgumentException("vlbLoss: " + vb.numel() + " terms and " + coefs.numel() + " coefficients for a batch "
                    + x0.shape());
        }
        if (x0.numel() / n > Integer.MAX_VALUE) throw new IllegalArgumentException("vlbLoss: samples too large");
    }

    /** {@link Backend#dynamicThreshold}: F32 [N, ...] with at most 2^31 - 1 elements per sample, ratio in [0, 1], maxValue >= 1. */
    public static void dynamicThreshold(Tensor x, float ratio, float maxValue) {
        dtype("dynamicThreshold", DType.F32, x);
        if (x.rank() < 1 || x.dim(0) == 0) throw new IllegalArgumentException("dynamicThreshold: a batch [N, ...], got " + x.shape());
        if (x.numel() / x.dim(0) > Integer.MAX_VALUE) throw new IllegalArgumentException("dynamicThreshold: samples too large");
        if (!(ratio >= 0 && ratio <= 1)) throw new IllegalArgumentException("dynamic thresholding ratio must be in [0, 1], got " + ratio);
        if (!(maxValue >= 1)) throw new IllegalArgumentException("sample_max_value must be >= 1, got " + maxValue);
    }

    /**
     * The operands of a convolution pass share one dtype (cuDNN's rule): x and w forward, dy and w for the data
     * gradient, dy and x for the filter gradient (whose dw, a parameter gradient, is F32).
     */
    public static void convOperands(String op, Tensor a, Tensor b) { sameDType(op, a, b); }

    /** {@link Backend#updateGate}: an F32 gate of {@link UpdateGate#SIZE} elements and F32 gradients. */
    public static void updateGate(Tensor gate, Tensor grads) {
        gate(gate);
        dtype("updateGate", DType.F32, grads);
    }

    /** {@link Backend#adamw}: F32 state of one size, a copy (any dtype) of that size, and a gate. */
    public static void adamw(Tensor params, Tensor paramsCopy, Tensor grads, Tensor m, Tensor v, Tensor decayMask,
                             Tensor gate) {
        dtype("adamw", DType.F32, params, grads, m, v, decayMask);
        sameSize(params, grads);
        sameSize(params, m);
        sameSize(params, v);
        if (decayMask != null) sameSize(params, decayMask);
        if (paramsCopy != null) sameSize(params, paramsCopy);
        gate(gate);
    }

    /** {@link Backend#emaUpdate}: F32 shadow and params of one size, and a gate. */
    public static void emaUpdate(Tensor shadow, Tensor params, Tensor gate) {
        dtype("emaUpdate", DType.F32, shadow, params);
        sameSize(shadow, params);
        gate(gate);
    }

    private static void gate(Tensor gate) {
        dtype("update gate", DType.F32, gate);
        if (gate.numel() != UpdateGate.SIZE) {
            throw new IllegalArgumentException("an update gate has " + UpdateGate.SIZE + " elements, not " + gate.shape());
        }
    }

    /** The sizes of a checked matrix product: op(A) is m x k, op(B) k x n, C m x n, for each of batch products. */
    public record Gemm(int batch, int m, int n, int k) {}

    /**
     * {@link Backend#matmul}: a and b of rank 2 or more, viewed as 2-D by their last axis, inner dimensions equal, c
     * of m * n elements.
     */
    public static Gemm matmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB) {
        sameDType("matmul", a, b);
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
        return new Gemm(1, m, n, k);
    }

    /** {@link Backend#batchedMatmul}: a, b, c of rank 3 with one batch size, inner dimensions equal, c [batch, m, n]. */
    public static Gemm batchedMatmul(Tensor c, Tensor a, Tensor b, boolean transA, boolean transB) {
        sameDType("batchedMatmul", a, b);
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
        return new Gemm(batch, m, n, k);
    }

    /** a and b hold the same number of elements. */
    public static void sameSize(Tensor a, Tensor b) {
        if (a.numel() != b.numel()) {
            throw new IllegalArgumentException("size mismatch: " + a.shape() + " vs " + b.shape());
        }
    }

    /** A per-channel vector of in [N, C, *spatial] (a bias): C elements. */
    public static void channelVector(String what, Tensor v, Tensor in) {
        if (v.numel() != in.shape().c()) throw new IllegalArgumentException(what + " " + v.shape() + " for " + in.shape());
    }

    /** A per-sample, per-channel matrix of in [N, C, *spatial]: N * C elements. */
    public static void perSampleChannel(String what, Tensor v, Tensor in) {
        if (v.numel() != (long) in.dim(0) * in.shape().c()) {
            throw new IllegalArgumentException(what + " " + v.shape() + " for " + in.shape());
        }
    }

    /** A dropout probability in [0, 1). */
    public static void dropout(float p) {
        if (!(p >= 0f && p < 1f)) throw new IllegalArgumentException("dropout probability must be in [0, 1): " + p);
    }

    /**
     * GroupNorm over x [N, C, *spatial]: C splits into {@code groups}, mean and rstd hold N * groups values, gamma
     * (and beta when not null) C, and y (an output or a gradient, may be null) as many elements as x.
     */
    public static void groupNorm(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, int groups) {
        dtype("groupNorm (statistics and affine parameters)", DType.F32, mean, rstd, gamma, beta);
        int n = x.dim(0), c = x.shape().c();
        if (groups <= 0 || c % groups != 0) {
            throw new IllegalArgumentException(c + " channels not divisible into " + groups + " groups");
        }
        if (y != null) sameSize(y, x);
        if (mean.numel() != (long) n * groups || rstd.numel() != (long) n * groups) {
            throw new IllegalArgumentException("groupNorm: mean/rstd need " + (long) n * groups + " values, got "
                    + mean.shape() + " and " + rstd.shape());
        }
        if (gamma.numel() != c || (beta != null && beta.numel() != c)) {
            throw new IllegalArgumentException("groupNorm: gamma/beta need " + c + " values");
        }
    }

    /**
     * The input offsets of {@link Backend#groupNormSilu}: xBias [C] and xAdd [N, C] of the input (x + xBias[c]) +
     * xAdd[n, c], both given or both null.
     */
    public static void groupNormOffsets(Tensor x, Tensor xBias, Tensor xAdd) {
        if ((xBias == null) != (xAdd == null)) {
            throw new IllegalArgumentException("groupNorm offsets: give both the bias and the per-sample values, or neither");
        }
        if (xBias == null) return;
        int n = x.dim(0), c = x.shape().c();
        if (xBias.numel() != c || xAdd.numel() != (long) n * c) {
            throw new IllegalArgumentException("groupNorm offsets: bias " + xBias.shape() + " and per-sample values "
                    + xAdd.shape() + " for input " + x.shape() + " (need " + c + " and " + n + " x " + c + ")");
        }
    }
}
