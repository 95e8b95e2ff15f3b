package io.github.diffusion4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.diffusion4j.backend.Backends;
import io.github.diffusion4j.bench.BenchOptions;
import io.github.diffusion4j.bench.BenchReport;
import io.github.diffusion4j.bench.Benchmark;
import io.github.diffusion4j.bench.ParityDump;
import io.github.diffusion4j.nn.Precision;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.tensor.Backend;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code bench}: times a training step and DDIM sampling (see {@link Benchmark}); with {@code --dump DIR} writes the
 * inputs of the PyTorch parity check instead (see {@link ParityDump}). Defaults depend on the device: the DDPM
 * CIFAR-10 model at batch 128 and DDIM-50 at batch 256 on a GPU; the small model at batch 16 and a short DDIM run at a
 * small batch on the CPU, so that the CPU run finishes in about a minute.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Measure training and sampling speed (medians after warm-up), or write a parity dump for "
                + "bench/pytorch/parity.py with --dump.",
                "Defaults: GPU ddpm-cifar10, batch 128, 5+20 steps, DDIM-50 at batch 256 x 3; "
                        + "CPU small, batch 16, 1+5 steps, DDIM-10 at batch 8 x 2."})
public final class BenchCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;
    @Spec CommandSpec spec;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String device;
    @Option(names = "--gpu", defaultValue = "0", description = "CUDA device index (default: ${DEFAULT-VALUE}).")
    int gpu;
    @Option(names = "--model", description = "Model preset (default: ddpm-cifar10 on a GPU, small on the CPU; tiny with --dump).")
    String model;
    @Option(names = "--image-size", description = "Image size (default: the preset's).")
    Integer imageSize;
    @Option(names = "--channels", defaultValue = "3", description = "Image channels (default: ${DEFAULT-VALUE}).")
    int channels;
    @Option(names = "--classes", defaultValue = "0", description = "Class labels, 0 for unconditional (default: ${DEFAULT-VALUE}).")
    int classes;
    @Option(names = "--batch-size", description = "Training batch (default: 128 GPU, 16 CPU, 4 with --dump).")
    Integer batchSize;
    @Option(names = "--steps", description = "Timed training steps (default: 20 GPU, 5 CPU).")
    Integer steps;
    @Option(names = "--warmup", description = "Untimed warm-up steps (default: 5 GPU, 1 CPU).")
    Integer warmup;
    @Option(names = "--sample-batch", description = "Sampling batch (default: 256 GPU, 8 CPU).")
    Integer sampleBatch;
    @Option(names = "--sample-steps", description = "DDIM steps per sampling run (default: 50 GPU, 10 CPU).")
    Integer sampleSteps;
    @Option(names = "--sample-repeats", description = "Timed sampling runs (default: 3 GPU, 2 CPU).")
    Integer sampleRepeats;
    @Option(names = "--eval-repeats", description = "Timed single model evaluations (default: 10 GPU, 3 CPU).")
    Integer evalRepeats;
    @Option(names = "--seed", defaultValue = "0", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--no-training", description = "Skip the training measurement.")
    boolean noTraining;
    @Option(names = "--no-sampling", description = "Skip the sampling measurement.")
    boolean noSampling;
    @Option(names = "--no-cudnn-benchmark", description = "GPU: choose convolution algorithms by cuDNN's heuristics "
            + "instead of timing them once per shape (default: timed, like the PyTorch twin's cudnn.benchmark).")
    boolean noCudnnBenchmark;
    @Mixin BackendOptions backendOptions;
    @Option(names = "--trace-syncs", description = "GPU, debugging: print on stderr where the host waits for the GPU, "
            + "with the calling frames (the stalls behind launches_per_step.host_syncs).")
    boolean traceSyncs;
    @Option(names = "--unet-split-concat", description = "U-Net inference on the up path's [h, skip] as two parts "
            + "instead of their concatenation (same results; off by default until measured: this is the A/B switch).")
    boolean unetSplitConcat;
    @Option(names = "--profile", description = "GPU: after the timed part, time every kernel and cuBLAS/cuDNN call of one "
            + "more training step and model evaluation (a table on stderr, every operation in the JSON).")
    boolean profile;
    @Option(names = "--cuda-graphs", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "GPU: sample with the model's forward pass recorded once as a CUDA graph and replayed at every "
            + "step (same results, one launch instead of hundreds; default: on). --no-cuda-graphs launches every "
            + "operation from the host, as PyTorch eager does.")
    boolean cudaGraphs;

    @Option(names = "--precision", defaultValue = "auto", description = "fp32, bf16 (mixed precision, as train) or auto (today fp32) (default: ${DEFAULT-VALUE}).")
    String precision;
    @Option(names = "--scaling", description = {"Data-parallel scaling on paper: profile single-GPU training steps with the",
            "gradient buckets (when each becomes ready in the backward pass) and predict step time and efficiency at",
            "2, 4, 8 GPUs and 2 nodes from NCCL's all-reduce bus bandwidth (see bench/README.md)."})
    boolean scaling;
    @Option(names = "--bucket-mb", defaultValue = "25", description = "With --scaling: bucket size, as train's (default: ${DEFAULT-VALUE}).")
    double bucketMb;
    @Option(names = "--bus-gbps", defaultValue = "370", description = {"With --scaling: NCCL all-reduce bus bandwidth within a node,",
            "GB/s (default: ${DEFAULT-VALUE}, 8xH100 NVLink ring; about 475 on 8xH200)."})
    double busGbps;
    @Option(names = "--inter-node-gbps", defaultValue = "45", description = {"With --scaling: bus bandwidth across 2 nodes, GB/s",
            "(default: ${DEFAULT-VALUE}, an assumption: one 400 Gb/s NIC per GPU at about 90%)."})
    double interNodeGbps;
    @Option(names = "--what-if-step-ms", split = ",", paramLabel = "MS", description = {"With --scaling: also predict for the profile",
            "scaled to steps of these lengths (a what-if: e.g. a GPU's measured step on a CPU profile, or a bf16 step;",
            "the buckets keep their places in the step; gradients stay FP32)."})
    List<Double> whatIfStepMs = new ArrayList<>();
    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;
    @Option(names = "--dump", paramLabel = "DIR", description = "Write a parity dump (weights, one batch, output, every "
            + "gradient, the AdamW/EMA update) to DIR for bench/pytorch/parity.py, instead of benchmarking.")
    Path dump;

    @Override public Integer call() throws Exception {
        if (model != null && !Presets.NAMES.contains(model)) {
            throw new UserException("unknown model preset '" + model + "' (choose from " + String.join(", ", Presets.NAMES) + ")");
        }
        if (channels <= 0) throw new UserException("--channels must be positive");
        if (classes < 0) throw new UserException("--classes must be >= 0");
        positive(batchSize, "--batch-size");
        positive(steps, "--steps");
        positive(sampleBatch, "--sample-batch");
        positive(sampleSteps, "--sample-steps");
        positive(sampleRepeats, "--sample-repeats");
        positive(evalRepeats, "--eval-repeats");
        if (warmup != null && warmup < 0) throw new UserException("--warmup must be >= 0");
        if (noTraining && noSampling && dump == null) throw new UserException("--no-training and --no-sampling leave nothing to measure");
        backendOptions.validate();   // --tf32 and --threads, before any backend starts
        // --dump's parity check compares FP32 arithmetic: TF32 off unless --tf32 says otherwise
        boolean fp32Dump = dump != null && backendOptions.tf32() == null;

        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Backends.Choice choice = backendOptions.select(device, gpu, o -> (fp32Dump ? o.withTf32("off") : o)
                .withAutotuneConv(!noCudnnBenchmark).withTraceSyncs(traceSyncs));
        Backend b = choice.backend();
        boolean gpuRun = b.name().equals("cuda");
        try {
            if (dump != null) return dump(out, b, choice.reason());
            if (scaling) return scaling(out, err, b, choice.reason(), gpuRun);
            String preset = model != null ? model : gpuRun ? "ddpm-cifar10" : "small";
            int size = imageSize != null ? imageSize : Presets.defaultImageSize(preset);
            BenchOptions o;
            try {
                Presets.create(preset, channels, size, classes);   // validates size and channel counts
                o = new BenchOptions(preset, size, channels, classes,
                        or(batchSize, gpuRun ? 128 : 16), or(warmup, gpuRun ? 5 : 1), or(steps, gpuRun ? 20 : 5),
                        or(sampleBatch, gpuRun ? 256 : 8), or(sampleSteps, gpuRun ? 50 : 10),
                        or(sampleRepeats, gpuRun ? 3 : 2), or(evalRepeats, gpuRun ? 10 : 3), seed, !noTraining, !noSampling,
                        profile, cudaGraphs, Precision.parse(precision));
            } catch (IllegalArgumentException e) {
                throw new UserException(e.getMessage());
            }
            err.println("backend: " + choice.reason());
            err.println("precision: " + o.precision().reason(b));
            err.flush();
            Map<String, Object> r = new Benchmark(o, b, line -> {
                err.println(line);
                err.flush();
            }).unetSplitConcat(unetSplitConcat).run();
            if (!gpuRun && o.sampling() && (o.sampleBatch() != 256 || o.sampleSteps() != 50)) {
                r.put("note", String.format(Locale.ROOT, "CPU run: sampling measured as DDIM-%d at batch %d (not the GPU "
                        + "figure's DDIM-50 at batch 256) to finish in about a minute; images/s scale with both",
                        o.sampleSteps(), o.sampleBatch()));
            }
            if (json) out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(r));
            else out.print(BenchReport.format(r));
            out.flush();
            return 0;
        } finally {
            if (gpuRun) b.close();
        }
    }

    private int scaling(PrintWriter out, PrintWriter err, Backend b, String reason, boolean gpuRun) throws Exception {
        if (!(bucketMb > 0) || !(busGbps > 0) || !(interNodeGbps > 0) || whatIfStepMs.stream().anyMatch(v -> !(v > 0))) {
            throw new UserException("--bucket-mb, --bus-gbps, --inter-node-gbps and --what-if-step-ms must be positive");
        }
        String preset = model != null ? model : "ddpm-cifar10";
        int size = imageSize != null ? imageSize : Presets.defaultImageSize(preset);
        io.github.diffusion4j.nn.Model m;
        try {
            m = Presets.create(preset, channels, size, classes);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
        err.println("backend: " + reason);
        m.params().allocate(b, seed);
        try {
            Precision p = Precision.parse(precision);
            String used = p.apply(m).cliName();
            io.github.diffusion4j.bench.BucketProfile.Result r = io.github.diffusion4j.bench.BucketProfile.measure(m,
                    io.github.diffusion4j.bench.TrainSettings.benchmark(), b, or(batchSize, gpuRun ? 128 : 8),
                    or(warmup, gpuRun ? 5 : 1), or(steps, gpuRun ? 20 : 3), (long) (bucketMb * (1 << 20)), seed, line -> {
                        err.println(line);
                        err.flush();
                    });
            Map<String, Object> j = io.github.diffusion4j.bench.ScalingReport.of(r, preset, used, b.description(), busGbps,
                    interNodeGbps, whatIfStepMs);
            if (json) out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(j));
            else out.print(io.github.diffusion4j.bench.ScalingReport.format(j));
            out.flush();
            return 0;
        } finally {
            m.params().close();
        }
    }

    private int dump(PrintWriter out, Backend b, String reason) throws Exception {
        String preset = model != null ? model : "tiny";
        int size = imageSize != null ? imageSize : Presets.defaultImageSize(preset);
        ParityDump.Summary s;
        try {
            s = ParityDump.write(dump, b, preset, channels, size, classes, or(batchSize, 4), seed);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
        out.printf(Locale.ROOT, "parity dump: %s (%s, %,d parameters, batch %d, loss %.6f, grad norm %.6f; backend %s)%n",
                s.dir(), s.preset(), s.parameters(), s.batch(), s.loss(), s.gradNorm(), reason);
        out.flush();
        return 0;
    }

    private static void positive(Integer v, String name) {
        if (v != null && v <= 0) throw new UserException(name + " must be positive");
    }

    private static int or(Integer v, int dflt) { return v != null ? v : dflt; }
}
