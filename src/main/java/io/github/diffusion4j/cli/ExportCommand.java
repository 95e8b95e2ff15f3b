package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.io.SafeTensors;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.train.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code export}: a checkpoint's weights (EMA by default) as one safetensors file, named like the model's parameters
 * and carrying the checkpoint's metadata, in F32 or rounded (nearest even) to BF16 / F16. Written atomically.
 */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Write a run's or checkpoint's weights (EMA by default) as one safetensors file.")
public final class ExportCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;
    @Spec CommandSpec spec;

    @Option(names = "--run", required = true, paramLabel = "PATH", description = "Run folder (its latest checkpoint) or checkpoint folder.")
    Path run;
    @Option(names = "--out", paramLabel = "FILE.safetensors",
            description = "Output file (default: <run>/export-step-NNNNNN-<ema|raw>-<dtype>.safetensors).")
    Path out;
    @Option(names = "--dtype", defaultValue = "f32", description = "f32, bf16 or f16; bf16/f16 round to nearest even (default: ${DEFAULT-VALUE}).")
    String dtype;
    @Option(names = "--no-ema", description = "Export the raw weights instead of the EMA weights.")
    boolean noEma;

    @Override public Integer call() throws Exception {
        DType type = parseDType(dtype);
        Path dir = Checkpoint.resolve(run);
        Checkpoint.Info info = Checkpoint.readInfo(dir);
        String weights = noEma ? "raw" : "ema";
        Path file = out != null ? out
                : runFolder(dir).resolve("export-" + Checkpoint.folderName(info.step()) + "-" + weights + "-" + type + ".safetensors");
        checkWritable(file);

        Model model = Checkpoint.buildModel(info);
        try (var params = model.params()) {
            params.allocate(CpuBackend.get(), 0);
            Checkpoint.loadWeights(info, model, !noEma);
            Map<String, String> meta = new LinkedHashMap<>(
                    SafeTensors.readHeader(dir.resolve(noEma ? Checkpoint.MODEL : Checkpoint.EMA)).metadata());
            meta.put("weights", weights);
            meta.put("dtype", type.safetensorsName());
            try {
                SafeTensors.save(file, params, params.values(), meta, type);
            } catch (IOException e) {
                throw new UserException("cannot write " + file + ": " + reason(e));
            }
            PrintWriter o = spec.commandLine().getOut();
            o.printf(Locale.ROOT, "exported %s weights of %s (step %d) to %s%n", noEma ? "raw" : "EMA", dir, info.step(), file);
            o.printf(Locale.ROOT, "%s, %d parameters in %d tensors, %,d bytes (%.2f MiB)%n", type, params.count(),
                    params.params().size(), Files.size(file), Files.size(file) / 1048576.0);
            o.flush();
        }
        return 0;
    }

    static DType parseDType(String s) {
        for (DType t : DType.values()) if (t.toString().equalsIgnoreCase(s)) return t;
        throw new UserException("unknown --dtype '" + s + "' (choose f32, bf16 or f16)");
    }

    /** The run folder of a resolved checkpoint folder ({@code <run>/checkpoints/step-N}), else the path given. */
    private Path runFolder(Path checkpointDir) {
        Path parent = checkpointDir.toAbsolutePath().getParent();
        if (parent != null && parent.getFileName() != null && parent.getFileName().toString().equals(Checkpoint.DIR)
                && parent.getParent() != null) {
            return parent.getParent();
        }
        return run;
    }

    /** Refuses, with one line, an output path that is a folder or lies under a file or an unwritable folder. */
    private static void checkWritable(Path file) {
        if (Files.isDirectory(file)) throw new UserException("cannot write " + file + ": it is a directory");
        Path p = file.toAbsolutePath().getParent();
        while (p != null && !Files.exists(p)) p = p.getParent();
        if (p == null) return;
        if (!Files.isDirectory(p)) throw new UserException("cannot write " + file + ": " + p + " is not a directory");
        if (!Files.isWritable(p)) throw new UserException("cannot write " + file + ": " + p + " is not writable");
    }

    private static String reason(IOException e) {
        if (e instanceof java.nio.file.AccessDeniedException) return "permission denied";
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getReason();
        String m = e.getMessage() == null ? e.toString() : e.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
