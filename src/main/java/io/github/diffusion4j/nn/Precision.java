package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Check;
import io.github.diffusion4j.tensor.DType;

import java.util.Locale;

/**
 * What a model computes in ({@code --precision}). FP32: everything in float32. BF16: mixed precision as the strongest
 * recipes train: FP32 master weights, gradients, optimizer moments and EMA; a bf16 copy of the weights, refreshed by
 * the optimizer's pass, for the convolutions and matrix products; activations stored in bf16; float32 where
 * precision matters (GroupNorm statistics, the attention softmax, the timestep embedding and its MLP, the loss, the
 * scheduler's state, clipping). bf16 has float32's exponent range, so no loss scaling is needed, and none is done.
 * AUTO: BF16 where a backend's bf16 has been shown to train to the FP32 quality and to be faster, else FP32; today
 * that is FP32 on every backend (the CPU's bf16 is a numerical reference, slower than its FP32, that trains the main
 * job to FP32's quality over three seeds; the CUDA backend runs the same semantics under the emulation, and no GPU
 * has measured it yet).
 */
public enum Precision {
    FP32, BF16, AUTO;

    /** What {@code info} says of the precisions. */
    public static final String SUMMARY = "--precision auto is fp32 on every backend today; bf16 runs on the cpu backend "
            + "(float32 arithmetic, bf16 storage: the numerical reference) and on cuda (bf16 storage and kernels: a U-Net's "
            + "training and sampling steps convert nothing through float32; checked under emulation, not yet on a GPU)";

    /** Parses "fp32", "bf16" or "auto" (case-insensitive); anything else is refused in one line. */
    public static Precision parse(String s) {
        return switch (s == null ? "" : s.toLowerCase(Locale.ROOT)) {
            case "fp32", "f32", "float32" -> FP32;
            case "bf16", "bfloat16" -> BF16;
            case "auto" -> AUTO;
            default -> throw new IllegalArgumentException("precision must be fp32, bf16 or auto, not '" + s + "'");
        };
    }

    /** "fp32", "bf16" or "auto". */
    public String cliName() { return name().toLowerCase(Locale.ROOT); }

    /** The precision used on {@code backend}: AUTO resolved, BF16 refused in one line where the backend lacks it. */
    public Precision on(Backend backend) {
        if (this == AUTO) return FP32;
        if (this == BF16) Check.supported(backend, DType.BF16);
        return this;
    }

    /** Why {@link #on} chose what it chose, for {@code info} and the logs. */
    public String reason(Backend backend) {
        Precision p = on(backend);
        if (this != AUTO) return p.cliName() + " (as asked)";
        String why = "the " + backend.name() + " backend's bf16 " + (backend.dtypes().contains(DType.BF16)
                ? "is not shown faster than its fp32 (no GPU has measured it; the cpu's is a slower reference)" : "does not exist");
        return "fp32 (auto: bf16 is not yet the default on any backend; " + why + ")";
    }

    /** The dtype of the model's activations and weight copy. */
    public DType computeDType() {
        return switch (this) {
            case FP32 -> DType.F32;
            case BF16 -> DType.BF16;
            case AUTO -> throw new IllegalStateException("resolve AUTO with on(backend) first");
        };
    }

    /** Makes {@code model} compute in this precision on its backend (allocated parameters); returns the one used. */
    public Precision apply(Model model) {
        Precision p = on(model.params().backend());
        model.params().setComputeCopy(p.computeDType());
        return p;
    }
}
