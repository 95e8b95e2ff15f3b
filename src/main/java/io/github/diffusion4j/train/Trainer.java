package io.github.diffusion4j.train;

import io.github.diffusion4j.data.DataLoader;
import io.github.diffusion4j.data.Dataset;
import io.github.diffusion4j.data.Datasets;
import io.github.diffusion4j.diffusion.BetaSchedule;
import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.PredictionType;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.diffusion.TimestepSpacing;
import io.github.diffusion4j.diffusion.TrainingObjective;
import io.github.diffusion4j.dist.BatchSlice;
import io.github.diffusion4j.dist.GradientBuckets;
import io.github.diffusion4j.dist.Watchdog;
import io.github.diffusion4j.dist.World;
import io.github.diffusion4j.io.AtomicDirectory;
import io.github.diffusion4j.io.RunLock;
import io.github.diffusion4j.io.TensorBoardWriter;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Precision;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The training loop: data → q(x_t | x_0) → U-Net → weighted MSE → backward → global-norm clipping → AdamW → EMA,
 * with metrics, sample grids, loss plots and atomic checkpoints along the way. Every random draw of step s is a
 * function of (seed, s), and the data loader's position is saved, so a resumed run continues exactly.
 *
 * <p><b>Data-parallel.</b> In a {@link World} of N ranks every rank runs this loop on its {@link BatchSlice} of each
 * global batch (the same draws one process makes for those samples); the gradients are summed over the ranks in
 * buckets while the backward pass runs ({@link GradientBuckets}) and divided by N with the micro-batch count, so
 * the global-norm clipping, AdamW and the EMA see the global batch's mean gradient and stay identical on every
 * rank. Rank 0 alone writes the run folder (checkpoints, logs, grids, evaluations); the logged losses are the
 * global batch's. A stop request is agreed on by all ranks before a step is queued, so they stop at the same
 * step; every wait on the others is bounded by the world's watchdog.
 */
public final class Trainer implements AutoCloseable {
    /** Where a run stands; given to the progress listener after every update. */
    public record Status(long step, long totalSteps, double loss, float lr, double gradNorm, float emaDecay,
                         double imagesPerSecond, double elapsedSeconds, boolean skipped) {}

    /** Receives progress and messages (the CLI draws the progress bar from it). */
    public interface Listener {
        default void started(Trainer t, long startStep) {}

        default void step(Status s) {}

        default void message(String line) {}

        default void finished(Trainer t, long step, boolean interrupted) {}
    }

    private final TrainConfig cfg;
    private final Path runDir;
    private final Backend backend;
    private final Dataset dataset;
    private final Model model;
    private final AdamW adam;
    private final Ema ema;
    private final LrSchedule lrSchedule;
    private final TrainingObjective objective;
    private final TrainingStep stepper;
    private final DataLoader loader;
    private final Previewer previewer;
    private final MetricsLog metrics;
    /** The micro-batch on the device: x0, then (class-conditional runs) the labels; x0 and labels are views. */
    private final Tensor batchOnDevice, x0, labels;
    private final World world;
    private final BatchSlice slice;          // null: the whole batch (one process)
    private final GradientBuckets buckets;   // null: no all-reduce
    private final AtomicBoolean stop = new AtomicBoolean();
    private long step;
    private Path lastCheckpoint;
    private final RunLock lock;
    private TensorBoardWriter tensorboard;   // null: off; owned (closed) by the caller
    private io.github.diffusion4j.eval.ReferenceCache evalCache = io.github.diffusion4j.eval.ReferenceCache.standard();

    /** Where --eval-every keeps the reference features (default: {@link io.github.diffusion4j.eval.ReferenceCache#standard}). */
    public void evaluationCache(io.github.diffusion4j.eval.ReferenceCache cache) { this.evalCache = cache; }
    private io.github.diffusion4j.eval.TrainingEvaluator evaluator;   // --eval-every: made by run(), closed by close()

    /**
     * Also logs every metrics row (as scalars {@code train/<name>}) and every sample grid (image {@code samples}) to
     * TensorBoard. On a resumed run a session start hides, in TensorBoard, what a stopped run logged after the
     * checkpoint it resumes from.
     */
    public void tensorboard(TensorBoardWriter tb) throws IOException {
        this.tensorboard = tb;
        if (tb != null) tb.sessionStart(step + 1);
    }

