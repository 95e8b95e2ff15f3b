package io.github.diffusion4j.eval;

import io.github.diffusion4j.data.Dataset;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * What real images score, the scale an FD is read against: FD, KID and precision/recall fall with the number of
 * images scored (the estimators' bias), so "FD 12" says little until it is set beside the FD of the same number of
 * real images. {@link #of} scores {@code n} images of the dataset's train split (a seeded subset, with their labels;
 * the reference is the test split, so the two are disjoint) against the same reference with the same options: what
 * a model that reproduced its training distribution exactly would score at this count. It also gives the feature
 * net's accuracy on the reference images themselves (real test images), the bar a class-conditional model's class
 * accuracy is read against.
 *
 * <p>Train images rather than other test images, because the reference is usually the whole test split. The feature
 * net has seen them in training, which could flatter them; {@code EvaluateCommandTest} measures that it does not by
 * much: real test images outside the reference score an FD ratio of 0.98 against this baseline.
 */
public record RealBaseline(Evaluation.Report report, double referenceAccuracy, String source) {
    /** Seed offset of the subset (so it does not coincide with the KID subsets' stream of the same seed). */
    private static final long SUBSET_SALT = 0x7EA1_BA5EL;

    /** FD of the images over that of real images at the same count (NaN when either is not positive). */
    public double fdRatio(double fd) {
        double r = report.fd();
        return r > 0 && Double.isFinite(fd) ? fd / r : Double.NaN;
    }

    /** Class accuracy of the images over the feature net's accuracy on real test images (NaN without labels). */
    public double accuracyRatio(double accuracy) {
        return referenceAccuracy > 0 ? accuracy / referenceAccuracy : Double.NaN;
    }

    /**
     * Scores {@code n} images of {@code train} (chosen by {@code o.seed()}) against {@code ref}, whose images carry
     * the labels {@code refLabels} (null: no reference accuracy).
     */
    public static RealBaseline of(FeatureNet net, Evaluation.Reference ref, int[] refLabels, Dataset train, int n, Evaluation.Options o) {
        if (n < 2 || n > train.size()) {
            throw new IllegalArgumentException("the real baseline needs 2 to " + train.size() + " images of " + train.name() + ", not " + n);
        }
        int[] idx = KernelInceptionDistance.choose(new SplittableRandom(o.seed() ^ SUBSET_SALT), train.size(), n);
        Arrays.sort(idx);   // all of them in order when n is the whole split
        int px = train.imageFloats();
        float[] images = new float[n * px];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            train.image(idx[i], images, i * px);
            labels[i] = train.label(idx[i]);
        }
        Evaluation.Report r = Evaluation.score(net, ref, images, n, labels, o);
        return new RealBaseline(r, refLabels == null ? Double.NaN : Evaluation.accuracy(ref.output(), refLabels), train.name());
    }
}
