package io.github.diffusion4j.bench;

import io.github.diffusion4j.dist.AllReduce;
import io.github.diffusion4j.dist.GradientBuckets;
import io.github.diffusion4j.dist.ScalingModel;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * {@code bench --scaling}'s measurement: single-GPU training steps with the data-parallel buckets armed as a rank
 * arms them, where each bucket's all-reduce would start marks the stream instead ({@link Backend#timeline}: CUDA
 * events on the GPU, the clock on the CPU). Per step: start, each bucket's ready time, the end of the backward pass
 * (after the last bucket) and the end of the update. The {@link ScalingModel.Profile} is the timed step of median
 * length, all its marks together (medians of each mark separately could mix steps: a garbage-collection pause in
 * one step's update would shift its end but not its buckets). Nothing is communicated, so the step is the plain
 * single-device one.
 */
public final class BucketProfile {
    private BucketProfile() {}

    /** Marks the timeline where an all-reduce would start, and at the end of the backward pass. */
    private static final class Marks implements AllReduce {
        Backend.Timeline timeline;

        @Override public void start(Tensor t) { timeline.mark(); }

        @Override public void finish(String what) { timeline.mark(); }

        @Override public int ranks() { return 1; }

        @Override public void close() {}
    }

    /** What was measured: the profile and the buckets' layout. */
    public record Result(ScalingModel.Profile profile, int batchSize, long capBytes, int steps) {}

    public static Result measure(Model model, TrainSettings settings, Backend b, int batch, int warmup, int steps,
                                 long capBytes, long seed, Consumer<String> progress) {
        Shape shape = Shape.of(batch, model.inChannels(), model.imageSize(), model.imageSize());
        Marks marks = new Marks();
        GradientBuckets buckets = new GradientBuckets(model.params(), marks, capBytes, GradientBuckets.DEFAULT_FIRST_BYTES);
        int k = buckets.buckets().size();
        long[] bytes = new long[k];
        for (int i = 0; i < k; i++) bytes[i] = buckets.buckets().get(i).bytes();
        double[][] samples = new double[k + 2][steps];   // ready times, backward end, step end
        try (Tensor x0 = b.empty(shape); BenchTraining step = new BenchTraining(model, settings, seed)) {
            b.randn(x0, seed ^ 0x5EEDL, 0);
            b.clamp(x0, x0, -1f, 1f);
            progress.accept(String.format(Locale.ROOT, "scaling profile: %d buckets of at most %.1f MB (%.1f MB of "
                    + "gradients), %d warm-up + %d timed steps, batch %d", k, capBytes / 1048576.0,
                    Arrays.stream(bytes).sum() / 1048576.0, warmup, steps, batch));
            for (int s = 1; s <= warmup + steps; s++) {
                try (Backend.Timeline t = b.timeline()) {
                    marks.timeline = t;
                    step.runInBuckets(x0, null, s, buckets, t);
                    double[] ms = t.millis();   // start, k ready, backward end, step end
                    if (ms.length != k + 3) throw new IllegalStateException(ms.length + " marks for " + k + " buckets");
                    if (s > warmup) for (int i = 0; i < k + 2; i++) samples[i][s - warmup - 1] = ms[i + 1];
                    progress.accept(String.format(Locale.ROOT, "  %s step %d: %.3f ms (backward done at %.3f)",
                            s <= warmup ? "warm-up" : "timed", s, ms[k + 2], ms[k + 1]));
                }
            }
        } finally {
            buckets.close();
        }
        // the step of median length (the lower middle one for an even count)
        Integer[] order = new Integer[steps];
        for (int i = 0; i < steps; i++) order[i] = i;
        Arrays.sort(order, (a, c) -> Double.compare(samples[k + 1][a], samples[k + 1][c]));
        int m = order[(steps - 1) / 2];
        double[] ready = new double[k];
        for (int i = 0; i < k; i++) ready[i] = samples[i][m];
        return new Result(new ScalingModel.Profile(samples[k + 1][m], samples[k][m], ready, bytes), batch, capBytes, steps);
    }
}
