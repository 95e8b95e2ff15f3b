package io.github.diffusion4j.diffusion;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The variance of DDPM's ancestral step (diffusers' {@code variance_type}). The learned ones read it from a model
 * with a doubled output (improved DDPM; {@code train --learn-sigma}).
 */
public enum VarianceType {
    /** The posterior variance beta~_t = (1 - abar_prev) / (1 - abar_t) beta_t (clamped at 1e-20); the default. */
    FIXED_SMALL("fixed_small"),
    /** The same variance computed through its logarithm (as diffusers does; numerically the same std). */
    FIXED_SMALL_LOG("fixed_small_log"),
    /** beta_t of the (respaced) step: 1 - abar_t / abar_prev. */
    FIXED_LARGE("fixed_large"),
    /** The model's second half v gives log sigma^2 = frac log beta' + (1 - frac) log beta~, frac = (v + 1) / 2. */
    LEARNED_RANGE("learned_range"),
    /** The model's second half is log sigma^2 itself. */
    LEARNED("learned");

    /** Whether the model output carries the variance (twice the sample's channels). */
    public boolean learned() { return this == LEARNED_RANGE || this == LEARNED; }

    private final String diffusersName;

    VarianceType(String diffusersName) { this.diffusersName = diffusersName; }

    public String diffusersName() { return diffusersName; }

    public static VarianceType fromName(String name) {
        for (VarianceType v : values()) if (v.diffusersName.equals(name)) return v;
        throw new IllegalArgumentException("unknown variance_type '" + name + "' (expected one of "
                + Arrays.stream(values()).map(VarianceType::diffusersName).collect(Collectors.joining(", ")) + ")");
    }

    @Override public String toString() { return diffusersName; }
}
