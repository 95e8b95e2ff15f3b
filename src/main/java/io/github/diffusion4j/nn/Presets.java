package io.github.diffusion4j.nn;

import java.util.List;

/** Named model presets. */
public final class Presets {
    private Presets() {}

    /** The preset names, in the order {@code model --help} lists them. */
    public static final List<String> NAMES = List.of("tiny", "small", "medium", "ddpm-cifar10", "seed");

    /** The preset's native image size (what it is built for when no size is given). */
    public static int defaultImageSize(String preset) {
        return switch (check(preset)) {
            case "tiny" -> 16;
            default -> 32;
        };
    }

    /** Builds a preset for images of {@code channels} × {@code size} × {@code size}, with {@code classes} labels. */
    public static Model create(String preset, int channels, int size, int classes) {
        return create(preset, channels, size, classes, -1f);
    }

    /** As {@link #create(String, int, int, int)}, with the dropout overridden when {@code dropout >= 0}. */
    public static Model create(String preset, int channels, int size, int classes, float dropout) {
        return create(preset, channels, size, classes, dropout, false);
    }

    /** As {@link #create(String, int, int, int, float)}; {@code learnSigma} doubles the output channels (improved DDPM). */
    public static Model create(String preset, int channels, int size, int classes, float dropout, boolean learnSigma) {
        return create(preset, channels, size, classes, new Overrides(dropout, learnSigma, -1, -1));
    }

    /**
     * What a run may change of its preset: the dropout ({@code < 0}: the preset's), learned variance (twice the output
     * channels), the base channel count (the width of the first level; the others keep their multiples) and the
     * residual blocks per level ({@code < 0}: the preset's). diffusers' UNet2DModel names the last two
     * {@code block_out_channels} and {@code layers_per_block}.
     */
    public record Overrides(float dropout, boolean learnSigma, int baseChannels, int resBlocks) {
        public boolean changesArchitecture() { return baseChannels >= 0 || resBlocks >= 0; }
    }

    /** Builds a preset as {@link #create(String, int, int, int)} with {@code o} applied. */
    public static Model create(String preset, int channels, int size, int classes, Overrides o) {
        return switch (check(preset)) {
            case "seed" -> {
                if (classes > 0) throw new IllegalArgumentException("preset seed has no class conditioning; use a UNet preset");
                if (o.learnSigma()) throw new IllegalArgumentException("preset seed has no learned variance; use a UNet preset");
                if (o.changesArchitecture()) {
                    throw new IllegalArgumentException("preset seed has a fixed architecture; use a UNet preset to change its width or depth");
                }
                yield new SeedUNet("seed", channels, size, new int[] {32, 64, 128, 256}, 32, 8);
            }
            default -> {
                UNetConfig c = unetConfig(preset).withImage(channels, size).withClasses(classes);
                if (o.learnSigma()) c = c.withOutChannels(2 * channels);
                if (o.baseChannels() >= 0) c = c.withBaseChannels(o.baseChannels());
                if (o.resBlocks() >= 0) c = c.withResBlocks(o.resBlocks());
                yield new UNet(preset, o.dropout() >= 0 ? c.withDropout(o.dropout()) : c);
            }
        };
    }

    /** The UNet configuration of a preset (3 channels, its default size, unconditional). */
    public static UNetConfig unetConfig(String preset) {
        return switch (check(preset)) {
            // for tests and gradient checks: two levels, attention at 8x8
            case "tiny" -> new UNetConfig(3, 3, 16, 16, new int[] {1, 2}, 1, new int[] {8}, 0f, 4, 2, 0, false);
            // the default of `train` on the CPU: cheap at full resolution (16 channels at 32x32), wide where the image is small (64 at 8x8 and 4x4)
            case "small" -> new UNetConfig(3, 3, 32, 16, new int[] {1, 2, 4, 4}, 1, new int[] {8, 4}, 0f, 8, 4, 0, false);
            case "medium" -> new UNetConfig(3, 3, 32, 64, new int[] {1, 2, 2, 2}, 2, new int[] {16}, 0.1f, 32, 4, 0, false);
            // Ho et al. 2020, CIFAR-10: 35.7M parameters
            case "ddpm-cifar10" -> new UNetConfig(3, 3, 32, 128, new int[] {1, 2, 2, 2}, 2, new int[] {16}, 0.1f, 32, 1, 0, false);
            default -> throw new IllegalArgumentException("preset " + preset + " is not a UNet");
        };
    }

    private static String check(String preset) {
        if (!NAMES.contains(preset)) {
            throw new IllegalArgumentException("unknown model preset '" + preset + "' (choose from " + String.join(", ", NAMES) + ")");
        }
        return preset;
    }
}