    /**
     * Sets up a run in {@code runDir}: fresh, or resumed from {@code resumeFrom} (a checkpoint folder; the config
     * stored there wins, except the total number of steps, which {@code cfg.steps} may extend).
     */
    public Trainer(TrainConfig cfg, Path runDir, Backend backend, Path resumeFrom) throws IOException {
        this(cfg, runDir, backend, resumeFrom, World.single(), GradientBuckets.DEFAULT_CAP_BYTES);
    }

    /**
     * A rank of a data-parallel run over {@code world} (every rank constructs its trainer with the same arguments),
     * with gradient buckets of at most {@code bucketBytes}.
     */
    public Trainer(TrainConfig cfg, Path runDir, Backend backend, Path resumeFrom, World world, long bucketBytes)
            throws IOException {
        this.world = world;
        // one trainer per run folder (rank 0's); then what a killed one left half-written can go
        this.lock = world.isRoot() ? RunLock.acquire(runDir) : null;
        try {
            if (world.isRoot()) AtomicDirectory.cleanStale(runDir.resolve(Checkpoint.DIR));
            Checkpoint.Info resume = resumeFrom == null ? null : Checkpoint.readInfo(resumeFrom);
            if (resume != null) {
                // the checkpoint's settings, except the resumable ones (precision too: the checkpoint holds FP32
                // masters), and never fewer steps than it has done
                cfg = resume.config().withSettingsOf(cfg, TrainConfig.RESUMABLE.values());
                cfg.steps = Math.max(cfg.steps, resume.step());
            }
            cfg.validate();
            this.slice = world.distributed() ? world.slice(cfg.batchSize) : null;
            this.cfg = cfg;
            this.runDir = runDir;
            this.backend = backend;
            this.dataset = Datasets.open(cfg.data, cfg.dataDir == null ? null : Path.of(cfg.dataDir), cfg.imageSize);
            cfg.channels = dataset.channels();
            int classes = cfg.classes ? dataset.numClasses() : 0;
            if (cfg.classes && classes == 0) {
                throw new IllegalArgumentException("--classes needs a labelled dataset, and " + cfg.data + " has no labels");
            }
            cfg.numClasses = classes;
            if (cfg.flip == null) cfg.flip = Datasets.flipByDefault(cfg.data);   // recorded: a resume flips as this run did
            this.model = resume != null ? Checkpoint.buildModel(resume)
                    : cfg.createModel(classes);
            model.params().allocate(backend, cfg.seed);
            cfg.precision = Precision.parse(cfg.precision).apply(model).cliName();
            this.adam = new AdamW(model.params(), new AdamW.Config(0.9f, 0.999f, 1e-8f, cfg.weightDecay));
            this.ema = new Ema(model.params(), cfg.emaDecay, Ema.Warmup.valueOf(cfg.emaWarmup.toUpperCase(Locale.ROOT)));
            this.lrSchedule = new LrSchedule(cfg.lr, cfg.warmup, cfg.cosineDecay, cfg.steps, Math.min(cfg.minLr, cfg.lr));
            NoiseSchedule schedule = NoiseSchedule.of(schedulerConfig(cfg));
            TrainingObjective.Builder ob = TrainingObjective.builder(schedule).predictionType(PredictionType.fromName(cfg.prediction));
            if (cfg.minSnrGamma > 0) ob.minSnrWeighting(cfg.minSnrGamma);
            if (cfg.flow()) ob.flowMatching(cfg.flowTimesteps.equals("logit-normal"), cfg.flowShift);
            if (cfg.learnSigma) ob.learnSigma(cfg.vlbWeight);
            if (cfg.edm()) ob.edm(io.github.diffusion4j.diffusion.EdmPreconditioning.of(cfg.edmSigmaData), cfg.edmPMean, cfg.edmPStd);
            if (cfg.offsetNoise > 0) ob.offsetNoise(cfg.offsetNoise);
            if (classes > 0 && cfg.cfgDropout > 0) ob.labelDropout(cfg.cfgDropout, classes);
            this.objective = ob.build();
            this.stepper = new TrainingStep(model, objective, adam, ema, cfg.seed, slice);
            // a class-conditional run's labels ride after the images (as floats, converted on the loader's thread):
            // one host-to-device copy per micro-batch
            DataLoader.Options opts = DataLoader.Options.DEFAULT.withFlip(cfg.flip && Datasets.mirrorable(cfg.data))
                    .withLabelsAfterImages(classes > 0);
            this.loader = new DataLoader(dataset, cfg.batchSize, cfg.seed, opts, slice);
            int local = slice == null ? cfg.batchSize : slice.count();
            Shape images = Shape.of(local, cfg.channels, cfg.imageSize, cfg.imageSize);
            this.batchOnDevice = backend.empty(Shape.of(Math.toIntExact(images.numel() + (classes > 0 ? local : 0))));
            this.x0 = batchOnDevice.view(0, images);
            this.labels = classes > 0 ? batchOnDevice.view(images.numel(), Shape.of(local)) : null;
            this.previewer = cfg.sampleCount > 0 && world.isRoot() ? new Previewer(cfg, model, schedulerConfig(cfg)) : null;
            if (resume != null) {
                Checkpoint.restore(resume, model, ema, adam);
                step = resume.step();
                loader.seek(resume.position());
                lastCheckpoint = resume.dir();
            }
            if (world.isRoot()) Files.createDirectories(runDir);
            this.metrics = world.isRoot() ? new MetricsLog(runDir, step) : null;
            this.buckets = world.distributed()
                    ? new GradientBuckets(model.params(), backend.allReduce(world), bucketBytes, GradientBuckets.DEFAULT_FIRST_BYTES)
                    : null;
            if (world.distributed()) checkSameStart(cfg);
        } catch (IOException | RuntimeException e) {
            if (lock != null) lock.close();
            throw e;
        }
    }

