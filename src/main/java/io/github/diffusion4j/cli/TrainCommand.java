package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.Backends;
import io.github.diffusion4j.data.Datasets;
import io.github.diffusion4j.diffusion.BetaSchedule;
import io.github.diffusion4j.diffusion.PredictionType;
import io.github.diffusion4j.io.AtomicDirectory;
import io.github.diffusion4j.io.TensorBoardWriter;
import io.github.diffusion4j.nn.Precision;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.train.Checkpoint;
import io.github.diffusion4j.train.TrainConfig;
import io.github.diffusion4j.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import io.github.diffusion4j.dist.World;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code train}: trains a model; with no arguments, a small U-Net on the embedded shapes data. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false, defaultValueProvider = TrainCommand.Defaults.class,
        header = "Train a diffusion model (no options: the embedded shapes, 32x32, preset small; Ctrl-C checkpoints).",
        description = {"Train a diffusion model. With no arguments: the embedded 'shapes' data at 32x32, preset 'small',",
                "on the best available backend, for a few minutes on a laptop CPU. Ctrl-C writes a checkpoint;",
                "--resume continues exactly where it stopped."})
public final class TrainCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;
    @Spec CommandSpec spec;

    @Option(names = "--data", description = "Dataset: shapes, fashion-mnist, mnist, cifar10, folder (default: ${DEFAULT-VALUE}).")
    String data;
    @Option(names = "--data-dir", paramLabel = "DIR", description = "Dataset directory (fashion-mnist defaults to /usr/share/datasets/fashion-mnist).")
    Path dataDir;
    @Option(names = "--image-size", description = "Image height and width (default: ${DEFAULT-VALUE}).")
    int imageSize;
    @Option(names = "--model", description = "Model preset: tiny, small, medium, ddpm-cifar10, seed (default: ${DEFAULT-VALUE}).")
    String model;
    @Option(names = "--classes", description = "Train class-conditionally on the dataset's labels (for classifier-free guidance).")
    boolean classes;
    @Option(names = "--steps", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    long steps;
    @Option(names = "--batch-size", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--grad-accum", description = "Micro-batches per optimizer step (default: ${DEFAULT-VALUE}).")
    int gradAccum;
    @Option(names = "--lr", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    float lr;
    @Option(names = "--warmup", description = "Linear warmup steps (default: ${DEFAULT-VALUE}).")
    int warmup;
    @Option(names = "--lr-schedule", description = "constant or cosine after warmup (default: ${DEFAULT-VALUE}).")
    String lrSchedule;
    @Option(names = "--weight-decay", description = "AdamW weight decay (default: ${DEFAULT-VALUE}).")
    float weightDecay;
    @Option(names = "--grad-clip", description = "Clip the global gradient norm to this (0: off; default: ${DEFAULT-VALUE}).")
    float gradClip;
    @Option(names = "--ema-decay", description = "EMA decay target (default: ${DEFAULT-VALUE}).")
    float emaDecay;
    @Option(names = "--schedule", description = "Noise schedule: linear, cosine, scaled-linear, sigmoid (default: ${DEFAULT-VALUE}).")
    String schedule;
    @Option(names = "--timesteps", description = "Diffusion timesteps T (default: ${DEFAULT-VALUE}).")
    int timesteps;
    @Option(names = "--objective", description = {"ddpm (noising of Ho et al.; --prediction says what the model predicts),",
            "flow (flow matching / rectified flow: x_t = (1 - s) x0 + s eps, the model predicts eps - x0, as SD3) or",
            "edm (Karras et al. 2022: x = x0 + sigma eps with EDM's preconditioning, ln sigma ~ N(P_mean, P_std^2)) (default: ${DEFAULT-VALUE})."})
    String objective;
    @Option(names = "--learn-sigma", description = {"ddpm: learn the variance too (improved DDPM: twice the output channels, the hybrid",
            "loss L_simple + lambda L_vlb); sample's ddpm sampler then uses it (variance learned_range)."})
    boolean learnSigma;
    @Option(names = "--vlb-weight", description = "--learn-sigma: lambda of the hybrid loss (the paper's; default: ${DEFAULT-VALUE}).")
    float vlbWeight;
    @Option(names = "--sigma-data", description = "edm: the data's standard deviation in the preconditioning (default: ${DEFAULT-VALUE}).")
    float sigmaData;
    @Option(names = "--p-mean", description = "edm: the mean of ln sigma in training (default: ${DEFAULT-VALUE}).")
    float pMean;
    @Option(names = "--p-std", description = "edm: the standard deviation of ln sigma in training (default: ${DEFAULT-VALUE}).")
    float pStd;
    @Option(names = "--flow-timesteps", description = "flow: how training draws sigma: logit-normal (SD3's) or uniform (default: ${DEFAULT-VALUE}).")
    String flowTimesteps;
    @Option(names = "--flow-shift", description = "flow: the timestep shift of training and sampling (SD3: 3; default: ${DEFAULT-VALUE}, none).")
    float flowShift;
    @Option(names = "--prediction", description = "What the model predicts: v_prediction, epsilon, sample (x0) (default: ${DEFAULT-VALUE}).")
    String prediction;
    @Option(names = "--min-snr", paramLabel = "GAMMA", description = "Min-SNR-gamma loss weighting (Hang et al. 2023; 0: uniform; default: ${DEFAULT-VALUE}).")
    float minSnr;
    @Option(names = "--offset-noise", description = "Offset-noise strength (default: ${DEFAULT-VALUE}).")
    float offsetNoise;
    @Option(names = "--cfg-dropout", description = "Label dropout for classifier-free guidance, with --classes (default: ${DEFAULT-VALUE}).")
    float cfgDropout;
    @Option(names = "--dropout", description = "Dropout in residual blocks (default: the preset's).")
    Float dropout;

    @Option(names = "--base-channels", paramLabel = "C", description = "Width of the U-Net's first level, the others "
            + "keeping the preset's multiples (default: the preset's; small: 16).")
    Integer baseChannels;

    @Option(names = "--res-blocks", paramLabel = "N", description = "Residual blocks per level (default: the preset's; small: 1).")
    Integer resBlocks;
    @Option(names = "--flip", negatable = true, description = "Random horizontal flips (default: on, except for "
            + "mnist, never flipped, and fashion-mnist, whose footwear all faces one way).")
    Boolean flip;
    @Option(names = "--seed", description = "Seed of initialisation, data order and noise (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--out", paramLabel = "DIR", description = "Run folder (default: runs/<data>-<model>).")
    Path out;
    @Option(names = "--resume", arity = "0..1", fallbackValue = "", paramLabel = "PATH",
            description = {"Continue a run: its folder or a checkpoint (no value: the --out folder). The checkpoint's",
                    "settings are kept; only --steps, --log-every, --sample-every, --sample-count, --sample-steps,",
                    "--checkpoint-every, --keep, --device and --gpu may be given to change them."})
    String resume;
    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String device;
    @Option(names = "--gpu", defaultValue = "0", description = "CUDA device index (default: ${DEFAULT-VALUE}).")
    int gpu;
    @Mixin BackendOptions backendOptions;
    @Option(names = "--log-every", description = "Steps between metrics lines (default: ${DEFAULT-VALUE}).")
    int logEvery;
    @Option(names = "--sample-every", description = "Steps between sample grids (0: only at the end; default: ${DEFAULT-VALUE}).")
    int sampleEvery;
    @Option(names = "--sample-count", description = "Images per sample grid (0: none; default: ${DEFAULT-VALUE}).")
    int sampleCount;
    @Option(names = "--sample-steps", description = "DDPM steps for sample grids (default: ${DEFAULT-VALUE}).")
    int sampleSteps;
    @Option(names = "--checkpoint-every", description = "Steps between checkpoints (0: only at the end; default: ${DEFAULT-VALUE}).")
    int checkpointEvery;
    @Option(names = "--keep", description = "Checkpoints to keep (default: ${DEFAULT-VALUE}).")
    int keep;
    @Option(names = "--eval-every", paramLabel = "N", description = {"Every N steps and at the end: sample --eval-count images from the EMA",
            "weights, log FD, KID, precision/recall (and class accuracy) in the Fashion-MNIST classifier's features",
            "in metrics.jsonl and fd.png, keep checkpoints/best (lowest FD). fashion-mnist only (default: off)."})
    Integer evalEvery;
    @Option(names = "--eval-count", paramLabel = "K", description = "Images per evaluation (default: ${DEFAULT-VALUE}).")
    int evalCount;
    @Option(names = "--eval-sampler", description = "Sampler of the evaluation images: one of sample's for the objective (default: ${DEFAULT-VALUE}; euler for flow, heun for edm).")
    String evalSampler;
    @Option(names = "--eval-steps", paramLabel = "S", description = "Sampler steps (default: the sampler's, as sample: ddpm 100, ddim 50, dpmpp 20).")
    Integer evalSteps;
    @Option(names = "--eval-guidance", description = "Classifier-free guidance of the evaluation images, with --classes (default: ${DEFAULT-VALUE}).")
    float evalGuidance;
    @Option(names = "--eval-reference", paramLabel = "N", description = "Test images in the reference, cached (default: ${DEFAULT-VALUE}, the whole split).")
    int evalReference;
    @Option(names = "--tensorboard", arity = "0..1", fallbackValue = "", paramLabel = "DIR",
            description = "Also write TensorBoard event files: metrics and sample grids (default DIR: <run>/tensorboard).")
    String tensorboard;
    @Option(names = "--eval-cache-dir", paramLabel = "DIR", description = "With --eval-every: keep the cached reference features in DIR (default: $D4J_CACHE_DIR/eval, else ~/.cache/diffusion4j/eval).")
    Path evalCacheDir;
    @Mixin DistributedOptions distributedOptions;
    @Option(names = "--bucket-mb", defaultValue = "25", paramLabel = "MB", description = {"Data-parallel: the gradient all-reduce's bucket size",
            "(the first bucket is 1 MB; PyTorch DDP's defaults; default: ${DEFAULT-VALUE})."})
    double bucketMb;
    @Option(names = "--precision", description = {"fp32, bf16 (mixed: bf16 weights copy and activations, FP32",
            "masters, statistics and loss) or auto (today fp32 everywhere; see 'info') (default: ${DEFAULT-VALUE}).",
            "A run resumes in any precision."})
    String precision;

    /**
     * The defaults of the options that are settings of the run: TrainConfig's, the one place they are written (a
     * config built in Java and 'train' with no options are the same run).
     */
    public static final class Defaults implements CommandLine.IDefaultValueProvider {
        private static final java.util.Map<String, String> MAP = defaults();

        static java.util.Map<String, String> defaults() {
            TrainConfig c = new TrainConfig();
            java.util.Map<String, String> m = new java.util.HashMap<>();
            m.put("--data", c.data);
            m.put("--image-size", Integer.toString(c.imageSize));
            m.put("--model", c.model);
            m.put("--steps", Long.toString(c.steps));
            m.put("--batch-size", Integer.toString(c.batchSize));
            m.put("--grad-accum", Integer.toString(c.gradAccum));
            m.put("--lr", Float.toString(c.lr));
            m.put("--warmup", Integer.toString(c.warmup));
            m.put("--lr-schedule", c.cosineDecay ? "cosine" : "constant");
            m.put("--weight-decay", Float.toString(c.weightDecay));
            m.put("--grad-clip", Float.toString(c.gradClip));
            m.put("--ema-decay", Float.toString(c.emaDecay));
            m.put("--schedule", c.schedule);
            m.put("--timesteps", Integer.toString(c.timesteps));
            m.put("--prediction", c.prediction);
            m.put("--objective", c.objective);
            m.put("--flow-timesteps", c.flowTimesteps);
            m.put("--flow-shift", Float.toString(c.flowShift));
            m.put("--vlb-weight", Float.toString(c.vlbWeight));
            m.put("--sigma-data", Float.toString(c.edmSigmaData));
            m.put("--p-mean", Float.toString(c.edmPMean));
            m.put("--p-std", Float.toString(c.edmPStd));
            m.put("--min-snr", Float.toString(c.minSnrGamma));
            m.put("--offset-noise", Float.toString(c.offsetNoise));
            m.put("--cfg-dropout", Float.toString(c.cfgDropout));
            m.put("--seed", Long.toString(c.seed));
            m.put("--log-every", Integer.toString(c.logEvery));
            m.put("--sample-every", Integer.toString(c.sampleEvery));
            m.put("--sample-count", Integer.toString(c.sampleCount));
            m.put("--sample-steps", Integer.toString(c.sampleSteps));
            m.put("--checkpoint-every", Integer.toString(c.checkpointEvery));
            m.put("--keep", Integer.toString(c.keepCheckpoints));
            m.put("--precision", c.precision);
            TrainConfig.Eval e = new TrainConfig.Eval();
            m.put("--eval-count", Integer.toString(e.count));
            m.put("--eval-sampler", e.sampler);
            m.put("--eval-guidance", Float.toString(e.guidance));
            m.put("--eval-reference", Integer.toString(e.referenceCount));
            return m;
        }

        @Override public String defaultValue(CommandLine.Model.ArgSpec arg) {
            return arg instanceof CommandLine.Model.OptionSpec o ? MAP.get(o.longestName()) : null;
        }
    }

    /** Options that may change when resuming; all others come from the checkpoint. */
    private static final List<String> RESUMABLE = resumable();

    private static List<String> resumable() {
        List<String> l = new java.util.ArrayList<>(TrainConfig.RESUMABLE.keySet());   // settings of the run
        l.addAll(List.of("--out", "--resume", "--device", "--gpu", "--tensorboard", "--eval-cache-dir", "--verbose",
                "--bucket-mb"));   // of this process
        l.addAll(DistributedOptions.NAMES);
        l.addAll(BackendOptions.NAMES);
        return List.copyOf(l);
    }

    @Override public Integer call() throws Exception {
        backendOptions.validate();
        if (!(bucketMb > 0 && bucketMb <= 4096)) throw new UserException("--bucket-mb must be in (0, 4096], not " + bucketMb);
        return distributedOptions.run(spec, this::train);
    }

    private int train(World world) throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        Path runDir = out != null ? out : Path.of("runs", data + "-" + model);
        Path resumeFrom = null;
        CommandLine.ParseResult pr = spec.commandLine().getParseResult();
        if (resume != null) {
            for (CommandLine.Model.OptionSpec o : pr.matchedOptions()) {
                if (!RESUMABLE.contains(o.longestName())) {
                    throw new UserException(o.longestName() + " cannot change when resuming (the checkpoint's settings are used)");
                }
            }
            Path from = resume.isEmpty() ? runDir : Path.of(resume);
            resumeFrom = Checkpoint.resolve(from);
            if (out == null) runDir = resumeFrom.getParent().getParent();
        } else if (Files.isDirectory(runDir.resolve(Checkpoint.DIR))
                && AtomicDirectory.latest(runDir.resolve(Checkpoint.DIR)).isPresent()) {
            throw new UserException("run folder " + runDir + " already has checkpoints: add --resume to continue it, or choose another --out");
        }
        // a fresh run takes every option; a resumed run keeps its checkpoint's settings, and only the resumable
        // options given on this command line change them (so --steps, --sample-count, ... not repeated stay as the
        // run was started)
        TrainConfig options = configFromOptions(), cfg = options;
        if (resumeFrom != null) {
            List<String> given = new java.util.ArrayList<>();
            TrainConfig.RESUMABLE.forEach((option, field) -> { if (pr.hasMatchedOption(option)) given.add(field); });
            cfg = Checkpoint.readInfo(resumeFrom).config().withSettingsOf(options, given);
        }

        try {
            cfg.validate(true);
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
        // each rank takes the GPU of its node-local rank (modulo the GPUs it sees: under Slurm's --gpus-per-task each
        // sees one), unless --gpu says otherwise
        Backends.Choice choice = backendOptions.select(device, DistributedOptions.gpu(world, gpu, pr.hasMatchedOption("--gpu")));
        // rank 0 reports; the others only their errors
        PrintWriter o = DistributedOptions.out(world, spec);
        o.println("backend: " + choice.reason());
        o.println("precision: " + Precision.parse(cfg.precision).reason(choice.backend()));
        if (choice.backend().name().equals("cpu") && !ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()) {
            o.println("hint: java --add-modules jdk.incubator.vector -jar ... makes the CPU backend several times faster");
        }
        o.flush();
        if (world.distributed()) {
            String mpi = world.usesMpi() ? io.github.diffusion4j.dist.Mpi.libraryVersion() : "no MPI: --distributed self";
            o.printf(java.util.Locale.ROOT, "data-parallel: %d ranks (%s), %d of the %d images of a batch on each; "
                    + "gradient buckets of %.3g MB%n", world.size(), mpi == null ? "MPI" : mpi.split(",")[0].trim(),
                    cfg.batchSize / world.size(), cfg.batchSize, bucketMb);
        }
        try (Trainer trainer = new Trainer(cfg, runDir, choice.backend(), resumeFrom, world, (long) (bucketMb * (1 << 20)));
             TensorBoardWriter tb = tensorboard == null || !world.isRoot() ? null
                     : new TensorBoardWriter(tensorboard.isEmpty() ? runDir.resolve("tensorboard") : Path.of(tensorboard))) {
            if (tb != null) o.println("tensorboard: " + tb.file());
            trainer.tensorboard(tb);
            if (evalCacheDir != null) trainer.evaluationCache(new io.github.diffusion4j.eval.ReferenceCache(evalCacheDir));
            return runWithSignals(trainer, o, err);
        }
    }

    private int runWithSignals(Trainer trainer, PrintWriter o, PrintWriter err) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            trainer.requestStop();
            try {
                done.await(120, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "diffusion4j-sigint");
        Runtime.getRuntime().addShutdownHook(hook);
        ProgressBar bar = new ProgressBar(o, System.console() != null);
        try {
            trainer.run(bar);
            return 0;
        } finally {
            o.flush();
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the JVM is exiting because of Ctrl-C: the hook finishes once we are done
            }
        }
    }

    TrainConfig configFromOptions() {
        if (!Datasets.NAMES.contains(data)) {
            throw new UserException("unknown dataset '" + data + "' (choose from " + String.join(", ", Datasets.NAMES) + ")");
        }
        if (!Presets.NAMES.contains(model)) {
            throw new UserException("unknown model preset '" + model + "' (choose from " + String.join(", ", Presets.NAMES) + ")");
        }
        if (!lrSchedule.equals("cosine") && !lrSchedule.equals("constant")) {
            throw new UserException("--lr-schedule must be constant or cosine, not '" + lrSchedule + "'");
        }
        if (Boolean.TRUE.equals(flip) && !Datasets.mirrorable(data)) {
            throw new UserException("--flip: " + data + " is never flipped (a mirrored digit is not a digit)");
        }
        TrainConfig c = new TrainConfig();
        c.data = data;
        c.dataDir = dataDir == null ? null : dataDir.toAbsolutePath().toString();
        c.imageSize = imageSize;
        c.model = model;
        c.classes = classes;
        c.batchSize = batchSize;
        c.gradAccum = gradAccum;
        c.lr = lr;
        c.warmup = warmup;
        c.cosineDecay = lrSchedule.equals("cosine");
        c.minLr = Math.min(c.minLr, lr);
        c.weightDecay = weightDecay;
        c.gradClip = gradClip;
        c.emaDecay = emaDecay;
        c.schedule = BetaSchedule.parse(schedule).cliName();
        c.timesteps = timesteps;
        c.prediction = PredictionType.fromName(prediction).diffusersName();
        c.minSnrGamma = minSnr;
        c.objective = objective;
        c.flowTimesteps = flowTimesteps;
        c.flowShift = flowShift;
        c.learnSigma = learnSigma;
        c.vlbWeight = vlbWeight;
        c.edmSigmaData = sigmaData;
        c.edmPMean = pMean;
        c.edmPStd = pStd;
        CommandLine.ParseResult given = spec.commandLine().getParseResult();
        if (!TrainConfig.OBJECTIVES.contains(c.objective)) {
            throw new UserException("unknown --objective '" + c.objective + "' (choose " + String.join(", ", TrainConfig.OBJECTIVES) + ")");
        }
        for (String o : List.of("--flow-timesteps", "--flow-shift")) {
            if (!c.flow() && given.hasMatchedOption(o)) throw new UserException(o + " applies to --objective flow");
        }
        if (given.hasMatchedOption("--vlb-weight") && !learnSigma) throw new UserException("--vlb-weight needs --learn-sigma");
        if (learnSigma && !c.objective().equals(io.github.diffusion4j.diffusion.Objective.DDPM)) {
            throw new UserException("--learn-sigma applies to --objective ddpm");
        }
        for (String o : List.of("--sigma-data", "--p-mean", "--p-std")) {
            if (!c.edm() && given.hasMatchedOption(o)) throw new UserException(o + " applies to --objective edm");
        }
        if (c.flow() || c.edm()) {
            if (given.hasMatchedOption("--prediction")) {
                throw new UserException("--prediction applies to --objective ddpm (" + (c.flow()
                        ? "flow matching predicts the velocity eps - x0" : "edm's network predicts its preconditioned target") + ")");
            }
            // the ddpm defaults that do not apply: no min-SNR weighting, the objective's sampler for evaluations
            if (!given.hasMatchedOption("--min-snr")) c.minSnrGamma = 0;
        }
        c.offsetNoise = offsetNoise;
        c.cfgDropout = cfgDropout;
        c.dropout = dropout == null ? -1f : dropout;
        c.baseChannels = baseChannels == null ? -1 : baseChannels;
        c.resBlocks = resBlocks == null ? -1 : resBlocks;
        c.flip = flip;
        c.seed = seed;
        c.steps = steps;
        c.logEvery = logEvery;
        c.sampleEvery = sampleEvery;
        c.sampleCount = sampleCount;
        c.sampleSteps = sampleSteps;
        c.checkpointEvery = checkpointEvery;
        c.keepCheckpoints = keep;
        try {
            c.precision = Precision.parse(precision).cliName();
        } catch (IllegalArgumentException e) {
            throw new UserException(e.getMessage());
        }
        CommandLine.ParseResult pr = spec.commandLine().getParseResult();
        if (evalEvery != null) {
            c.eval = new TrainConfig.Eval();
            c.eval.every = evalEvery;
            c.eval.count = evalCount;
            c.eval.sampler = !c.objective().samplers().contains("dpmpp") && !pr.hasMatchedOption("--eval-sampler")
                    ? c.objective().defaultSampler() : evalSampler;
            c.eval.steps = evalSteps == null ? 0 : evalSteps;
            if (evalSteps != null && evalSteps < 1) throw new UserException("--eval-steps must be >= 1, not " + evalSteps);
            c.eval.guidance = evalGuidance;
            c.eval.referenceCount = evalReference;
        } else {
            for (String o : List.of("--eval-count", "--eval-sampler", "--eval-steps", "--eval-guidance", "--eval-reference")) {
                if (pr.hasMatchedOption(o)) throw new UserException(o + " needs --eval-every");
            }
        }
        return c;
    }

    /** A one-line progress bar on terminals; plain periodic lines otherwise (logs, CI, pipes). */
    static final class ProgressBar implements Trainer.Listener {
        private final PrintWriter out;
        private final boolean tty;
        private long start, firstStep;
        private long t0;
        private boolean barShown;
        private long lastPlain;
        private String runDir;

        ProgressBar(PrintWriter out, boolean tty) {
            this.out = out;
            this.tty = tty;
        }

        @Override public void started(Trainer t, long startStep) {
            start = startStep;
            firstStep = -1;
            runDir = t.runDir().toString();
            t0 = System.nanoTime();
            out.printf(Locale.ROOT, "%s: %s (%,d parameters) on %s %dx%dx%d, %s; run folder %s%n",
                    startStep > 0 ? "resuming at step " + startStep : "training", t.model().name(),
                    t.model().params().count(), t.dataset().name(), t.config().channels, t.config().imageSize,
                    t.config().imageSize, t.dataset().size() + " images", runDir);
            out.flush();
        }

        @Override public void step(Trainer.Status s) {
            long now = System.nanoTime();
            if (firstStep < 0) {
                firstStep = s.step();
                t0 = now;   // the first step includes warm-up (JIT, allocation): time from its end
            }
            double done = s.step() - firstStep;
            double perStep = done > 0 ? (now - t0) / 1e9 / done : Double.NaN;
            String itPerSec = Double.isFinite(perStep) ? String.format(Locale.ROOT, "%.2f", 1 / perStep) : "--";   // unknown after the first step
            String eta = Double.isFinite(perStep) ? duration((s.totalSteps() - s.step()) * perStep) : "--:--";
            if (tty) {
                int width = 24;
                int filled = (int) (width * s.step() / (double) s.totalSteps());
                out.printf(Locale.ROOT, "\rstep %d/%d [%s%s] loss %.4f | %s it/s | ETA %s   ", s.step(), s.totalSteps(),
                        "#".repeat(filled), ".".repeat(width - filled), s.loss(), itPerSec, eta);
                barShown = true;
                out.flush();
            } else if (now - lastPlain > 10_000_000_000L || s.step() == s.totalSteps() || s.step() == start + 1) {
                lastPlain = now;
                out.printf(Locale.ROOT, "step %d/%d loss %.4f lr %.2e grad-norm %.3f %s it/s ETA %s%n", s.step(),
                        s.totalSteps(), s.loss(), s.lr(), s.gradNorm(), itPerSec, eta);
                out.flush();
            }
        }

        @Override public void message(String line) {
            if (barShown) {
                out.print("\r\033[K");
                barShown = false;
            }
            out.println(line);
            out.flush();
        }

        @Override public void finished(Trainer t, long step, boolean interrupted) {
            message(interrupted
                    ? "interrupted at step " + step + "; continue with: train --resume --out " + runDir
                    : String.format(Locale.ROOT, "done: %d steps in %s; samples in %s/samples; sample more with: sample --run %s",
                    step, duration((System.nanoTime() - t0) / 1e9), runDir, runDir));
        }

        static String duration(double seconds) {
            long s = Math.round(seconds);
            return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                    : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
        }
    }
}
