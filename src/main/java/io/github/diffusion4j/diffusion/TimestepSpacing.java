package io.github.diffusion4j.diffusion;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * How inference timesteps are chosen among the T training timesteps (diffusers' {@code timestep_spacing}; see
 * Lin et al. 2023, "Common diffusion noise schedules and sample steps are flawed", table 2).
 */
public enum TimestepSpacing {
    /** {@code ratio = T / n} (integer division), {@code t_k = k * ratio + steps_offset}, descending. */
    LEADING("leading"),
    /** {@code t_k = round(T - k T / n) - 1}, k = 0..n-1 (always starts at T-1). */
    TRAILING("trailing"),
    /** {@code round(linspace(0, T - 1, n))}, descending. */
    LINSPACE("linspace");

    private final String diffusersName;

    TimestepSpacing(String diffusersName) { this.diffusersName = diffusersName; }

    public String diffusersName() { return diffusersName; }

    public static TimestepSpacing fromName(String name) {
        for (TimestepSpacing v : values()) if (v.diffusersName.equals(name)) return v;
        throw new IllegalArgumentException("unknown timestep_spacing '" + name + "' (expected one of "
                + Arrays.stream(values()).map(TimestepSpacing::diffusersName).collect(Collectors.joining(", ")) + ")");
    }

    @Override public String toString() { return diffusersName; }
}
