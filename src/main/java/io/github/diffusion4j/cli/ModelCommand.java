package io.github.diffusion4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.nn.UNet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code model}: prints a model preset's layer table and parameter count. */
@Command(name = "model", mixinStandardHelpOptions = true,
        description = "Show a model preset: blocks, output shapes, parameter counts.")
public final class ModelCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;
    @Spec CommandSpec spec;

    @Option(names = "--preset", defaultValue = "small",
            description = "Model preset: tiny, small, medium, ddpm-cifar10, seed (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--image-size", description = "Image height and width (default: the preset's).")
    Integer imageSize;

    @Option(names = "--channels", defaultValue = "3", description = "Image channels (default: ${DEFAULT-VALUE}).")
    int channels;

    @Option(names = "--classes", defaultValue = "0", description = "Number of class labels, 0 for unconditional (default: ${DEFAULT-VALUE}).")
    int classes;

    @Option(names = "--base-channels", paramLabel = "C", description = "Width of the first level (default: the preset's), as train --base-channels.")
    Integer baseChannels;

    @Option(names = "--res-blocks", paramLabel = "N", description = "Residual blocks per level (default: the preset's), as train --res-blocks.")
    Integer resBlocks;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Override public Integer call() throws Exception {
        if (!Presets.NAMES.contains(preset)) {
            throw new UserException("unknown model preset '" + preset + "' (choose from " + String.join(", ", Presets.NAMES) + ")");
        }
        if (channels <= 0) throw new UserException("--channels must be positive");
        if (classes < 0) throw new UserException("--classes must be >= 0");
        int size = imageSize != null ? imageSize : Presets.defaultImageSize(preset);
        Model m;
        try {
            m = Presets.create(preset, channels, size, classes, new Presets.Overrides(-1f, false,
                    baseChannels == null ? -1 : baseChannels, resBlocks == null ? -1 : resBlocks));
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
        PrintWriter out = spec.commandLine().getOut();
        long params = m.params().count();
        if (json) {
            Map<String, Object> root = new LinkedHashMap<>();
            root.put("preset", preset);
            root.put("parameters", params);
            root.put("image_size", size);
            root.put("channels", channels);
            root.put("classes", classes);
            root.put("macs_per_image", m.macsPerImage());
            if (m instanceof UNet u) root.put("config", u.config().toMap());
            List<Map<String, Object>> layers = new ArrayList<>();
            for (Model.LayerRow r : m.summary()) {
                Map<String, Object> l = new LinkedHashMap<>();
                l.put("name", r.name());
                l.put("output", r.output().dims());
                l.put("parameters", r.parameters());
                layers.add(l);
            }
            root.put("layers", layers);
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(root));
        } else {
            out.printf("%-34s %-22s %14s%n", "block", "output", "parameters");
            out.println("-".repeat(72));
            for (Model.LayerRow r : m.summary()) {
                out.printf("%-34s %-22s %,14d%n", r.name(), r.output(), r.parameters());
            }
            out.println("-".repeat(72));
            out.printf("%-57s %,14d%n", "total (" + preset + ", " + channels + "x" + size + "x" + size + ")", params);
            out.printf("%-57s %14s%n", "forward GFLOPs per image", String.format("%.3f", 2.0 * m.macsPerImage() / 1e9));
        }
        out.flush();
        return 0;
    }
}
