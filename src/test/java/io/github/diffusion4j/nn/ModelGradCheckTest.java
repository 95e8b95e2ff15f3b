package io.github.diffusion4j.nn;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static io.github.diffusion4j.nn.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole models end to end: finite differences of L = Σ model(x, t, labels) ⊙ R against Model.backward, for
 * every parameter tensor (a few elements each plus one random direction over all its elements). Parameters are
 * re-randomised first (zero-initialised layers would switch gradient paths off). ε = 2e-2: round-off in these
 * 30-layer float32 networks is ~10 ulp per output, so a smaller step drowns the difference in noise, while the
 * truncation error at 2e-2 stays below it (checked against ε = 1e-3 ... 1e-1 while writing the test).
 */
class ModelGradCheckTest {
    private final Backend b = CpuBackend.get();

    private GradCheck.Result check(String name, Model m, int batch, float[] labels, boolean training, int fullUpTo,
                                   int subset, Map<String, Integer> extra) {
        return check(name, m, batch, labels, training, fullUpTo, subset, extra, false);
    }

    private GradCheck.Result check(String name, Model m, int batch, float[] labels, boolean training, int fullUpTo,
                                   int subset, Map<String, Integer> extra, boolean richardson) {
        m.params().allocate(b, 1);
        GradCheck.randomize(m.params(), 2, 1.0);
        int s = m.imageSize();
        Tensor x = randn(b, 3, 1f, batch, m.inChannels(), s, s);
        float[] ts = new float[batch];
        for (int i = 0; i < batch; i++) ts[i] = 17 + 431 * i;
        Tensor t = b.fromArray(ts, batch);
        Tensor l = labels == null ? null : b.fromArray(labels, batch);
        GradCheck c = GradCheck.of(name, b).params(m.params()).checkInputs(false)
                .elements(fullUpTo, subset)
                .eps(2e-2)
                .richardson(richardson)
                .forward(() -> m.forward(training ? Ctx.training(b, 77) : Ctx.inference(b), x, t, l))
                .backward(dy -> {
                    m.backward(dy);
                    return null;
                });
        extra.forEach(c::subset);
        GradCheck.Result r = c.run();
        assertEquals(m.params().params().size(), r.maxRel.size());
        // nothing disconnected: every parameter tensor receives a gradient well above round-off
        double globalMax = 0;
        for (float[] g : r.analytic.values()) for (float v : g) globalMax = Math.max(globalMax, Math.abs(v));
        for (Param p : m.params().params()) {
            double max = 0;
            for (float v : r.analytic.get(p.name())) max = Math.max(max, Math.abs(v));
            assertTrue(max > 1e-4 * globalMax, name + ": parameter " + p.name() + " gets no gradient (max |g| " + max
                    + " of " + globalMax + ")");
        }
        return r;
    }

    @Test void tinyPreset() {
        Model m = Presets.create("tiny", 3, 16, 0);
        check("UNet tiny 3x16x16 batch 2", m, 2, null, false, 4, 1, Map.of());
    }

    /** The learned-variance head (improved DDPM): twice the output channels. */
    @Test void tinyLearnedSigma() {
        Model m = Presets.create("tiny", 1, 8, 0, -1f, true);
        assertEquals(2, m.outChannels());
        check("UNet tiny learned variance 1x8x8 -> 2x8x8 batch 2", m, 2, null, false, 4, 1, Map.of());
    }

    @Test void tinyClassConditional() {
        Model m = Presets.create("tiny", 1, 8, 3);
        // one real class and the null class (id 3); classes 0 and 1 are unused
        GradCheck.Result r = check("UNet tiny class-conditional (3 classes) 1x8x8 batch 2", m, 2, new float[] {2, 3},
                false, 4, 1, Map.of("label_embed.weight", 24));
        float[] g = r.analytic.get("label_embed.weight");
        int emb = g.length / 4;
        for (int row = 0; row < 4; row++) {
            double sq = 0;
            for (int j = 0; j < emb; j++) sq += (double) g[row * emb + j] * g[row * emb + j];
            if (row < 2) assertEquals(0.0, sq, "label row " + row + " is unused and must get no gradient");
            else assertTrue(sq > 0, "label row " + row + " is used and must get a gradient");
        }
    }

    @Test void tinyScaleShiftDropoutTraining() {
        UNetConfig cfg = new UNetConfig(1, 1, 8, 16, new int[] {1, 2}, 1, new int[] {8}, 0.2f, 4, 2, 0, true);
        UNet m = new UNet("tiny-ss", cfg);
        check("UNet tiny scale-shift + dropout 0.2 (training) 1x8x8 batch 2", m, 2, null, true, 4, 1, Map.of());
        // dropout really is active in the checked function
        Tensor x = randn(b, 3, 1f, 2, 1, 8, 8), t = b.fromArray(new float[] {17, 448}, 2);
        float[] train = b.toHost(m.forward(Ctx.training(b, 77), x, t, null));
        float[] infer = b.toHost(m.forward(Ctx.inference(b), x, t, null));
        double diff = 0;
        for (int i = 0; i < train.length; i++) diff += Math.abs(train[i] - infer[i]);
        assertTrue(diff > 1e-3 * train.length, "dropout changes the training output: " + diff);
    }

    @Test void deeperUNetWithTwoBlocksPerLevel() {
        // three levels and two residual blocks per level (like medium / ddpm-cifar10): exercises the skip stack
        // bookkeeping beyond the tiny preset (downsample skips, several skips per level, attention at level 1)
        UNetConfig cfg = new UNetConfig(1, 1, 8, 8, new int[] {1, 2, 2}, 2, new int[] {4}, 0f, 4, 1, 0, false);
        check("UNet 3 levels x 2 blocks (ch 8, attn at 4x4) 1x8x8 batch 2", new UNet("deeper", cfg), 2, null, false,
                4, 1, Map.of());
    }

    @Test void seedTiny() {
        // 2 groups: with one channel per group (4 groups for 4 channels) the bias of a conv before a GroupNorm has
        // an exactly zero gradient, which would make its check vacuous. Stronger curvature than the U-Net (no
        // residual paths): Richardson extrapolation keeps the truncation error below round-off.
        Model m = new SeedUNet("seed-tiny", 3, 16, new int[] {4, 8, 8, 8}, 8, 2);
        check("SeedUNet tiny 3x16x16 batch 2", m, 2, null, false, 8, 6, Map.of(), true);
    }

    @Test void modelGradientsAccumulate() {
        Model m = new SeedUNet("seed-tiny", 1, 8, new int[] {4, 8, 8, 8}, 8, 2);
        m.params().allocate(b, 1);
        GradCheck.randomize(m.params(), 2, 1.0);
        Tensor x = randn(b, 3, 1f, 2, 1, 8, 8);
        Tensor t = b.fromArray(new float[] {5, 900}, 2);
        GradCheck.assertAccumulates("SeedUNet tiny", b, m.params(), () -> m.forward(Ctx.inference(b), x, t, null),
                dy -> {
                    m.backward(dy);
                    return null;
                });
    }
}
