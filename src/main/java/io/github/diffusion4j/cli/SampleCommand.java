package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.cuda.CudaBackend;

import io.github.diffusion4j.backend.Backends;
import io.github.diffusion4j.data.ShapeValidity;
import io.github.diffusion4j.diffusion.EdmPreconditioning;
import io.github.diffusion4j.diffusion.EdmScheduler;
import io.github.diffusion4j.diffusion.Objective;
import io.github.diffusion4j.diffusion.Sampler;
import io.github.diffusion4j.diffusion.Scheduler;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.diffusion.TimestepSpacing;
import io.github.diffusion4j.diffusion.VarianceType;
import io.github.diffusion4j.io.AtomicFiles;
import io.github.diffusion4j.io.ImageIo;
import io.github.diffusion4j.nn.Precision;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.train.Checkpoint;
import io.github.diffusion4j.train.ModelDenoiser;
import io.github.diffusion4j.train.RecordedDenoiser;
import io.github.diffusion4j.train.TrainConfig;
import io.github.diffusion4j.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code sample}: generates images from a trained run or checkpoint. */
@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate images from a run folder or checkpoint (EMA weights by default).")
public final class SampleCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;
    @Spec CommandSpec spec;

    @Option(names = "--run", required = true, paramLabel = "PATH", description = "Run folder (its latest checkpoint) or checkpoint folder.")
    Path run;
    @Option(names = "--sampler", description = {"ddpm-objective runs: ddpm (ancestral), ddim, dpmpp (DPM-Solver++ 2M), dpmpp-sde",
            "(its SDE variant), euler or heun (in sigma space, as diffusers' Euler/HeunDiscreteScheduler); flow runs: euler",
            "or heun; edm runs: heun (EDM's 2nd-order sampler) or euler (default: ddpm; euler for flow, heun for edm)."})
    String sampler;
    @Option(names = "--steps", description = {"Inference steps (default: ddpm 100, ddim 50, dpmpp 20, euler 50, heun 20 = 39",
            "evaluations; edm heun 18 = 35 evaluations)."})
    Integer steps;
    @Option(names = "--karras", description = "ddpm-objective runs: Karras et al.'s sigma steps (rho 7) for dpmpp, dpmpp-sde, euler and heun (diffusers' use_karras_sigmas); edm runs always use them.")
    boolean karras;
    @Option(names = "--s-churn", defaultValue = "0", description = "euler/heun: EDM's stochasticity S_churn (0: the deterministic ODE sampler; default: ${DEFAULT-VALUE}).")
    double sChurn;
    @Option(names = "--s-tmin", defaultValue = "0", description = "euler/heun: churn only at sigma >= S_tmin (default: ${DEFAULT-VALUE}).")
    double sTmin;
    @Option(names = "--s-tmax", defaultValue = "Infinity", description = "euler/heun: churn only at sigma <= S_tmax (default: ${DEFAULT-VALUE}).")
    double sTmax;
    @Option(names = "--s-noise", defaultValue = "1", description = "euler/heun: scale of the churn noise S_noise (EDM: 1.003-1.007 for ImageNet; default: ${DEFAULT-VALUE}).")
    double sNoise;
    @Option(names = "--dynamic-threshold", paramLabel = "PERCENTILE", description = {"ddpm, ddim, dpmpp, dpmpp-sde: Imagen's dynamic",
            "thresholding of the predicted x0 at this percentile of |x0| (Imagen: 0.995) instead of clipping (diffusers'",
            "thresholding, dynamic_thresholding_ratio)."})
    Double dynamicThreshold;
    @Option(names = "--sample-max-value", description = "With --dynamic-threshold: the largest threshold (diffusers' sample_max_value; default: unbounded, as Imagen).")
    Double sampleMaxValue;
    @Option(names = "--sigma-min", description = "edm runs: the smallest sigma of the Karras steps (default: 0.002).")
    Double sigmaMin;
    @Option(names = "--sigma-max", description = "edm runs: the largest sigma of the Karras steps (default: 80).")
    Double sigmaMax;
    @Option(names = "--eta", defaultValue = "0", description = "DDIM eta in [0, 1] (default: ${DEFAULT-VALUE}).")
    double eta;
    @Option(names = "--no-clip", description = "Do not clamp the predicted x0 to [-1, 1] (DDPM/DDIM clip_sample; DPM++ never clips).")
    boolean noClip;
    @Option(names = "--variance", description = {"DDPM step variance: fixed_small (posterior), fixed_large (beta), or for a",
            "--learn-sigma run learned_range (its learned variance) (default: learned_range for such runs, else fixed_small)."})
    String variance;
    @Option(names = "--spacing", description = "Timestep spacing: trailing, leading or linspace (default: trailing; dpmpp linspace).")
    String spacing;
    @Option(names = "--guidance", defaultValue = "1", description = "Classifier-free guidance scale for class-conditional models (1: none; default: ${DEFAULT-VALUE}).")
    float guidance;
    @Option(names = "--label", description = "Class to generate (id or name; default: cycle through all classes).")
    String label;
    @Option(names = "--count", defaultValue = "16", description = "Number of images (default: ${DEFAULT-VALUE}).")
    int count;
    @Option(names = "--batch-size", defaultValue = "64", description = "Images per model batch (default: ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the noise (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--out", defaultValue = "samples.png", paramLabel = "FILE", description = "Grid PNG (default: ${DEFAULT-VALUE}).")
    Path out;
    @Option(names = "--out-dir", paramLabel = "DIR", description = "Also write every image as its own PNG plus labels.csv (a synthetic labelled dataset).")
    Path outDir;
    @Option(names = "--trajectory", paramLabel = "FILE.gif", description = "Animated GIF of the denoising (first batch), plus a strip PNG beside it.")
    Path trajectory;
    @Option(names = "--init", paramLabel = "IMAGE", description = "img2img: start from this image noised to --strength.")
    Path init;
    @Option(names = "--strength", defaultValue = "0.6", description = "img2img / inpainting strength in (0, 1] (default: ${DEFAULT-VALUE}).")
    double strength;
    @Option(names = "--mask", paramLabel = "IMAGE", description = "Inpainting mask for --init: white = generate, black = keep.")
    Path mask;
    @Option(names = "--no-ema", description = "Use the raw weights instead of the EMA weights.")
    boolean noEma;
    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String device;
    @Option(names = "--gpu", defaultValue = "0", description = "CUDA device index (default: ${DEFAULT-VALUE}).")
    int gpu;
    @Mixin BackendOptions backendOptions;
    @Mixin DistributedOptions distributedOptions;
    @Option(names = "--cuda-graphs", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "GPU: record the model's forward pass once per batch shape as a CUDA graph and replay it at "
            + "every step (same images, one launch instead of hundreds per step; default: on). --no-cuda-graphs "
            + "launches every operation from the host.")
    boolean cudaGraphs;
    @Option(names = "--precision", defaultValue = "auto", description = "fp32, bf16 (bf16 weights copy and activations; the scheduler's state stays FP32) or auto (today fp32) (default: ${DEFAULT-VALUE}).")
    String precision;
    @Option(names = "--check-shapes", description = "For models trained on 'shapes': check every image with the shape validity checker and print the share of valid ones.")
    boolean checkShapes;

    @Override public Integer call() throws Exception {
        return distributedOptions.run(spec, this::sample);
    }

    /**
     * Under mpirun the batches are shared round-robin over the ranks (batch k on rank k mod N, each seeded as in one
     * process, so the images are the same), gathered, and written by rank 0.
     */
    private int sample(io.github.diffusion4j.dist.World world) throws Exception {
        Checkpoint.Info info = Checkpoint.readInfo(Checkpoint.resolve(run));
        TrainConfig tc = info.config();
        objective = tc.objective();
        setup = io.github.diffusion4j.eval.ModelSamples.Setup.of(tc, Trainer.schedulerConfig(tc));
        if (sampler == null) sampler = objective.defaultSampler();
        String refused = io.github.diffusion4j.eval.ModelSamples.refusal(objective, sampler);
        if (refused != null) throw new UserException(refused);
        CommandLine.ParseResult given = spec.commandLine().getParseResult();
        if (objective != Objective.DDPM) {
            for (String o : List.of("--eta", "--variance", "--spacing", "--no-clip")) {
                if (given.hasMatchedOption(o)) throw new UserException(o + " applies to the ddpm-objective samplers, not to " + sampler);
            }
        }
        boolean sigmaSpace = objective != Objective.FLOW && (sampler.equals("euler") || sampler.equals("heun"));
        if (karras && (objective != Objective.DDPM || sampler.equals("ddpm") || sampler.equals("ddim"))) {
            throw new UserException("--karras applies to dpmpp, dpmpp-sde, euler and heun on ddpm-objective runs"
                    + (objective == Objective.EDM ? " (edm runs always sample on Karras sigmas)" : ""));
        }
        for (String o : List.of("--s-churn", "--s-tmin", "--s-tmax", "--s-noise")) {
            if (!sigmaSpace && given.hasMatchedOption(o)) {
                throw new UserException(o + " applies to euler and heun on ddpm-objective and edm runs, not to " + sampler
                        + (objective == Objective.FLOW ? " on a flow run" : ""));
            }
        }
        if (sigmaSpace && given.hasMatchedOption("--spacing")) {
            throw new UserException("--spacing: " + sampler + " takes Karras sigmas (--karras) or diffusers' linspace timesteps");
        }
        if (dynamicThreshold != null && (objective != Objective.DDPM || sigmaSpace)) {
            throw new UserException("--dynamic-threshold applies to ddpm, ddim, dpmpp and dpmpp-sde on ddpm-objective runs");
        }
        if (sampleMaxValue != null && dynamicThreshold == null) throw new UserException("--sample-max-value needs --dynamic-threshold");
        if (dynamicThreshold != null && !(dynamicThreshold > 0 && dynamicThreshold <= 1)) {
            throw new UserException("--dynamic-threshold must be a percentile in (0, 1], not " + dynamicThreshold);
        }
        if (sampleMaxValue != null && !(sampleMaxValue >= 1)) throw new UserException("--sample-max-value must be >= 1, not " + sampleMaxValue);
        for (String o : List.of("--sigma-min", "--sigma-max")) {
            if (objective != Objective.EDM && given.hasMatchedOption(o)) throw new UserException(o + " applies to edm runs");
        }
        EdmScheduler.Churn churn;
        try {
            churn = new EdmScheduler.Churn(sChurn, sTmin, sTmax, sNoise);
            if (objective == Objective.EDM) {
                EdmPreconditioning e = setup.edm();
                setup = setup.withEdm(new EdmPreconditioning(e.sigmaData(), sigmaMin == null ? e.sigmaMin() : sigmaMin,
                        sigmaMax == null ? e.sigmaMax() : sigmaMax));
            }
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage().replace("s_churn", "--s-churn").replace("s_noise", "--s-noise")
                    .replace("s_tmin", "--s-tmin").replace("s_tmax", "--s-tmax"));
        }
        setup = setup.withOptions(karras, churn, null);
        if (count <= 0) throw new UserException("--count must be positive");
        if (batchSize <= 0) throw new UserException("--batch-size must be positive");
        if (mask != null && init == null) throw new UserException("--mask needs --init (the image to inpaint)");
        if (init != null && !(strength > 0 && strength <= 1)) throw new UserException("--strength must be in (0, 1]");
        if (!(eta >= 0 && eta <= 1)) throw new UserException("--eta must be in [0, 1]");
        if (eta != 0 && !sampler.equals("ddim")) throw new UserException("--eta applies to --sampler ddim only");
        if (variance != null && !sampler.equals("ddpm")) throw new UserException("--variance applies to --sampler ddpm only");
        if (variance == null) variance = tc.learnSigma ? "learned_range" : "fixed_small";
        if (variance.startsWith("learned") && !tc.learnSigma) {
            throw new UserException("--variance " + variance + " needs a run trained with --learn-sigma");
        }
        if (noClip && !sampler.equals("ddpm") && !sampler.equals("ddim")) throw new UserException("--no-clip: " + sampler + " never clips");
        backendOptions.validate();   // --tf32 and --threads, before the checkpoint is read
        VarianceType varianceType;
        TimestepSpacing spacingType;
        try {
            varianceType = VarianceType.fromName(variance);
            spacingType = spacing == null ? null : TimestepSpacing.fromName(spacing);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
        Precision prec = Precision.parse(precision);
        PrintWriter o = DistributedOptions.out(world, spec);

        Backends.Choice choice = backendOptions.select(device, DistributedOptions.gpu(world, gpu,
                spec.commandLine().getParseResult().hasMatchedOption("--gpu")));
        Backend b = choice.backend();
        Model model = Checkpoint.buildModel(info);
        // every image is kept for the grid: refuse what cannot be held before allocating it
        long values = (long) count * model.inChannels() * model.imageSize() * model.imageSize();
        if (values > Integer.MAX_VALUE || values * 4 > Runtime.getRuntime().maxMemory() / 2) {
            throw new UserException(String.format(Locale.ROOT, "--count %d images of %dx%dx%d need %.1f GiB here (the heap "
                    + "is %.1f GiB): sample fewer at a time", count, model.inChannels(), model.imageSize(), model.imageSize(), values * 4 / 1073741824.0,
                    Runtime.getRuntime().maxMemory() / 1073741824.0));
        }
        int classes = model.numClasses();
        float[] labelIds = labels(info, classes);
        if (guidance != 1f && classes == 0) throw new UserException("--guidance needs a class-conditional model (train with --classes)");

        int c = model.inChannels(), size = model.imageSize();
        float[] initImage = init == null ? null : ImageIo.readImage(init, size, c);
        float[] keep = null;
        if (mask != null) {
            keep = ImageIo.readMask(mask, size);
            for (int i = 0; i < keep.length; i++) keep[i] = 1f - keep[i];
        }
        model.params().allocate(b, 0);
        Checkpoint.loadWeights(info, model, !noEma);
        String precisionUsed = prec.reason(b);
        prec.apply(model);
        o.printf(Locale.ROOT, "backend: %s%nprecision: %s%nmodel: %s from %s (step %d, %s weights), %s %d steps%n",
                choice.reason(), precisionUsed, model.name(), info.dir(), info.step(), noEma ? "raw" : "EMA", sampler,
                inferenceSteps());
        o.flush();

        float[] all = new float[(int) values];
        List<float[]> frames = new ArrayList<>();
        List<Integer> frameSteps = new ArrayList<>();
        long t0 = System.nanoTime();
        SchedulerConfig.Builder sb = Trainer.schedulerConfig(tc).toBuilder().varianceType(varianceType).clipSample(!noClip);
        if (spacingType != null) sb.timestepSpacing(spacingType);
        if (dynamicThreshold != null) {
            sb.thresholding(true).dynamicThresholdingRatio(dynamicThreshold)
                    .sampleMaxValue(sampleMaxValue == null ? Double.POSITIVE_INFINITY : sampleMaxValue);
        }
        // the CPU has nothing to record: it runs every evaluation directly either way
        RecordedDenoiser recorded = cudaGraphs && b instanceof CudaBackend ? new RecordedDenoiser(model) : null;
        try (Scheduler scheduler = scheduler(sb.build(), spacingType); RecordedDenoiser closeLater = recorded) {
            for (int start = 0; start < count; start += batchSize) {
                if ((start / batchSize) % world.size() != world.rank()) continue;   // another rank's batch
                int n = Math.min(batchSize, count - start);
                Shape shape = Shape.of(n, c, size, size);
                Sampler s = new Sampler(scheduler, recorded != null ? recorded : new ModelDenoiser(model)).seed(seed + start);
                Tensor lab = null;
                if (classes > 0) {
                    float[] l = new float[n];
                    System.arraycopy(labelIds, start, l, 0, n);
                    lab = b.fromArray(l, Shape.of(n));
                    s.labels(lab);
                    if (guidance != 1f) s.guidance(guidance, classes);
                }
                final int batchStart = start;
                final int total = scheduler.numInferenceSteps();
                s.callback((i, t, x, x0) -> {
                    if (trajectory != null && batchStart == 0) {
                        frames.add(x.toArray());
                        frameSteps.add(t);
                    }
                    progress(o, batchStart + n, i + 1, total);
                });
                Tensor result;
                if (init == null) {
                    result = s.sample(b, shape);
                } else {
                    try (Tensor original = b.fromArray(repeat(initImage, n), shape)) {
                        if (keep != null) {
                            try (Tensor km = b.fromArray(keep, Shape.of(1, 1, size, size))) {
                                result = s.inpaint(original, km, strength);
                            }
                        } else {
                            result = s.img2img(original, strength);
                        }
                    }
                }
                b.copyToHost(all, start * c * size * size, result);
                result.close();
                if (lab != null) lab.close();
            }
        }
        if (world.distributed()) {
            world.barrierUnbounded();   // the ranks' shares take about as long, but a grid is worth any wait
            int batches = (count + batchSize - 1) / batchSize, per = c * size * size;
            int[] offsets = new int[batches], counts = new int[batches], owners = new int[batches];
            for (int k = 0; k < batches; k++) {
                offsets[k] = k * batchSize * per;
                counts[k] = Math.min(batchSize, count - k * batchSize) * per;
                owners[k] = k % world.size();
            }
            world.gatherParts(all, offsets, counts, owners);
            if (!world.isRoot()) {
                model.params().close();
                return 0;
            }
        }
        o.printf(Locale.ROOT, TERMINAL ? "\r%d images in %.1f s%n" : "%d images in %.1f s%n", count, (System.nanoTime() - t0) / 1e9);
        if (recorded != null) {
            o.println(recorded.recordingFailure() == null
                    ? String.format(Locale.ROOT, "CUDA graphs: %d recordings, %d replayed model evaluations",
                            recorded.recordings(), recorded.replays())
                    : "CUDA graphs: not used, every model evaluation ran directly (" + recorded.recordingFailure() + ")");
        }

        writeGrid(out, all, count, c, size);
        o.println("grid: " + out);
        if (outDir != null) {
            Files.createDirectories(outDir);
            List<Path> files = ImageIo.writeEach(outDir, "sample", all, count, c, size, size, 1);
            StringBuilder csv = new StringBuilder("file,label,class\n");
            for (int i = 0; i < count; i++) {
                int l = classes > 0 ? (int) labelIds[i] : -1;
                String name = l >= 0 && l < info.classNames().size() ? info.classNames().get(l) : "";
                csv.append(files.get(i).getFileName()).append(',').append(l).append(',').append(csvField(name)).append('\n');
            }
            AtomicFiles.writeString(outDir.resolve("labels.csv"), csv.toString());
            o.println("images: " + outDir + " (" + count + " PNG files and labels.csv)");
        }
        if (checkShapes) {
            ShapeValidity.Report r = ShapeValidity.evaluate(all, count, c, size, size);
            o.println("shape validity: " + r);
            if (classes > 0 && label != null) {
                int fixed = (int) labelIds[0], right = 0;
                for (int i = 0; i < count; i++) {
                    ShapeValidity.Result res = ShapeValidity.check(all, i * c * size * size, c, size, size);
                    if (res.valid() && res.kind() == fixed) right++;
                }
                o.printf(Locale.ROOT, "requested kind %s: %d/%d%n", label, right, count);
            }
        }
        if (trajectory != null) writeTrajectory(frames, frameSteps, Math.min(count, batchSize), c, size, o);
        o.flush();
        model.params().close();
        return 0;
    }

    private int inferenceSteps() {
        if (steps != null) return steps;
        return objective.defaultSteps(sampler);
    }

    private Objective objective;                                   // the run's, set when its checkpoint is read
    private io.github.diffusion4j.eval.ModelSamples.Setup setup;   // the run's and these options

    private Scheduler scheduler(SchedulerConfig base, TimestepSpacing spacingType) {
        int n = inferenceSteps();
        if (n <= 0) throw new UserException("--steps must be positive");
        if (n > base.numTrainTimesteps()) {
            throw new UserException("--steps " + n + " exceeds the model's " + base.numTrainTimesteps() + " training timesteps");
        }
        // the one construction of a sampler's scheduler (evaluate and the trainer's evaluations use it too)
        try {
            return io.github.diffusion4j.eval.ModelSamples.scheduler(sampler, new io.github.diffusion4j.eval.ModelSamples.Setup(
                    setup.objective(), base.toBuilder().eta(eta).build(), setup.flowShift(), setup.edm(), setup.karras(),
                    setup.churn(), spacingType), n);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
    }

    private float[] labels(Checkpoint.Info info, int classes) {
        float[] l = new float[count];
        if (classes == 0) {
            if (label != null) throw new UserException("--label needs a class-conditional model (train with --classes)");
            return l;
        }
        int fixed = -1;
        if (label != null) {
            fixed = info.classNames().indexOf(label);
            if (fixed < 0) {
                try {
                    fixed = Integer.parseInt(label);
                } catch (NumberFormatException e) {
                    throw new UserException("unknown class '" + label + "' (classes: " + String.join(", ", info.classNames()) + ")");
                }
            }
            if (fixed < 0 || fixed >= classes) throw new UserException("--label " + label + " outside [0, " + classes + ")");
        }
        for (int i = 0; i < count; i++) l[i] = fixed >= 0 ? fixed : i % classes;
        return l;
    }

    private static float[] repeat(float[] img, int n) {
        float[] r = new float[img.length * n];
        for (int i = 0; i < n; i++) System.arraycopy(img, 0, r, i * img.length, img.length);
        return r;
    }

    private static void writeGrid(Path file, float[] all, int n, int c, int size) throws java.io.IOException {
        if (file.getParent() != null) Files.createDirectories(file.getParent());
        ImageIo.writeGrid(file, all, n, c, size, size, size <= 32 ? 2 : 1);
    }

    /** The GIF of every step's grid, and a strip: up to 8 samples (rows) at 10 moments (columns). */
    private void writeTrajectory(List<float[]> frames, List<Integer> frameSteps, int n, int c, int size, PrintWriter o)
            throws java.io.IOException {
        if (trajectory.getParent() != null) Files.createDirectories(trajectory.getParent());
        ImageIo.writeGifGrids(trajectory, frames, n, c, size, size, ImageIo.Layout.DEFAULT.withScale(size <= 32 ? 2 : 1), 80, 1500);
        int rows = Math.min(n, 8), cols = Math.min(10, frames.size());
        int per = c * size * size;
        float[] strip = new float[rows * cols * per];
        List<String> labels = new ArrayList<>();
        for (int j = 0; j < cols; j++) {
            int f = cols == 1 ? 0 : (int) Math.round(j * (frames.size() - 1) / (double) (cols - 1));
            labels.add("t=" + frameSteps.get(f));
            for (int r = 0; r < rows; r++) System.arraycopy(frames.get(f), r * per, strip, (r * cols + j) * per, per);
        }
        String name = trajectory.getFileName().toString().replaceFirst("\\.gif$", "") + ".png";
        Path png = trajectory.resolveSibling(name);
        ImageIo.writeStrip(png, strip, rows, cols, c, size, size, labels, ImageIo.Layout.DEFAULT.withScale(size <= 32 ? 2 : 1));
        o.println("trajectory: " + trajectory + " and " + png);
    }

    private static String csvField(String s) {
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    private static final boolean TERMINAL = System.console() != null;

    /** Progress: an updating line on a terminal, else one plain line at every quarter (logs stay readable). */
    private static void progress(PrintWriter o, int images, int step, int total) {
        if (TERMINAL) {
            o.printf(Locale.ROOT, "\rsampling %d images: step %d/%d", images, step, total);
        } else if (step == total || step % Math.max(1, total / 4) == 0) {
            o.printf(Locale.ROOT, "sampling %d images: step %d/%d%n", images, step, total);
        } else {
            return;
        }
        o.flush();
    }
}
