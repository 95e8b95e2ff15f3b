package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.Backends;
import io.github.diffusion4j.data.Dataset;
import io.github.diffusion4j.data.Datasets;
import io.github.diffusion4j.eval.Evaluation;
import io.github.diffusion4j.eval.FeatureNet;
import io.github.diffusion4j.eval.FeatureNetTrainer;
import io.github.diffusion4j.eval.FeatureNetWeights;
import io.github.diffusion4j.eval.ImageSet;
import io.github.diffusion4j.eval.RealBaseline;
import io.github.diffusion4j.eval.ReferenceCache;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.train.Checkpoint;
import io.github.diffusion4j.train.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code evaluate}: FD, KID, precision/recall and class accuracy of a folder of images (or of samples drawn from a
 * run) against a dataset's test split, in the features of the committed Fashion-MNIST classifier. These are not
 * FIDs: the features are not Inception-v3's, so the numbers compare only with numbers from the same feature net,
 * the same sample count and the same reference split.
 *
 * <p>The reference features are cached ({@link ReferenceCache}: {@code $D4J_CACHE_DIR/eval/}, else
 * {@code ~/.cache/diffusion4j/eval/}, keyed by the feature net's hash, the backend, the dataset split, the count and
 * a content hash of the reference images; entries are verified by a payload hash and recomputed when corrupt), so a
 * repeated evaluation only pays for its samples; the output says whether the cache was hit
 * ({@code reference_cache} in the JSON: hit, miss, corrupt or off with {@code --no-cache}).
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Score images against a dataset's test split: FD and KID in the features of the committed "
                + "Fashion-MNIST classifier (not FID: not comparable to published FIDs), precision/recall (k-NN "
                + "manifolds) and, with labels.csv, the classifier's accuracy on the labels."})
