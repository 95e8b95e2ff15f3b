package io.github.diffusion4j.eval;

import io.github.diffusion4j.nn.Conv2d;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.nn.GroupNorm;
import io.github.diffusion4j.nn.Init;
import io.github.diffusion4j.nn.Linear;
import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.nn.SiLU;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The small CNN classifier whose penultimate layer gives the features of FD / KID / precision-recall (the role
 * Inception-v3 plays for FID), built from the engine's own layers on any {@link Backend}:
 *
 * <pre>
 * x [N, 1, 32, 32] → conv3x3(c1) GN SiLU → conv3x3/2(c2) GN SiLU → conv3x3/2(c3) GN SiLU   (c3 x 8 x 8)
 *   → flatten → Linear(hidden) SiLU = features [N, hidden] → Linear(classes) = logits
 * </pre>
 *
 * Inputs are 32x32 greyscale in [-1, 1], the size the engine trains Fashion-MNIST at (28x28 centred on a black
 * canvas, as {@code IdxDataset} delivers it). GroupNorm (not BatchNorm) keeps every image's features independent of
 * the batch it is computed in.
 */
public final class FeatureNet implements AutoCloseable {
    public static final int IMAGE_SIZE = 32;

    /** Layer widths. */
    public record Config(int c1, int c2, int c3, int hidden, int classes, int groups) {
        public static Config defaults() { return new Config(32, 64, 64, 128, 10, 8); }
    }

    private final Config cfg;
    private final ParamStore store = new ParamStore();
    private final Conv2d conv1, conv2, conv3;
    private final GroupNorm norm1, norm2, norm3;
    private final Linear fc, head;
    private final SiLU act = new SiLU();
    private final Backend backend;
    private Tensor features;

    /** Builds the net and initialises its parameters from {@code seed} (Philox, the same on every backend). */
    public FeatureNet(Backend backend, Config cfg, long seed) {
        this.cfg = cfg;
        this.backend = backend;
        ParamStore.Scope s = store.root();
        Init he = Init.fanAvgUniform(2.0);
        conv1 = new Conv2d(s.child("conv1"), 1, cfg.c1(), 3, 1, 1, true, he);
        norm1 = new GroupNorm(s.child("norm1"), cfg.c1(), cfg.groups(), 1e-5f);
        conv2 = new Conv2d(s.child("conv2"), cfg.c1(), cfg.c2(), 3, 2, 1, true, he);
        norm2 = new GroupNorm(s.child("norm2"), cfg.c2(), cfg.groups(), 1e-5f);
        conv3 = new Conv2d(s.child("conv3"), cfg.c2(), cfg.c3(), 3, 2, 1, true, he);
        norm3 = new GroupNorm(s.child("norm3"), cfg.c3(), cfg.groups(), 1e-5f);
        fc = new Linear(s.child("fc"), cfg.c3() * 8 * 8, cfg.hidden(), true, he);
        head = new Linear(s.child("head"), cfg.hidden(), cfg.classes(), true, Init.DEFAULT);
        store.allocate(backend, seed);
    }

    public Config config() { return cfg; }

    public ParamStore params() { return store; }

    public Backend backend() { return backend; }

    /** Dimension of the feature vectors. */
    public int featureDim() { return cfg.hidden(); }

    /** x [N, 1, 32, 32] → logits [N, classes]; the features of this pass are kept ({@link #lastFeatures}). */
    public Tensor forward(Ctx ctx, Tensor x) {
        if (x.rank() != 4 || x.dim(1) != 1 || x.dim(2) != IMAGE_SIZE || x.dim(3) != IMAGE_SIZE) {
            throw new IllegalArgumentException("the feature net takes [N, 1, 32, 32] images, got " + x.shape());
        }
        Tensor h = norm1.forward(conv1.forward(x), true);
        h = norm2.forward(conv2.forward(h), true);
        h = norm3.forward(conv3.forward(h), true);
        h = h.reshape(Shape.of(x.dim(0), cfg.c3() * 64));
        features = act.forward(fc.forward(h));
        return head.forward(features);
    }

    /** The features [N, hidden] of the last forward pass. */
    public Tensor lastFeatures() { return features; }

    /** Accumulates the parameter gradients for dL/dlogits. */
    public void backward(Tensor dLogits) {
        Tensor d = head.backward(dLogits);
        d = fc.backward(act.backward(d));
        d = d.reshape(Shape.of(d.dim(0), cfg.c3(), 8, 8));
        d = conv3.backward(norm3.backwardInPlace(d));
        d = conv2.backward(norm2.backwardInPlace(d));
        conv1.backward(norm1.backwardInPlace(d), false);
    }

    /** Features and logits of {@code n} images (CHW floats, 32x32x1 each), in batches; host arrays. */
    public Output evaluate(float[] images, int n, int batchSize) {
        int px = IMAGE_SIZE * IMAGE_SIZE, d = featureDim(), k = cfg.classes();
        float[] feats = new float[n * d], logits = new float[n * k];
        Ctx ctx = Ctx.inference(backend);
        float[] buf = new float[0];
        for (int start = 0; start < n; start += batchSize) {
            int b = Math.min(batchSize, n - start);
            if (buf.length != b * px) buf = new float[b * px];
            System.arraycopy(images, start * px, buf, 0, b * px);
            backend.beginStep();
            try (Tensor x = backend.fromArray(buf, Shape.of(b, 1, IMAGE_SIZE, IMAGE_SIZE))) {
                Tensor l = forward(ctx, x);
                backend.copyToHost(feats, start * d, features);
                backend.copyToHost(logits, start * k, l);
            }
        }
        return new Output(n, d, k, feats, logits);
    }

    /** Features [n, dim] and logits [n, classes], row-major. */
    public record Output(int count, int dim, int classes, float[] features, float[] logits) {
        /** The arg-max class of image i. */
        public int predicted(int i) {
            int best = 0;
            for (int c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
            return best;
        }
    }

    @Override public void close() { store.close(); }
}
