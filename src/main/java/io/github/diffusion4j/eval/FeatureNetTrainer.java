package io.github.diffusion4j.eval;

import io.github.diffusion4j.data.Dataset;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.train.AdamW;

import java.io.PrintStream;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Trains a {@link FeatureNet} classifier deterministically: softmax cross-entropy, AdamW with linear warm-up and
 * cosine decay, the sample order of every epoch a {@link SplittableRandom} permutation of the seed, no augmentation.
 * The same settings and backend give the same weights (the CPU backend's kernels are deterministic).
 */
public final class FeatureNetTrainer {
    private FeatureNetTrainer() {}

    /** Training settings; {@link #defaults()} is the recipe of the committed weights. */
    public record Settings(int epochs, int batchSize, float lr, float weightDecay, int warmupSteps, long seed, int limit) {
        public static Settings defaults() { return new Settings(3, 128, 3e-3f, 1e-4f, 100, 16L, 0); }

        public Settings withEpochs(int e) { return new Settings(e, batchSize, lr, weightDecay, warmupSteps, seed, limit); }

        /** Train on the first {@code n} images only (0: all), for tests. */
        public Settings withLimit(int n) { return new Settings(epochs, batchSize, lr, weightDecay, warmupSteps, seed, n); }
    }

    /** Loads all images of a 32x32 greyscale dataset into one array. */
    public static float[] images(Dataset data, int n) {
        int px = data.imageFloats();
        float[] out = new float[n * px];
        for (int i = 0; i < n; i++) data.image(i, out, i * px);
        return out;
    }

    /** The labels of the first {@code n} images of {@code data}. */
    public static int[] labels(Dataset data, int n) {
        int[] l = new int[n];
        for (int i = 0; i < n; i++) l[i] = data.label(i);
        return l;
    }

    /** Trains a fresh net on {@code train} and returns it; progress lines go to {@code log} (may be null). */
    public static FeatureNet train(Backend backend, FeatureNet.Config cfg, Dataset train, Settings s, PrintStream log) {
        if (train.channels() != 1 || train.imageSize() != FeatureNet.IMAGE_SIZE) {
            throw new IllegalArgumentException("the feature net trains on 1 x 32 x 32 images, " + train.name() + " has "
                    + train.channels() + " x " + train.imageSize() + " x " + train.imageSize());
        }
        int n = s.limit() > 0 ? Math.min(s.limit(), train.size()) : train.size();
        int px = train.imageFloats(), k = cfg.classes(), bs = s.batchSize();
        float[] all = images(train, n);
        int[] labels = labels(train, n);
        FeatureNet net = new FeatureNet(backend, cfg, s.seed());
        int stepsPerEpoch = n / bs, total = stepsPerEpoch * s.epochs();
        long t0 = System.nanoTime();
        try (AdamW opt = new AdamW(net.params(), new AdamW.Config(0.9f, 0.999f, 1e-8f, s.weightDecay()))) {
            float[] xb = new float[bs * px], dl = new float[bs * k];
            int step = 0;
            for (int epoch = 0; epoch < s.epochs(); epoch++) {
                int[] perm = permutation(n, new SplittableRandom(s.seed() * 1_000_003L + epoch));
                double lossSum = 0;
                int correct = 0;
                for (int b = 0; b < stepsPerEpoch; b++, step++) {
                    for (int i = 0; i < bs; i++) System.arraycopy(all, perm[b * bs + i] * px, xb, i * px, px);
                    backend.beginStep();
                    net.params().zeroGrad();
                    try (Tensor x = backend.fromArray(xb, Shape.of(bs, 1, FeatureNet.IMAGE_SIZE, FeatureNet.IMAGE_SIZE))) {
                        float[] logits = backend.toHost(net.forward(Ctx.training(backend, s.seed()), x));
                        for (int i = 0; i < bs; i++) {
                            int y = labels[perm[b * bs + i]];
                            double max = Double.NEGATIVE_INFINITY;
                            for (int c = 0; c < k; c++) max = Math.max(max, logits[i * k + c]);
                            double z = 0;
                            int arg = 0;
                            for (int c = 0; c < k; c++) {
                                z += Math.exp(logits[i * k + c] - max);
                                if (logits[i * k + c] > logits[i * k + arg]) arg = c;
                            }
                            if (arg == y) correct++;
                            lossSum += Math.log(z) + max - logits[i * k + y];
                            for (int c = 0; c < k; c++) {
                                double p = Math.exp(logits[i * k + c] - max) / z;
                                dl[i * k + c] = (float) ((p - (c == y ? 1 : 0)) / bs);
                            }
                        }
                        try (Tensor d = backend.fromArray(dl, Shape.of(bs, k))) {
                            net.backward(d);
                        }
                    }
                    opt.update(learningRate(s, step, total));
                    if (log != null && (b + 1) % 100 == 0) {
                        log.printf(Locale.ROOT, "feature net: epoch %d step %d/%d loss %.4f train acc %.4f (%.0f s)%n", epoch + 1,
                                b + 1, stepsPerEpoch, lossSum / ((b + 1) * bs), correct / (double) ((b + 1) * bs),
                                (System.nanoTime() - t0) / 1e9);
                    }
                }
            }
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
        return net;
    }

    static float learningRate(Settings s, int step, int total) {
        if (step < s.warmupSteps()) return s.lr() * (step + 1) / s.warmupSteps();
        double p = (step - s.warmupSteps()) / (double) Math.max(1, total - s.warmupSteps());
        return (float) (s.lr() * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, p))));
    }

    static int[] permutation(int n, SplittableRandom r) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** Fraction of {@code test}'s first n images the net classifies right. */
    public static double accuracy(FeatureNet net, Dataset test, int n) {
        return Evaluation.accuracy(net.evaluate(images(test, n), n, 250), labels(test, n));
    }
}