    /**
     * Every rank must start from the same settings and weights (they would silently train different models
     * otherwise): a hash of both, compared over the ranks.
     */
    private void checkSameStart(TrainConfig cfg) {
        long h = java.util.Arrays.hashCode(model.params().values().toArray());
        try {
            h = 31 * h + TrainConfig.json().writeValueAsString(cfg).hashCode();
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot write the settings as JSON", e);
        }
        h = 31 * h + step;
        if (!sameOnEveryRank(h)) {
            throw new IllegalArgumentException("the ranks start from different settings, weights or steps "
                    + "(every rank must be given the same command line and see the same run folder)");
        }
    }

    /**
     * Before a checkpoint of a data-parallel run: the ranks' weights must be bitwise equal (the all-reduce gives every
     * rank the same sums, so they update alike); a difference is a fault, reported rather than saved over.
     */
    private void checkSameWeights() {
        if (!sameOnEveryRank(java.util.Arrays.hashCode(model.params().values().toArray()))) {
            throw new io.github.diffusion4j.dist.DistException("the ranks' weights differ at step " + step
                    + " (the gradient all-reduce did not give every rank the same sums); not saving a checkpoint");
        }
    }

    /** Whether every rank has this hash (its low 32 bits, exact in a double: compared by their min and max). */
    private boolean sameOnEveryRank(long hash) {
        double v = hash & 0xFFFFFFFFL;
        return world.allReduceMin(v)[0] == world.allReduceMax(v)[0];
    }

    public World world() { return world; }

    /** The gradient buckets of a data-parallel run (null in one process). */
    public GradientBuckets buckets() { return buckets; }

    /**
     * The diffusion settings of a run as a scheduler configuration, for sampling from it. Timesteps are spaced
     * "trailing" (the first step at t = T - 1, where the model was trained on nearly pure noise, as Lin et al. 2023
     * recommend) rather than diffusers' "leading" default (first step at T - T/n, where the model expects some
     * signal that pure noise lacks): on a 3000-step epsilon-prediction shapes run (64 DDPM-100 samples) leading
     * gave 54.7 % valid shapes, trailing 67.2 %, linspace 65.6 %.
     */
    public static SchedulerConfig schedulerConfig(TrainConfig cfg) {
        return SchedulerConfig.builder()
                .numTrainTimesteps(cfg.timesteps)
                .betaSchedule(BetaSchedule.parse(cfg.schedule))
                .predictionType(PredictionType.fromName(cfg.prediction))
                .timestepSpacing(TimestepSpacing.TRAILING)
                .varianceType(cfg.learnSigma ? io.github.diffusion4j.diffusion.VarianceType.LEARNED_RANGE
                        : io.github.diffusion4j.diffusion.VarianceType.FIXED_SMALL)
                .build();
    }

    public TrainConfig config() { return cfg; }

    public Model model() { return model; }

    public Ema ema() { return ema; }

    public Dataset dataset() { return dataset; }

    public long step() { return step; }

    public Path runDir() { return runDir; }

    public Path lastCheckpoint() { return lastCheckpoint; }

