package io.github.diffusion4j.tensor;

import java.util.Locale;

/**
 * The element type of a {@link Storage} and of the tensors that view it. Sizes and offsets of storages and tensors
 * count elements of this type, never bytes or floats. F32 is what every op computes in today; BF16 (the activation
 * and weight-copy type of mixed precision) and F16 are declared so that checkpoints, storages and error messages can
 * name them, and a backend refuses, with one line naming the op and the dtype, any tensor of a type it cannot use.
 */
public enum DType {
    F32(4), BF16(2), F16(2);

    private final int bytes;

    DType(int bytes) { this.bytes = bytes; }

    /** Bytes per element. */
    public int bytes() { return bytes; }

    /** The name safetensors uses for it (also the one {@code --precision} and error messages use, in lower case). */
    public String safetensorsName() { return name(); }

    /** The lower-case name used in messages: "f32", "bf16", "f16". */
    @Override public String toString() { return name().toLowerCase(Locale.ROOT); }
}