public final class EvaluateCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;
    @Mixin DistributedOptions distributedOptions;
    @Spec CommandSpec spec;

    @Option(names = "--images", paramLabel = "DIR", description = "Folder of 28x28 or 32x32 greyscale PNGs (as sample --out-dir writes them), with optional labels.csv.")
    Path images;
    @Option(names = "--run", paramLabel = "PATH", description = "Sample --count images from this run's EMA weights (through the sample command) and score them.")
    Path run;
    @Option(names = "--data", defaultValue = "fashion-mnist", description = "Reference dataset (default: ${DEFAULT-VALUE}; the only one with a committed feature net).")
    String data;
    @Option(names = "--data-dir", paramLabel = "DIR", description = "Directory of the dataset's IDX files (default: /usr/share/datasets/fashion-mnist).")
    Path dataDir;
    @Option(names = "--reference-count", defaultValue = "10000", description = "Test images in the reference (default: ${DEFAULT-VALUE}, the whole split).")
    int referenceCount;
    @Option(names = "--class-accuracy", description = "Require labels (labels.csv) and report the feature net's accuracy on them.")
    boolean requireLabels;
    @Option(names = "--features", paramLabel = "FILE", description = "Feature-net weights to use instead of the committed ones (their hash is reported).")
    Path features;
    @Option(names = "--train-features", description = "Retrain the feature net reproducibly from the train split, write it to --features-out and use it.")
    boolean trainFeatures;
    @Option(names = "--features-out", defaultValue = "fashion-mnist-features.safetensors", paramLabel = "FILE", description = "Where --train-features writes the weights (default: ${DEFAULT-VALUE}).")
    Path featuresOut;
    @Option(names = "--feature-epochs", description = "Epochs for --train-features (default: the committed recipe's).")
    Integer featureEpochs;
    @Option(names = "--kid-subsets", defaultValue = "100", description = "KID subsets (default: ${DEFAULT-VALUE}).")
    int kidSubsets;
    @Option(names = "--kid-subset-size", defaultValue = "1000", description = "KID subset size (default: ${DEFAULT-VALUE}, capped at the counts).")
    int kidSubsetSize;
    @Option(names = "--k", defaultValue = "3", description = "Neighbours for precision/recall (default: ${DEFAULT-VALUE}).")
    int k;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the KID subsets and of the samples with --run (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--no-cache", description = {"Compute the reference features without reading or writing the cache (default: cached in",
            "$D4J_CACHE_DIR/eval, else ~/.cache/diffusion4j/eval, keyed by the feature net's hash and the reference images)."})
    boolean noCache;
    @Option(names = "--cache-dir", paramLabel = "DIR", description = "Keep the cached reference features in DIR (default: $D4J_CACHE_DIR/eval, else ~/.cache/diffusion4j/eval).")
    Path cacheDir;
    @Option(names = "--no-real-baseline", description = "Do not also score as many real images (of the train split) as "
            + "were scored: the scale an FD is read against (fd_ratio and real in the JSON).")
    boolean noRealBaseline;
    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean json;
    @Option(names = "--device", defaultValue = "cpu", description = "Backend of the feature net: cpu (default, the reference numbers), auto or cuda.")
    String device;
    @Option(names = "--count", defaultValue = "2000", description = "With --run: images to sample (default: ${DEFAULT-VALUE}).")
    int count;
    @Option(names = "--sampler", description = "With --run: passed to sample (default: the sampler of the run's "
            + "training evaluations, train --eval-sampler: dpmpp for ddpm runs).")
    String sampler;
    @Option(names = "--steps", description = "With --run: passed to sample (default: as the run's training evaluations).")
    Integer steps;
    @Option(names = "--guidance", split = ",", paramLabel = "G[,G...]", description = "With --run: the guidance scale "
            + "passed to sample (default: the run's --eval-guidance, else 1); several (1,2,3) sample and score once per "
            + "scale, with the class accuracy of each.")
    List<Float> guidance;
    @Option(names = "--batch-size", description = "With --run: passed to sample.")
    Integer batchSize;
    @Option(names = "--sample-device", defaultValue = "auto", description = "With --run: the device sampling runs on (default: ${DEFAULT-VALUE}).")
    String sampleDevice;

    @Override public Integer call() throws Exception {
        return distributedOptions.run(spec, this::evaluate);
    }

    /**
     * Under mpirun with {@code --run}, every rank samples its share of the images (sample shares the batches) and
     * rank 0 alone scores them.
     */
    private int evaluate(io.github.diffusion4j.dist.World world) throws Exception {
        if (images != null && run != null) throw new UserException("give --images or --run, not both");
        if (images == null && run == null && !trainFeatures) throw new UserException("give --images DIR or --run RUN (or --train-features)");
        if (!data.equals("fashion-mnist")) {
            throw new UserException("--data " + data + ": evaluate has a feature net for fashion-mnist only");
        }
        if (referenceCount < 2) throw new UserException("--reference-count must be at least 2");
        if (kidSubsets < 1 || kidSubsetSize < 2) throw new UserException("--kid-subsets must be >= 1 and --kid-subset-size >= 2");
        if (k < 1) throw new UserException("--k must be >= 1");
        if (count < 2) throw new UserException("--count must be at least 2");
        if (features != null && trainFeatures) throw new UserException("give --features or --train-features, not both");
        if (guidance != null && run == null) throw new UserException("--guidance needs --run (it is passed to sample)");
        PrintWriter o = spec.commandLine().getOut();
        long t0 = System.nanoTime();
        if (!world.isRoot()) {
            if (run == null) return 0;   // nothing to share: scoring a folder is rank 0's
            Path tmp = Files.createTempDirectory("d4j-evaluate-rank");
            try {
                PrintWriter none = new PrintWriter(java.io.OutputStream.nullOutputStream());
                for (Float g : guidance == null ? java.util.Collections.<Float>singletonList(null) : guidance) {
                    int rc = sample(none, g, tmp.resolve("grid.png"), tmp.resolve("images"));
                    if (rc != 0) return rc;
                }
                return 0;
            } finally {
                deleteTree(tmp);
            }
        }

        Dataset test = Datasets.open(data, dataDir, FeatureNet.IMAGE_SIZE, false);
        Backend b = Backends.select(device).backend();
        FeatureNetWeights.Loaded loaded;
        if (trainFeatures) {
            Dataset train = Datasets.open(data, dataDir, FeatureNet.IMAGE_SIZE, true);
            FeatureNetTrainer.Settings s = FeatureNetTrainer.Settings.defaults();
            if (featureEpochs != null) {
                if (featureEpochs < 1) throw new UserException("--feature-epochs must be >= 1");
                s = s.withEpochs(featureEpochs);
            }
            long tt = System.nanoTime();
            PrintStream log = json ? null : new PrintStream(new java.io.OutputStream() {
                @Override public void write(int c) { o.write(c); }
                @Override public void flush() { o.flush(); }
            }, true);
            FeatureNet net = FeatureNetTrainer.train(b, FeatureNet.Config.defaults(), train, s, log);
            double acc = FeatureNetTrainer.accuracy(net, test, test.size());
            Map<String, String> meta = new java.util.LinkedHashMap<>(); // ordered: the same run gives the same bytes
            meta.put("test_accuracy", String.format(Locale.ROOT, "%.4f", acc));
            meta.put("recipe", s.toString());
            String sha = FeatureNetWeights.save(net, featuresOut, meta);
            if (!json) {
                o.printf(Locale.ROOT, "feature net trained in %.0f s: test accuracy %.4f, written to %s (sha256 %s)%n",
                        (System.nanoTime() - tt) / 1e9, acc, featuresOut, sha);
                o.flush();
            }
            loaded = new FeatureNetWeights.Loaded(net, sha, Map.of());
            if (images == null && run == null) {
                net.close();
                return 0;
            }
        } else if (features != null) {
            loaded = FeatureNetWeights.file(features, null, b);
        } else {
            loaded = FeatureNetWeights.committed(b);
        }

        Path sampleDir = null;
        try (FeatureNet net = loaded.net()) {
            int nRef = Math.min(referenceCount, test.size());
            float[] refImages = FeatureNetTrainer.images(test, nRef);
            long tr = System.nanoTime();
            ReferenceCache.Lookup lookup = noCache
                    ? new ReferenceCache.Lookup(Evaluation.Reference.of(net, refImages, nRef, 250), false, null, "off", 0)
                    : (cacheDir != null ? new ReferenceCache(cacheDir) : ReferenceCache.standard()).reference(net, loaded.sha256(), data, "test", refImages, nRef, 250);
            double refSecs = (System.nanoTime() - tr) / 1e9;
            Evaluation.Reference ref = lookup.reference();
            Evaluation.Options opts = new Evaluation.Options(kidSubsets, kidSubsetSize, k, 5000, seed, 250);
            // one source of images (a folder), or one sampling of the run per guidance scale
            List<Float> scales = run == null ? java.util.Collections.singletonList(null)
                    : guidance == null ? java.util.Collections.singletonList(null) : guidance;
            // a run evaluated during training with guidance: that scale, named in the output as a given one would be
            if (run != null && guidance == null && evalDefaults().guidance != 1f) scales = List.of(evalDefaults().guidance);
            if (run != null) sampleDir = Files.createTempDirectory("d4j-evaluate");
            List<String> rows = new ArrayList<>();
            Baselines baselines = new Baselines(net, ref, test, nRef, opts);
            for (Float g : scales) {
                Path dir = images;
                if (run != null) {
                    dir = sampleDir.resolve("images-" + rows.size());
                    int rc = sample(o, g, sampleDir.resolve("grid-" + rows.size() + ".png"), dir);
                    if (rc != 0) return rc;
                }
                ImageSet set = ImageSet.read(dir);
                if (set.count() < 2) throw new UserException("image folder " + dir + " holds " + set.count() + " image; scoring needs at least 2");
                if (requireLabels && !set.labelled()) {
                    throw new UserException("--class-accuracy: " + dir + " has no labels.csv with class labels (an unconditional run?)");
                }
                Evaluation.Report r = Evaluation.score(net, ref, set.images(), set.count(), set.labels(), opts);
                RealBaseline real = baselines.at(set.count());
                double secs = (System.nanoTime() - t0) / 1e9;
                if (json) {
                    String one = json(r, real, loaded.sha256(), run != null ? run : dir, secs, lookup);
                    rows.add(g == null ? one : "{\"guidance\":" + num(g) + "," + one.substring(1));
                } else {
                    rows.add("");
                    if (rows.size() == 1) {
                        o.printf(Locale.ROOT, "features: Fashion-MNIST classifier, penultimate layer (%d-d), sha256 %s%n", net.featureDim(), loaded.sha256());
                        o.printf(Locale.ROOT, "reference features: cache %s%s (%.1f s)%n", lookup.status(),
                                lookup.file() == null ? "" : ": " + lookup.file(), refSecs);
                    }
                    if (g != null) o.printf(Locale.ROOT, "guidance %s:%n", num(g));
                    o.printf(Locale.ROOT, "reference: %s, %d images; scored: %s, %d images%n", test.name(), r.referenceCount(),
                            run != null ? "samples of " + run : dir, r.count());
                    o.printf(Locale.ROOT, "FD  (Fashion-MNIST classifier features): %.4f%s%n", r.fd(), real == null ? ""
                            : String.format(Locale.ROOT, " (%.2fx the FD of %d real images, %.4f)", real.fdRatio(r.fd()), r.count(), real.report().fd()));
                    o.printf(Locale.ROOT, "KID (Fashion-MNIST classifier features): %.6f ± %.6f (%d subsets of %d)%n", r.kid(), r.kidStd(),
                            r.kidSubsets(), r.kidSubsetSize());
                    o.printf(Locale.ROOT, "precision %.4f, recall %.4f (k = %d, %d vs %d)%n", r.precision(), r.recall(), r.k(), r.prCount(), r.prCount());
                    if (!Double.isNaN(r.classAccuracy())) {
                        o.printf(Locale.ROOT, "class accuracy: %.4f%s%n", r.classAccuracy(), real == null ? ""
                                : String.format(Locale.ROOT, " (%.3f of the feature net's %.4f on real test images)",
                                real.accuracyRatio(r.classAccuracy()), real.referenceAccuracy()));
                    }
                    if (real != null) {
                        Evaluation.Report rb = real.report();
                        o.printf(Locale.ROOT, "real images at this count (%d of %s vs the reference): FD %.4f, KID %.6f ± %.6f, precision %.4f, recall %.4f%n",
                                rb.count(), real.source(), rb.fd(), rb.kid(), rb.kidStd(), rb.precision(), rb.recall());
                    } else if (baselines.unavailable() != null) {
                        o.printf(Locale.ROOT, "real images at this count: unavailable (%s)%n", baselines.unavailable());
                    }
                    o.printf(Locale.ROOT, "time: %.1f s%n", secs);
                }
                o.flush();
            }
            if (json) o.println(rows.size() == 1 ? rows.get(0) : "{\"per_guidance\":[" + String.join(",", rows) + "]}");
            o.flush();
            return 0;
        } finally {
            if (sampleDir != null) deleteTree(sampleDir);
        }
    }

    /**
     * The real-image baseline per scored count, computed once per count (the train split is opened on first use;
     * when it cannot be, the scores come without a baseline and {@link #unavailable} says why).
     */
    private final class Baselines {
        private final FeatureNet net;
        private final Evaluation.Reference ref;
        private final int[] refLabels;
        private final Evaluation.Options opts;
        private final Map<Integer, RealBaseline> byCount = new java.util.HashMap<>();
        private Dataset train;
        private String unavailable;

        Baselines(FeatureNet net, Evaluation.Reference ref, Dataset test, int nRef, Evaluation.Options opts) {
            this.net = net;
            this.ref = ref;
            this.refLabels = FeatureNetTrainer.labels(test, nRef);
            this.opts = opts;
        }

        RealBaseline at(int n) {
            if (noRealBaseline || unavailable != null) return null;
            if (train == null) {
                try {
                    train = Datasets.open(data, dataDir, FeatureNet.IMAGE_SIZE, true);
                } catch (RuntimeException e) {
                    unavailable = "the train split: " + e.getMessage();
                    return null;
                }
            }
            if (n > train.size()) {
                unavailable = n + " images are more than the train split's " + train.size();
                return null;
            }
            return byCount.computeIfAbsent(n, c -> RealBaseline.of(net, ref, refLabels, train, c, opts));
        }

        String unavailable() { return unavailable; }
    }

    /**
     * Runs the sample command in-process: --count images of the run (guidance g, null: 1; the caller passes the run's
     * --eval-guidance when none was given) into dir. The sampler and steps not given are what the run's training
     * evaluations used ({@code train --eval-sampler/--eval-steps},
     * or their defaults for its objective), so that {@code evaluate --run <run>/checkpoints/best} scores as the
     * trainer did.
     */
    private int sample(PrintWriter o, Float g, Path grid, Path dir) throws IOException {
        TrainConfig.Eval d = evalDefaults();
        List<String> args = new ArrayList<>(List.of("sample", "--run", run.toString(), "--count", Integer.toString(count),
                "--seed", Long.toString(seed), "--device", sampleDevice, "--out", grid.toString(), "--out-dir", dir.toString()));
        args.addAll(List.of("--sampler", sampler != null ? sampler : d.sampler));
        Integer s = steps != null ? steps : sampler == null && d.steps > 0 ? Integer.valueOf(d.steps) : null;
        if (s != null) args.addAll(List.of("--steps", s.toString()));
        if (g != null) args.addAll(List.of("--guidance", g.toString()));
        if (batchSize != null) args.addAll(List.of("--batch-size", batchSize.toString()));
        picocli.CommandLine cl = Main.commandLine();
        if (json) cl.setOut(new PrintWriter(java.io.OutputStream.nullOutputStream()));
        else cl.setOut(o);
        cl.setErr(spec.commandLine().getErr());
        return cl.execute(args.toArray(String[]::new));
    }

    /** {@link #evalDefaults()}, read from the run's checkpoint once. */
    private TrainConfig.Eval evalDefaults;

    /** The run's training-evaluation settings, or their defaults for its objective (a run trained without --eval-every). */
    private TrainConfig.Eval evalDefaults() throws IOException {
        if (evalDefaults != null) return evalDefaults;
        TrainConfig cfg = Checkpoint.readInfo(Checkpoint.resolve(run)).config();
        TrainConfig.Eval e = cfg.eval;
        if (e == null) {
            e = new TrainConfig.Eval();
            if (!cfg.objective().samplers().contains(e.sampler)) e.sampler = cfg.objective().defaultSampler();
        }
        return evalDefaults = e;
    }

    static String json(Evaluation.Report r, RealBaseline real, String sha, Path source, double secs, ReferenceCache.Lookup lookup) {
        StringBuilder s = new StringBuilder("{");
        s.append("\"fd\":").append(num(r.fd()));
        s.append(",\"kid\":").append(num(r.kid()));
        s.append(",\"kid_std\":").append(num(r.kidStd()));
        s.append(",\"kid_subsets\":").append(r.kidSubsets());
        s.append(",\"kid_subset_size\":").append(r.kidSubsetSize());
        s.append(",\"precision\":").append(num(r.precision()));
        s.append(",\"recall\":").append(num(r.recall()));
        s.append(",\"k\":").append(r.k());
        s.append(",\"count\":").append(r.count());
        s.append(",\"reference_count\":").append(r.referenceCount());
        s.append(",\"class_accuracy\":").append(Double.isNaN(r.classAccuracy()) ? "null" : num(r.classAccuracy()));
        if (real != null) {
            Evaluation.Report b = real.report();
            s.append(",\"fd_ratio\":").append(num(real.fdRatio(r.fd())));
            s.append(",\"class_accuracy_ratio\":").append(Double.isNaN(r.classAccuracy()) ? "null" : num(real.accuracyRatio(r.classAccuracy())));
            s.append(",\"real\":{\"source\":\"").append(real.source()).append('"');
            s.append(",\"count\":").append(b.count());
            s.append(",\"fd\":").append(num(b.fd()));
            s.append(",\"kid\":").append(num(b.kid()));
            s.append(",\"kid_std\":").append(num(b.kidStd()));
            s.append(",\"precision\":").append(num(b.precision()));
            s.append(",\"recall\":").append(num(b.recall()));
            s.append(",\"reference_accuracy\":").append(num(real.referenceAccuracy())).append('}');
        } else {
            s.append(",\"real\":null");
        }
        s.append(",\"features\":\"fashion-mnist classifier\"");
        s.append(",\"feature_net_sha256\":\"").append(sha).append('"');
        s.append(",\"source\":\"").append(source.toString().replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
        String cache = lookup.hit() ? "hit" : lookup.status().startsWith("corrupt") ? "corrupt" : lookup.status().equals("off") ? "off" : "miss";
        s.append(",\"reference_cache\":\"").append(cache).append('"');
        s.append(",\"seconds\":").append(String.format(Locale.ROOT, "%.2f", secs));
        return s.append('}').toString();
    }

    private static String num(double v) {
        if (!Double.isFinite(v)) return "null";
        return String.format(Locale.ROOT, "%.8g", v);
    }

    private static void deleteTree(Path p) {
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(q -> q.toFile().delete());
        } catch (java.io.IOException ignored) {
            // a temporary folder left behind is harmless
        }
    }
}