    /**
     * Asks the loop to stop (and write a checkpoint) after the step in flight: the trainer queues step s + 1 before
     * it reads and reports step s (so the device never waits for the host), so a stop asked while step s is reported
     * ends the run after step s + 1, unless step s ended with a checkpoint, a sample grid or an evaluation (nothing
     * is queued ahead of those). Safe from any thread.
     */
    public void requestStop() { stop.set(true); }

    /** Trains until {@code cfg.steps}, a stop request, or too many non-finite steps. Returns the last step. */
    public long run(Listener listener) throws IOException {
        listener.started(this, step);
        if (cfg.eval != null && evaluator == null && world.isRoot()) {
            evaluator = new io.github.diffusion4j.eval.TrainingEvaluator(cfg, model, schedulerConfig(cfg), runDir, step,
                    evalCache, listener::message);
        }
        long t0 = System.nanoTime();
        long imagesSinceLog = 0;
        long tLog = t0;
        int bad = 0;
        double imagesPerSecond = 0;
        boolean interrupted = false;
        long startStep = step;
        StepResult queued = null;
        while (step < cfg.steps) {
            // in a data-parallel run the ranks agree on stopping before anything is queued (at the start and after a
            // step that ended with rank 0's host work, such as a checkpoint or an evaluation, the others wait for it
            // without a bound)
            boolean agreedStop = agreeOnStop(step == startStep || endsWithHostWork(step));
            if (agreedStop && queued == null) {
                interrupted = true;
                break;
            }
            long next = step + 1;
            StepResult r = queued != null ? queued : trainStep(next);
            // the next step is queued before this one's results are read, so the device never waits for the host
            // in between; not when this step ends with host work on its weights (checkpoint, grid, end of the run)
            queued = !stopping(agreedStop) && !endsWithHostWork(next) ? trainStep(next + 1) : null;
            if (world.distributed()) {
                // the global batch's losses (a collective, at the same point on every rank), the wait for this
                // step's results bounded by the watchdog
                try (Watchdog.Guard g = world.watchdog().guard("step " + next)) {
                    r.reduceOver(world);
                }
            }
            imagesSinceLog += (long) cfg.batchSize * cfg.gradAccum;
            if (r.skipped()) {
                bad++;
                listener.message(String.format(Locale.ROOT, "step %d: non-finite %s, update skipped (%d in a row)", next,
                        Double.isFinite(r.loss()) ? "gradient norm" : "loss", bad));
                if (bad >= cfg.maxBadSteps) {
                    step = next;
                    if (metrics != null) metrics.flush();
                    throw new TrainingDivergedException(String.format(Locale.ROOT,
                            "training diverged: %d consecutive non-finite steps up to step %d; the last good checkpoint is %s",
                            bad, next, lastCheckpoint == null ? "none (no checkpoint was written yet)" : lastCheckpoint));
                }
            } else {
                bad = 0;
            }
            step = next;
            // --eval-every: the EMA weights of this step (nothing is queued ahead of an eval step), merged into its row
            Map<String, Object> evalRow = evaluator != null && bad == 0 && !stopping(agreedStop) && evaluator.due(step)
                    ? evaluator.evaluate(step, ema, stop::get) : null;
            if (evalRow != null) tLog += evaluator.lastNanos();   // not training throughput
            double elapsed = (System.nanoTime() - t0) / 1e9;
            if (metrics != null && (step % cfg.logEvery == 0 || step == cfg.steps || evalRow != null)) {
                long now = System.nanoTime();
                imagesPerSecond = imagesSinceLog / Math.max(1e-9, (now - tLog) / 1e9);
                tLog = now;
                imagesSinceLog = 0;
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("step", step);
                row.putAll(r.metrics());
                row.put("lr", r.lr);
                row.put("grad_norm", r.gradNorm());
                row.put("ema_decay", r.emaDecay());
                row.put("images_per_s", imagesPerSecond);
                row.put("elapsed_s", elapsed);
                if (evalRow != null) row.putAll(evalRow);
                metrics.append(row);
                if (tensorboard != null) {
                    Map<String, Object> scalars = new LinkedHashMap<>(row);
                    scalars.remove("step");
                    scalars.remove("elapsed_s");
                    tensorboard.scalars("train/", step, scalars);
                    tensorboard.flush();
                }
            }
            listener.step(new Status(step, cfg.steps, r.loss(), r.lr, r.gradNorm(), r.emaDecay(), imagesPerSecond, elapsed, r.skipped()));
            if (buckets != null && step == startStep + 1) {
                listener.message(String.format(Locale.ROOT, "gradient all-reduce: %d buckets, %d of them started during "
                        + "the backward pass", buckets.buckets().size(), buckets.startedEarly()));
            }
            boolean last = step == cfg.steps;
            if (previewer != null && !stopping(agreedStop) && (cfg.sampleEvery > 0 && step % cfg.sampleEvery == 0 || last)) {
                try {
                    Path png = previewer.write(runDir, step, ema, backend);
                    if (tensorboard != null) {
                        tensorboard.image("samples", step, png);
                        tensorboard.flush();
                    }
                    if (metrics != null) metrics.plot(runDir.resolve("loss.png"));
                    listener.message("samples: " + png);
                } catch (IOException | RuntimeException e) {
                    if (!stopping(agreedStop)) throw e;   // while stopping (Ctrl-C) the checkpoint matters more than the grid
                }
            }
            // not inside a run of non-finite steps: the divergence message names the last checkpoint as a good one
            boolean checkpointDue = bad == 0 && (cfg.checkpointEvery > 0 && step % cfg.checkpointEvery == 0 || last);
            if (checkpointDue && world.distributed()) checkSameWeights();
            if (world.isRoot() && checkpointDue) {
                lastCheckpoint = saveCheckpoint();
                listener.message("checkpoint: " + lastCheckpoint
                        + (world.distributed() ? " (weights identical on the " + world.size() + " ranks)" : ""));
            }
            if (evalRow != null && evaluator.newBest()) {   // checkpoints/best needs this step's checkpoint
                if (lastCheckpoint == null || !lastCheckpoint.endsWith(Checkpoint.folderName(step))) {
                    lastCheckpoint = saveCheckpoint();
                    listener.message("checkpoint: " + lastCheckpoint);
                }
                listener.message("best FD so far: " + evaluator.keepBest(lastCheckpoint, step));
            }
        }
        if (world.isRoot() && interrupted && step > startStep && (lastCheckpoint == null || !lastCheckpoint.endsWith(Checkpoint.folderName(step)))) {
            lastCheckpoint = saveCheckpoint();
            listener.message("checkpoint: " + lastCheckpoint);
        }
        if (metrics != null) {
            metrics.flush();
            if (step > startStep) metrics.plot(runDir.resolve("loss.png"));
        }
        // no rank leaves before rank 0 has written its last checkpoint: a launcher ends the job when one rank exits
        // early (with SIGTERM's code, after a stop), which could cut rank 0 off
        world.barrierUnbounded();
        listener.finished(this, step, interrupted);
        return step;
    }

