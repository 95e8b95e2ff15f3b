package io.github.diffusion4j.eval;

import java.util.SplittableRandom;

/**
 * Scores a set of images against a reference set in the features of a {@link FeatureNet}: FD, KID (mean and std
 * over subsets), precision / recall (k-NN manifolds) and, for labelled images, the net's accuracy on the labels.
 * Precision and recall compare equal counts: a seeded subset of the reference of the images' size (capped at
 * {@link Options#prMax}), as is customary. All deterministic for a given {@link Options#seed}.
 */
public final class Evaluation {
    private Evaluation() {}

    public record Options(int kidSubsets, int kidSubsetSize, int k, int prMax, long seed, int batchSize) {
        public static Options defaults() {
            return new Options(KernelInceptionDistance.DEFAULT_SUBSETS, KernelInceptionDistance.DEFAULT_SUBSET_SIZE,
                    PrecisionRecall.DEFAULT_K, 5000, 0L, 250);
        }
    }

    /** Features of the reference images, with their Gaussian statistics (computed once per reference). */
    public record Reference(FeatureNet.Output output, FrechetDistance.Stats stats) {
        public static Reference of(FeatureNet net, float[] images, int n, int batchSize) {
            FeatureNet.Output o = net.evaluate(images, n, batchSize);
            return new Reference(o, FrechetDistance.Stats.of(o.features(), n, o.dim()));
        }
    }

    /** The scores; {@code classAccuracy} is NaN when the images carry no labels. */
    public record Report(int count, int referenceCount, double fd, double kid, double kidStd, int kidSubsets, int kidSubsetSize,
                         double precision, double recall, int k, int prCount, double classAccuracy) {}

    public static Report score(FeatureNet net, Reference ref, float[] images, int n, int[] labels, Options o) {
        FeatureNet.Output f = net.evaluate(images, n, o.batchSize());
        FeatureNet.Output r = ref.output();
        int d = f.dim();
        double fd = FrechetDistance.between(ref.stats(), FrechetDistance.Stats.of(f.features(), n, d));
        KernelInceptionDistance.Result kid = KernelInceptionDistance.compute(net.backend(), r.features(), r.count(), f.features(), n, d,
                o.kidSubsets(), o.kidSubsetSize(), o.seed());
        int m = Math.min(o.prMax(), Math.min(n, r.count()));
        float[] rs = rows(r.features(), r.count(), d, m, new SplittableRandom(o.seed() ^ 0x5EEDL));
        float[] fs = rows(f.features(), n, d, m, new SplittableRandom(o.seed() ^ 0xFA4EL));
        PrecisionRecall.Result pr = PrecisionRecall.compute(rs, m, fs, m, d, o.k());
        double acc = labels == null ? Double.NaN : accuracy(f, labels);
        return new Report(n, r.count(), fd, kid.mean(), kid.std(), kid.subsets(), kid.subsetSize(), pr.precision(), pr.recall(),
                pr.k(), m, acc);
    }

    /**
     * Share of the images the net classifies as {@code labels[i]}, over those whose label is not negative (unknown);
     * NaN when none has a label.
     */
    public static double accuracy(FeatureNet.Output f, int[] labels) {
        int right = 0, total = 0;
        for (int i = 0; i < f.count(); i++) {
            if (labels[i] < 0) continue;
            total++;
            if (f.predicted(i) == labels[i]) right++;
        }
        return total > 0 ? right / (double) total : Double.NaN;
    }

    /** m rows of x [n, d]: all of them in order when m == n, else a seeded subset. */
    static float[] rows(float[] x, int n, int d, int m, SplittableRandom r) {
        if (m == n) return x;
        int[] idx = KernelInceptionDistance.choose(r, n, m);
        java.util.Arrays.sort(idx);
        float[] out = new float[m * d];
        for (int i = 0; i < m; i++) System.arraycopy(x, idx[i] * d, out, i * d, d);
        return out;
    }
}
