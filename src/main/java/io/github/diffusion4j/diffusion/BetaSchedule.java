package io.github.diffusion4j.diffusion;

import java.util.Arrays;
import java.util.stream.Collectors;

/** How the betas of the forward process are laid out over the T training timesteps (diffusers' {@code beta_schedule}). */
public enum BetaSchedule {
    /** beta_t evenly spaced from beta_start to beta_end (Ho et al. 2020: 1e-4 ... 0.02). */
    LINEAR("linear"),
    /** sqrt(beta_t) evenly spaced from sqrt(beta_start) to sqrt(beta_end), squared (Stable Diffusion). */
    SCALED_LINEAR("scaled_linear"),
    /**
     * The cosine schedule of Improved DDPM (Nichol &amp; Dhariwal 2021): abar(t) = cos^2(((t/T + s)/(1 + s)) pi/2),
     * s = 0.008, beta_t = min(1 - abar((t+1)/T) / abar(t/T), 0.999). beta_start and beta_end are ignored.
     */
    SQUAREDCOS_CAP_V2("squaredcos_cap_v2"),
    /** beta_t = sigmoid(linspace(-6, 6, T)) (beta_end - beta_start) + beta_start (as in diffusers / GeoDiff). */
    SIGMOID("sigmoid");

    private final String diffusersName;

    BetaSchedule(String diffusersName) { this.diffusersName = diffusersName; }

    /** The name diffusers uses in {@code scheduler_config.json}. */
    public String diffusersName() { return diffusersName; }

    /** Parses a diffusers name ({@code linear}, {@code scaled_linear}, {@code squaredcos_cap_v2}, {@code sigmoid}). */
    public static BetaSchedule fromName(String name) {
        for (BetaSchedule b : values()) if (b.diffusersName.equals(name)) return b;
        throw new IllegalArgumentException("unknown beta_schedule '" + name + "' (expected one of "
                + Arrays.stream(values()).map(BetaSchedule::diffusersName).collect(Collectors.joining(", ")) + ")");
    }

    /**
     * Parses a command-line name ({@code linear}, {@code cosine}, {@code scaled-linear}, {@code sigmoid}) or a
     * diffusers name.
     */
    public static BetaSchedule parse(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "linear" -> LINEAR;
            case "cosine", "squaredcos_cap_v2" -> SQUAREDCOS_CAP_V2;
            case "scaled-linear", "scaled_linear" -> SCALED_LINEAR;
            case "sigmoid" -> SIGMOID;
            default -> throw new IllegalArgumentException("unknown schedule '" + name
                    + "' (expected linear, cosine, scaled-linear or sigmoid)");
        };
    }

    /** The command-line name: {@code cosine} for {@code squaredcos_cap_v2}, dashes for underscores. */
    public String cliName() {
        return this == SQUAREDCOS_CAP_V2 ? "cosine" : diffusersName.replace('_', '-');
    }

    @Override public String toString() { return diffusersName; }
}