    /**
     * Whether to stop before queueing the next step: this process's stop request, or in a data-parallel run any
     * rank's (a collective; {@code unbounded}: the others may still be busy with rank 0's host work).
     */
    private boolean agreeOnStop(boolean unbounded) {
        boolean mine = stop.get();
        if (!world.distributed()) return mine;
        return world.allReduceMax(unbounded, mine ? 1 : 0)[0] > 0;
    }

    /** The stop decision for the rest of an iteration: agreed in a data-parallel run, live in one process. */
    private boolean stopping(boolean agreed) { return world.distributed() ? agreed : stop.get(); }

    private Path saveCheckpoint() throws IOException {
        metrics.flush();   // the log reaches the disk up to the checkpoint, whatever happens to the checkpoint
        return Checkpoint.save(runDir, cfg, model, ema, adam, step, loader.position(), dataset);
    }

    /**
     * A queued optimizer update: its loss, metrics and what the update did are read from the device when first
     * asked for (the host waits then, not before).
     */
    private static final class StepResult {
        private final java.util.List<TrainingObjective.LossResult> losses;
        private final TrainingStep.Update update;
        final float lr;
        private Map<String, Double> metrics;
        private double loss;

        StepResult(java.util.List<TrainingObjective.LossResult> losses, float lr, TrainingStep.Update update) {
            this.losses = losses;
            this.lr = lr;
            this.update = update;
        }

