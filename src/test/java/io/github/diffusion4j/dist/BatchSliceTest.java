package io.github.diffusion4j.dist;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.data.DataLoader;
import io.github.diffusion4j.data.ShapesDataset;
import io.github.diffusion4j.diffusion.BetaSchedule;
import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.diffusion.TrainingObjective;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.UNet;
import io.github.diffusion4j.nn.UNetConfig;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.train.AdamW;
import io.github.diffusion4j.train.Ema;
import io.github.diffusion4j.train.TrainingStep;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The data-parallel contract without any communication: the slices of a global batch that ranks would compute
 * draw exactly the global batch's samples, flips, timesteps, noise, label dropout and dropout masks, so the mean of
 * their gradients is the global batch's gradient up to the order of the FP32 sums.
 */
class BatchSliceTest {
    static final int B = 4, SIZE = 16;
    static final long SEED = 77;

    @Test
    void slicesOfABatchDrawWhatTheWholeBatchDraws() {
        ShapesDataset data = new ShapesDataset(64, SIZE, 3);
        DataLoader.Options opts = DataLoader.Options.DEFAULT.withFlip(true);
        try (DataLoader whole = new DataLoader(data, B, SEED, opts);
             DataLoader s0 = new DataLoader(data, B, SEED, opts, BatchSlice.ofRank(B, 0, 2));
             DataLoader s1 = new DataLoader(data, B, SEED, opts, BatchSlice.ofRank(B, 1, 2))) {
            for (int k = 0; k < 20; k++) {   // past an epoch boundary (16 batches of 4)
                DataLoader.Batch w = whole.next(), a = s0.next(), b = s1.next();
                float[] joined = new float[w.images().length];
                System.arraycopy(a.images(), 0, joined, 0, a.images().length);
                System.arraycopy(b.images(), 0, joined, a.images().length, b.images().length);
                assertArrayEquals(w.images(), joined, "batch " + k);
                assertArrayEquals(w.labels(), new int[] {a.labels()[0], a.labels()[1], b.labels()[0], b.labels()[1]});
                assertEquals(w.next(), a.next());
                assertEquals(w.next(), b.next());
            }
        }
    }

    /** Two slices × 2 samples against one batch of 4, with every random draw switched on. */
    @Test
    void meanOfTheSlicesGradientsIsTheBatchGradient() { sameGradients(false); }

    /** The same for flow matching (its sigma draws are per sample of the global batch too). */
    @Test
    void flowMatchingToo() { sameGradients(true); }

    void sameGradients(boolean flow) {
        Backend cpu = CpuBackend.get();
        ShapesDataset data = new ShapesDataset(64, SIZE, 3);
        int classes = data.numClasses();
        float[] whole = gradients(cpu, data, classes, null, flow);
        float[] g0 = gradients(cpu, data, classes, BatchSlice.ofRank(B, 0, 2), flow);
        float[] g1 = gradients(cpu, data, classes, BatchSlice.ofRank(B, 1, 2), flow);
        double diff = 0, norm = 0;
        for (int i = 0; i < whole.length; i++) {
            double mean = 0.5 * ((double) g0[i] + g1[i]);
            diff += (mean - whole[i]) * (mean - whole[i]);
            norm += (double) whole[i] * whole[i];
        }
        double rel = Math.sqrt(diff / norm);
        // an FP32 sum of n terms in another order moves by about sqrt(n) ulp of its magnitude: 1e-5 leaves room
        // for the sums over the batch and the pixels, while a wrong noise or mask for one sample moves it by ~1e-1
        assertTrue(norm > 0 && rel < 1e-5, "relative L2 difference " + rel);
    }

    @Test
    void aSliceNeedsADivisibleBatch() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BatchSlice.ofRank(6, 0, 4));
        assertTrue(e.getMessage().contains("not divisible"), e.getMessage());
    }

    /** The flat gradient of one micro-step on {@code slice} (null: the whole batch), from the same initial weights. */
    private static float[] gradients(Backend cpu, ShapesDataset data, int classes, BatchSlice slice, boolean flow) {
        Model model = new UNet("slice", new UNetConfig(3, 3, SIZE, 16, new int[] {1, 2}, 1, new int[] {8}, 0.2f, 4, 2,
                classes, true));
        model.params().allocate(cpu, SEED);
        NoiseSchedule schedule = NoiseSchedule.of(SchedulerConfig.builder().numTrainTimesteps(100)
                .betaSchedule(BetaSchedule.parse("cosine")).build());
        TrainingObjective.Builder ob = TrainingObjective.builder(schedule).offsetNoise(0.1f).labelDropout(0.5f, classes);
        if (flow) ob.flowMatching(true, 3.0);
        else ob.minSnrWeighting(5);
        try (TrainingObjective obj = ob.build();
             AdamW adam = new AdamW(model.params(), new AdamW.Config(0.9f, 0.999f, 1e-8f, 0f));
             Ema ema = new Ema(model.params(), 0.999f, Ema.Warmup.NONE);
             DataLoader loader = new DataLoader(data, B, SEED, DataLoader.Options.DEFAULT, slice)) {
            TrainingStep step = new TrainingStep(model, obj, adam, ema, SEED, slice);
            DataLoader.Batch batch = loader.next();
            try (Tensor x0 = cpu.fromArray(batch.images(), Shape.of(batch.size(), 3, SIZE, SIZE));
                 Tensor labels = cpu.fromArray(toFloat(batch.labels()), batch.size())) {
                model.params().zeroGrad();
                step.forwardBackward(x0, labels, 5);
                return model.params().grads().toArray();
            }
        } finally {
            model.params().close();
        }
    }

    private static float[] toFloat(int[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = v[i];
        return f;
    }
}
