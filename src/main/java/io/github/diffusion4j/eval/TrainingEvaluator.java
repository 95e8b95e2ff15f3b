package io.github.diffusion4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.data.Dataset;
import io.github.diffusion4j.data.Datasets;
import io.github.diffusion4j.diffusion.Scheduler;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.io.AtomicDirectory;
import io.github.diffusion4j.io.AtomicFiles;
import io.github.diffusion4j.io.Plot;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.train.Checkpoint;
import io.github.diffusion4j.train.Ema;
import io.github.diffusion4j.train.TrainConfig;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * {@code train --eval-every N}: every N steps and at the end, {@code --eval-count} images sampled from the EMA
 * weights are scored against the cached reference of the run's dataset (Fashion-MNIST test split) in the features of
 * the committed feature net, on the CPU (the reference numbers).
 *
 * <p>The images are exactly those {@code evaluate --run RUN --count K --sampler S --steps N [--guidance G]} draws
 * from the checkpoint of that step with its defaults (seed {@value #SEED}, batches of
 * {@value ModelSamples#DEFAULT_BATCH}, labels {@code i % classes}, quantised to 8 bits as the PNGs it scores), and
 * scored with the same options, so the two give the same numbers. The same noise at every evaluation makes the curve
 * show the model, not the noise.
 *
 * <p>What it writes: the scores merged into that step's {@code metrics.jsonl} row ({@code fd}, {@code kid},
 * {@code kid_std}, {@code precision}, {@code recall}, {@code class_accuracy} for class-conditional runs,
 * {@code fd_ratio}, {@code fd_real} and {@code class_accuracy_ratio} against {@code --eval-count} real images scored
 * once at the start ({@link RealBaseline}), {@code eval_count}, {@code eval_s}; the trainer always writes a row at an evaluation step), {@code fd.png}
 * (FD against step) and {@code quality.png} (precision, recall, class accuracy) beside {@code loss.png}, and, when
 * the FD is the lowest so far, {@code checkpoints/best/}: the checkpoint of that step (hard links to its files, or
 * copies where links are impossible, so pruning by {@code --keep} cannot take it away) with {@code eval.json}
 * naming the step and its scores.
 */
public final class TrainingEvaluator implements AutoCloseable {
    /** Seed of the samples and of the KID subsets ({@code evaluate}'s default {@code --seed}). */
    public static final long SEED = 0L;
    public static final String BEST = "best", BEST_INFO = "eval.json", FD_PLOT = "fd.png", QUALITY_PLOT = "quality.png";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final TrainConfig cfg;
    private final TrainConfig.Eval ec;
    private final Path runDir;
    private final FeatureNet net;
    private final String netSha;
    private final Evaluation.Reference reference;
    private final RealBaseline real;   // eval-count train images against the reference: the scale of the FD
    private final Model sampleModel;
    private final SchedulerConfig schedule;
    private final int steps;
    private final int[] labels;
    private final List<double[]> history = new ArrayList<>();   // step, fd, precision, recall, class accuracy
    private final Consumer<String> log;
    private double bestFd = Double.POSITIVE_INFINITY;
    private boolean newBest;
    private long lastNanos;
    private Map<String, Object> lastRow;

    /**
     * Loads the feature net, gets the reference (from the cache when possible) and allocates a sampling copy of
     * the model on its backend. {@code resumedStep}: the step the run starts at; what an earlier run logged up to
     * it (metrics rows, {@code checkpoints/best}) continues the curve and the best FD.
     */
    public TrainingEvaluator(TrainConfig cfg, Model trained, SchedulerConfig schedule, Path runDir, long resumedStep,
                             ReferenceCache cache, Consumer<String> log) throws IOException {
        this.cfg = cfg;
        this.ec = cfg.eval;
        this.runDir = runDir;
        this.schedule = schedule;
        this.log = log;
        this.steps = ec.steps > 0 ? ec.steps : cfg.objective().defaultSteps(ec.sampler);
        FeatureNetWeights.Loaded loaded = FeatureNetWeights.committed(CpuBackend.get());
        this.net = loaded.net();
        this.netSha = loaded.sha256();
        Model m = null;
        try {
            Dataset test = Datasets.open(cfg.data, cfg.dataDir == null ? null : Path.of(cfg.dataDir), FeatureNet.IMAGE_SIZE, false);
            int n = Math.min(ec.referenceCount, test.size());
            ReferenceCache.Lookup l = cache.reference(net, netSha, cfg.data, "test", FeatureNetTrainer.images(test, n), n, 250);
            this.reference = l.reference();
            this.real = baseline(test, n);
            log.accept(String.format(Locale.ROOT, "eval: %d %s samples (%s %d steps%s) every %d steps vs %s, %d images; reference cache %s: %s (%.1f s)",
                    ec.count, trained.numClasses() > 0 ? "class-balanced" : "", ec.sampler, steps,
                    ec.guidance != 1f ? ", guidance " + ec.guidance : "", ec.every, test.name(), n, l.status(), l.file(), l.seconds())
                    .replace("  ", " "));
            if (real != null) {
                log.accept(String.format(Locale.ROOT, "eval: %d real images (%s) score FD %.3f, KID %.5f, precision %.3f, recall %.3f; "
                        + "the feature net classifies %.1f%% of the reference right", ec.count, real.source(), real.report().fd(),
                        real.report().kid(), real.report().precision(), real.report().recall(), 100 * real.referenceAccuracy()));
            }
            m = cfg.createModel(trained.numClasses());
            m.params().allocate(trained.params().backend(), 0);   // fp32: the EMA weights as evaluate --run samples them
            this.sampleModel = m;
            this.labels = ModelSamples.balancedLabels(ec.count, trained.numClasses());
            resume(resumedStep);
        } catch (IOException | RuntimeException e) {
            if (m != null) m.params().close();
            net.close();
            throw e;
        }
    }

    /** Whether step {@code s} is an evaluation step (every {@code --eval-every}, and the last). */
    public boolean due(long s) {
        return s % ec.every == 0 || s >= cfg.steps;
    }

    /**
     * Samples from the EMA weights, scores them, logs and plots; returns the metrics to merge into the step's row, or
     * null when {@code stopping} (checked before every batch of samples) turned true: a Ctrl-C does not wait for a
     * long evaluation before the trainer writes its checkpoint.
     */
    public Map<String, Object> evaluate(long step, Ema ema, java.util.function.BooleanSupplier stopping) throws IOException {
        long t0 = System.nanoTime();
        ema.copyTo(sampleModel.params());
        float[] drawn;
        try (Scheduler s = ModelSamples.scheduler(ec.sampler, ModelSamples.Setup.of(cfg, schedule), steps)) {
            drawn = ModelSamples.draw(sampleModel, s, ec.count, ModelSamples.DEFAULT_BATCH, SEED, labels, ec.guidance, stopping);
        }
        if (drawn == null) {
            log.accept("eval step " + step + ": skipped (stopping)");
            return null;
        }
        float[] images = ImageSet.asWritten(drawn);
        long t1 = System.nanoTime();
        Evaluation.Report r = Evaluation.score(net, reference, images, ec.count, labels, options());
        lastNanos = System.nanoTime() - t0;
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("fd", r.fd());
        row.put("kid", r.kid());
        row.put("kid_std", r.kidStd());
        row.put("precision", r.precision());
        row.put("recall", r.recall());
        if (labels != null) row.put("class_accuracy", r.classAccuracy());
        if (real != null) {
            row.put("fd_ratio", real.fdRatio(r.fd()));
            row.put("fd_real", real.report().fd());
            if (labels != null) row.put("class_accuracy_ratio", real.accuracyRatio(r.classAccuracy()));
        }
        row.put("eval_count", r.count());
        row.put("eval_s", lastNanos / 1e9);
        lastRow = row;
        history.add(new double[] {step, r.fd(), r.precision(), r.recall(), labels != null ? r.classAccuracy() : Double.NaN});
        newBest = Double.isFinite(r.fd()) && r.fd() < bestFd;
        if (newBest) bestFd = r.fd();
        plot();
        log.accept(String.format(Locale.ROOT, "eval step %d: FD %.3f%s, KID %.5f ± %.5f, precision %.3f, recall %.3f%s%s (sampling %.1f s, scoring %.1f s)",
                step, r.fd(), real == null ? "" : String.format(Locale.ROOT, " (%.2fx real images')", real.fdRatio(r.fd())),
                r.kid(), r.kidStd(), r.precision(), r.recall(),
                labels != null ? String.format(Locale.ROOT, ", class accuracy %.3f", r.classAccuracy()) : "",
                newBest ? ", best so far" : "", (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9));
        return row;
    }

    /**
     * The baseline of {@link RealBaseline}: {@code --eval-count} train images against the reference, with the same
     * options as the samples; null (and said once) when the train split cannot be opened.
     */
    private RealBaseline baseline(Dataset test, int n) {
        Dataset train;
        try {
            train = Datasets.open(cfg.data, cfg.dataDir == null ? null : Path.of(cfg.dataDir), FeatureNet.IMAGE_SIZE, true);
        } catch (RuntimeException e) {
            log.accept("eval: no real-image baseline (the train split: " + e.getMessage() + ")");
            return null;
        }
        if (ec.count > train.size()) return null;
        return RealBaseline.of(net, reference, FeatureNetTrainer.labels(test, n), train, ec.count, options());
    }

    private static Evaluation.Options options() {
        Evaluation.Options o = Evaluation.Options.defaults();
        return new Evaluation.Options(o.kidSubsets(), o.kidSubsetSize(), o.k(), o.prMax(), SEED, o.batchSize());
    }

    /** Whether the last evaluation gave the lowest FD so far (then call {@link #keepBest}). */
    public boolean newBest() { return newBest; }

    /** Wall time of the last evaluation (sampling and scoring), in nanoseconds. */
    public long lastNanos() { return lastNanos; }

    /**
     * Makes {@code checkpoints/best} the checkpoint {@code checkpoint} (of the last evaluated step): its files
     * hard-linked (copied where the file system cannot link), plus {@value #BEST_INFO}; replaced atomically.
     */
    public Path keepBest(Path checkpoint, long step) throws IOException {
        if (lastRow == null) throw new IllegalStateException("no evaluation yet");
        Path parent = checkpoint.getParent();
        ObjectNode info = JSON.createObjectNode();
        info.put("step", step);
        info.put("checkpoint", checkpoint.getFileName().toString());
        lastRow.forEach((k, v) -> {
            if (v instanceof Double d) info.put(k, d);
            else if (v instanceof Integer i) info.put(k, i);
        });
        info.put("features", "fashion-mnist classifier");
        info.put("feature_net_sha256", netSha);
        info.put("reference", cfg.data + "/test");
        info.put("reference_count", reference.output().count());
        info.put("sampler", ec.sampler);
        info.put("sampler_steps", steps);
        info.put("guidance", ec.guidance);
        info.put("seed", SEED);
        try (AtomicDirectory d = AtomicDirectory.begin(parent, BEST)) {
            try (Stream<Path> files = Files.list(checkpoint)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    if (!Files.isRegularFile(f)) continue;
                    Path to = d.path().resolve(f.getFileName().toString());
                    try {
                        Files.createLink(to, f);
                    } catch (IOException | UnsupportedOperationException e) {
                        Files.copy(f, to);
                    }
                }
            }
            AtomicFiles.writeString(d.path().resolve(BEST_INFO), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(info) + "\n");
            return d.commit();
        }
    }

    /** Continues the curve and the best FD of an earlier run up to {@code resumedStep}. */
    private void resume(long resumedStep) throws IOException {
        if (resumedStep <= 0) return;
        Path metrics = runDir.resolve("metrics.jsonl");
        if (Files.isRegularFile(metrics)) {
            for (String line : Files.readAllLines(metrics, StandardCharsets.UTF_8)) {
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (IOException e) {
                    continue;
                }
                if (n == null || !n.path("fd").isNumber()) continue;
                long s = n.path("step").asLong(-1);
                if (s < 0 || s > resumedStep) continue;
                history.add(new double[] {s, n.path("fd").asDouble(), n.path("precision").asDouble(Double.NaN),
                        n.path("recall").asDouble(Double.NaN), n.path("class_accuracy").asDouble(Double.NaN)});
            }
        }
        Path best = runDir.resolve(Checkpoint.DIR).resolve(BEST).resolve(BEST_INFO);
        if (Files.isRegularFile(best)) {
            try {
                JsonNode n = JSON.readTree(best.toFile());
                // a best from after the resumed step belongs to a history this run replaces
                if (n.path("step").asLong(Long.MAX_VALUE) <= resumedStep && n.path("fd").isNumber()) bestFd = n.path("fd").asDouble();
            } catch (IOException e) {
                log.accept("eval: ignoring unreadable " + best + " (" + e.getMessage() + ")");
            }
        }
    }

    private void plot() throws IOException {
        int n = history.size();
        double[] x = new double[n], fd = new double[n], p = new double[n], rc = new double[n], acc = new double[n];
        for (int i = 0; i < n; i++) {
            double[] h = history.get(i);
            x[i] = h[0];
            fd[i] = h[1];
            p[i] = h[2];
            rc[i] = h[3];
            acc[i] = h[4];
        }
        List<Plot.Series> f = new ArrayList<>(List.of(new Plot.Series("FD", x, fd)));
        if (real != null && n > 0) {
            double lo = x[0], hi = Math.max(x[n - 1], lo + 1), rfd = real.report().fd();
            f.add(new Plot.Series(ec.count + " real images", new double[] {lo, hi}, new double[] {rfd, rfd}));
            f.add(new Plot.Series("3x real", new double[] {lo, hi}, new double[] {3 * rfd, 3 * rfd}));
        }
        Plot.lines(runDir.resolve(FD_PLOT), "FD in Fashion-MNIST classifier features (" + ec.count + " samples; not FID)",
                "step", "FD", f, true);
        List<Plot.Series> q = new ArrayList<>(List.of(new Plot.Series("precision", x, p), new Plot.Series("recall", x, rc)));
        if (labels != null) q.add(new Plot.Series("class accuracy", x, acc));
        Plot.lines(runDir.resolve(QUALITY_PLOT), "precision / recall (k = 3)" + (labels != null ? " and class accuracy" : ""),
                "step", "fraction", q, false);
    }

    @Override public void close() {
        sampleModel.params().close();
        net.close();
    }
}
