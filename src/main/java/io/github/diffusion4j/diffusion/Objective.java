package io.github.diffusion4j.diffusion;

import java.util.List;

/**
 * What a run trains the U-Net for, and so which samplers can draw from it.
 * <ul>
 *   <li>{@link #DDPM}: variance-preserving noising of Ho et al. at integer timesteps; the model predicts epsilon, v
 *       or x0 (the run's prediction type). Samplers ddpm, ddim, dpmpp, dpmpp-sde, and euler/heun in sigma space
 *       (diffusers' Euler/HeunDiscreteScheduler; Karras sigmas with {@code --karras}).</li>
 *   <li>{@link #FLOW}: flow matching / rectified flow; the model predicts the velocity. Samplers euler, heun.</li>
 *   <li>{@link #EDM}: Karras et al. 2022's sigma parameterisation with its preconditioning
 *       ({@link EdmPreconditioning}). Samplers heun (EDM's algorithm 2) and euler, on Karras sigmas.</li>
 * </ul>
 */
public enum Objective {
    DDPM("ddpm", List.of("ddpm", "ddim", "dpmpp", "dpmpp-sde", "euler", "heun"), "ddpm"),
    FLOW("flow", List.of("euler", "heun"), "euler"),
    EDM("edm", List.of("heun", "euler"), "heun");

    private final String cliName;
    private final List<String> samplers;
    private final String defaultSampler;

    Objective(String cliName, List<String> samplers, String defaultSampler) {
        this.cliName = cliName;
        this.samplers = samplers;
        this.defaultSampler = defaultSampler;
    }

    /** The name of {@code train --objective} and of config.json's {@code objective}. */
    public String cliName() { return cliName; }

    /** The names {@code sample --sampler} takes for a run of this objective, the default first or among them. */
    public List<String> samplers() { return samplers; }

    /** The sampler a run's images are drawn with when none is named. */
    public String defaultSampler() { return defaultSampler; }

    /** The default inference steps of a sampler of this objective (as {@code sample} without {@code --steps}). */
    public int defaultSteps(String sampler) {
        return switch (sampler) {
            case "ddpm" -> 100;
            case "dpmpp", "dpmpp-sde" -> 20;
            case "heun" -> this == EDM ? 18 : 20;   // EDM's CIFAR-10 setting: 18 steps, 35 model evaluations
            default -> 50;
        };
    }

    /** The names, for messages and option lists. */
    public static List<String> names() { return List.of("ddpm", "flow", "edm"); }

    /** The objective of a name ({@code ddpm}, {@code flow}, {@code edm}). */
    public static Objective fromName(String name) {
        for (Objective o : values()) if (o.cliName.equals(name)) return o;
        throw new IllegalArgumentException("unknown objective '" + name + "' (choose " + String.join(", ", names()) + ")");
    }
}