        /**
         * Makes the metrics those of the global batch: sums (of the losses and the per-quartile losses, mses and
         * counts) over the ranks of a data-parallel run, whose slices have equal sizes. A collective.
         */
        void reduceOver(World world) {
            int k = losses.size();
            double[] v = new double[k * 14];
            for (int m = 0; m < k; m++) {
                TrainingObjective.LossResult r = losses.get(m);
                int n = r.perSampleMse().length, o = 14 * m;
                v[o] = r.loss() * n;
                for (float x : r.perSampleMse()) v[o + 1] += x;
                double[] ql = r.quartileLoss(), qm = r.quartileMse();
                int[] qc = r.quartileCount();
                for (int q = 0; q < 4; q++) {
                    v[o + 2 + q] = qc[q] == 0 ? 0 : ql[q] * qc[q];
                    v[o + 6 + q] = qc[q] == 0 ? 0 : qm[q] * qc[q];
                    v[o + 10 + q] = qc[q];
                }
            }
            world.allReduceSum(v);
            Map<String, Double> sums = new LinkedHashMap<>();
            double l = 0;
            double[] ql = new double[4], qm = new double[4], qc = new double[4];
            double lossSum = 0, mseSum = 0, count = 0;
            for (int m = 0; m < k; m++) {
                int o = 14 * m;
                double n = 0;
                for (int q = 0; q < 4; q++) {
                    n += v[o + 10 + q];
                    ql[q] += v[o + 2 + q] / k;
                    qm[q] += v[o + 6 + q] / k;
                    qc[q] += v[o + 10 + q] / k;
                }
                lossSum += v[o] / n / k;
                mseSum += v[o + 1] / n / k;
            }
            l = lossSum;
            sums.put("loss", lossSum);
            sums.put("mse", mseSum);
            for (int q = 0; q < 4; q++) if (qc[q] > 0) sums.put("loss_q" + q, ql[q] / qc[q]);
            for (int q = 0; q < 4; q++) if (qc[q] > 0) sums.put("mse_q" + q, qm[q] / qc[q]);
            loss = l;
            metrics = sums;
        }

        /** The loss averaged over the micro-batches. */
        double loss() {
            metrics();
            return loss;
        }

        Map<String, Double> metrics() {
            if (metrics == null) {
                Map<String, Double> sums = new LinkedHashMap<>();
                double l = 0;
                int k = losses.size();
                for (TrainingObjective.LossResult r : losses) {
                    l += r.loss() / k;
                    r.metrics().forEach((key, v) -> sums.merge(key, v / k, Double::sum));
                }
                loss = l;
                metrics = sums;
            }
            return metrics;
        }

        double gradNorm() { return update.gradNorm(); }

        float emaDecay() { return update.emaDecay(); }

        boolean skipped() { return update.skipped(); }
    }

    /**
     * Whether step {@code s} must be finished, its results read, before the next one is queued: it writes a
     * checkpoint or a sample grid or is evaluated ({@code --eval-every}), which need the weights of step s, or ends
     * the run.
     */
    private boolean endsWithHostWork(long s) {
        return s >= cfg.steps || cfg.checkpointEvery > 0 && s % cfg.checkpointEvery == 0
                || cfg.sampleCount > 0 && cfg.sampleEvery > 0 && s % cfg.sampleEvery == 0
                || cfg.eval != null && s % cfg.eval.every == 0;
    }

    /** Queues one optimizer update (gradAccum micro-batches), numbered {@code s} from 1; nothing waits for the device. */
    private StepResult trainStep(long s) {
        model.params().zeroGrad();
        java.util.List<TrainingObjective.LossResult> losses = new java.util.ArrayList<>(cfg.gradAccum);
        for (int micro = 0; micro < cfg.gradAccum; micro++) {
            DataLoader.Batch batch = loader.next();
            backend.copyFromHost(batchOnDevice, batch.images(), 0);   // the images, then the labels (if any)
            boolean lastMicro = micro == cfg.gradAccum - 1;
            if (buckets != null && lastMicro) buckets.arm();
            losses.add(stepper.forwardBackward(x0, labels, (s - 1) * cfg.gradAccum + micro));
            if (buckets != null && lastMicro) buckets.finish("step " + s + ": gradient all-reduce");
        }
        float lrNow = lrSchedule.at(s);
        // the gradients are sums over the micro-batches and the ranks of their slices' means: the update divides
        int divisor = cfg.gradAccum * (buckets == null ? 1 : world.size());
        return new StepResult(losses, lrNow, stepper.update(lrNow, cfg.gradClip, divisor));
    }

    @Override public void close() {
        if (buckets != null) buckets.close();
        try {
            if (lock != null) lock.close();
        } catch (IOException ignored) {
            // the OS releases the lock with the process anyway
        }
        loader.close();
        objective.close();
        if (previewer != null) previewer.close();
        if (evaluator != null) evaluator.close();
        if (metrics != null) metrics.close();
        ema.close();
        adam.close();
        model.params().close();
        batchOnDevice.close();
    }
}
