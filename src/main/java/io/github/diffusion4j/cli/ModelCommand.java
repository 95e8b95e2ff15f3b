package io.github.diffusion4j.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code model}: prints a model preset's layer table and parameter count. */
@Command(name = "model", mixinStandardHelpOptions = true,
        description = "Show a model preset: layers, output shapes, parameter counts.")
public final class ModelCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;

    @Option(names = "--preset", defaultValue = "small", description = "Model preset (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--image-size", description = "Input image size (default: the preset's).")
    Integer imageSize;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Override public Integer call() {
        throw new UserException("model presets are not built yet");
    }
}
