package io.github.diffusion4j.diffusion;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The variance of DDPM's ancestral step (diffusers' {@code variance_type}). Learned variances ({@code learned},
 * {@code learned_range}) need a model with a doubled output and are not supported.
 */
public enum VarianceType {
    /** The posterior variance beta~_t = (1 - abar_prev) / (1 - abar_t) beta_t (clamped at 1e-20); the default. */
    FIXED_SMALL("fixed_small"),
    /** The same variance computed through its logarithm (as diffusers does; numerically the same std). */
    FIXED_SMALL_LOG("fixed_small_log"),
    /** beta_t of the (respaced) step: 1 - abar_t / abar_prev. */
    FIXED_LARGE("fixed_large");

    private final String diffusersName;

    VarianceType(String diffusersName) { this.diffusersName = diffusersName; }

    public String diffusersName() { return diffusersName; }

    public static VarianceType fromName(String name) {
        for (VarianceType v : values()) if (v.diffusersName.equals(name)) return v;
        if (name != null && name.startsWith("learned")) {
            throw new IllegalArgumentException("variance_type '" + name + "' needs a learned-variance model and is not supported");
        }
        throw new IllegalArgumentException("unknown variance_type '" + name + "' (expected one of "
                + Arrays.stream(values()).map(VarianceType::diffusersName).collect(Collectors.joining(", ")) + ")");
    }

    @Override public String toString() { return diffusersName; }
}
