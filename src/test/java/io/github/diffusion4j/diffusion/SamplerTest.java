package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** img2img and inpainting building blocks, reproducibility and callbacks of the sampling loop. */
class SamplerTest {
    static final Backend B = CpuBackend.get();
    static final int H = 32, W = 32, NUM = H * W;

    /** The per-pixel optimal epsilon for N(0.4, 0.5^2) data (pixels do not interact). */
    static Denoiser gaussian(NoiseSchedule s) {
        return (xt, ts, labels) -> {
            float[] x = xt.toArray();
            double a = s.alphaBar((int) ts.toArray()[0]), d = a * 0.25 + 1 - a;
            float[] out = new float[x.length];
            for (int i = 0; i < x.length; i++) out[i] = (float) (Math.sqrt(1 - a) * (x[i] - Math.sqrt(a) * 0.4) / d);
            return B.fromArray(out, xt.shape());
        };
    }

    static Tensor image(long seed) {
        float[] x = new float[NUM];
        Philox.fillUniform(x, 0, seed, 0, 0, NUM);
        for (int i = 0; i < NUM; i++) x[i] = 2 * x[i] - 1;
        return B.fromArray(x, 1, 1, H, W);
    }

    static Tensor halfMask() {
        float[] m = new float[NUM];
        for (int i = 0; i < NUM; i++) m[i] = (i % W) < W / 2 ? 1f : 0f;   // left half known
        return B.fromArray(m, 1, 1, H, W);
    }

    @Test
    void inpaintingKeepsKnownPixelsAndLeavesTheRestToTheSampler() {
        for (String kind : new String[] {"ddim", "ddpm", "dpm"}) {
            Scheduler s = switch (kind) {
                case "ddim" -> new DdimScheduler(SchedulerConfig.builder().clipSample(false).build());
                case "ddpm" -> new DdpmScheduler(SchedulerConfig.builder().clipSample(false).build());
                default -> new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults().build());
            };
            s.setTimesteps(kind.equals("ddpm") ? 100 : 20);
            Tensor original = image(5), mask = halfMask();
            float[] orig = original.toArray(), m = mask.toArray();
            List<float[]> firstStep = new ArrayList<>();
            float[] out = new Sampler(s, gaussian(s.schedule())).seed(17)
                    .callback((i, t, x, x0) -> { if (i == 0) firstStep.add(x.toArray()); })
                    .inpaint(original, mask, 1.0).toArray();
            float[] plain = new Sampler(s, gaussian(s.schedule())).seed(17).sample(B, Shape.of(1, 1, H, W)).toArray();
            int known = 0, same = 0;
            for (int i = 0; i < NUM; i++) {
                if (m[i] == 1f) {
                    assertEquals(orig[i], out[i], 0f, kind + ": known pixel " + i + " must equal the original");
                    known++;
                } else if (out[i] == plain[i]) {
                    same++;
                }
            }
            // after the first step the known region is the original re-noised to the new level (fresh noise)
            int t0 = s.timesteps()[0];
            double ab = s.outputAlphaBar(t0);
            long noiseAt = NUM + (kind.equals("ddpm") ? NUM : 0);   // initial noise, then DDPM's step noise
            double worst = 0;
            for (int i = 0; i < NUM; i++) {
                if (m[i] == 1f) {
                    double expect = Math.sqrt(ab) * orig[i] + Math.sqrt(1 - ab) * Philox.normal(17, noiseAt + i);
                    worst = Math.max(worst, Math.abs(firstStep.get(0)[i] - expect));
                }
            }
            System.out.printf("inpaint %-4s: %d known pixels equal the original; %d/%d generated pixels equal unmasked sampling; "
                    + "step-0 known region vs re-noised original max |err| %.2e%n", kind, known, same, NUM - known, worst);
            assertTrue(worst < 1e-5);
            if (!kind.equals("ddpm")) {
                // deterministic solvers and a per-pixel model: generated pixels are exactly those of plain sampling
                assertEquals(NUM - known, same);
            }
        }
    }

    @Test
    void img2imgStartsFromTheNoisedInit() {
        DdimScheduler s = new DdimScheduler(SchedulerConfig.builder().clipSample(false).build());
        s.setTimesteps(10);
        Tensor init = image(8);
        float[] in = init.toArray();
        List<Integer> seenT = new ArrayList<>();
        List<float[]> firstInput = new ArrayList<>();
        Denoiser g = gaussian(s.schedule());
        Denoiser recording = (x, t, l) -> {
            seenT.add((int) t.toArray()[0]);
            if (firstInput.isEmpty()) firstInput.add(x.toArray());
            return g.predict(x, t, l);
        };
        float[] out = new Sampler(s, recording).seed(3).img2img(init, 0.6).toArray();
        assertEquals(List.of(500, 400, 300, 200, 100, 0), seenT, "the last int(10 * 0.6) = 6 timesteps");
        double a = s.schedule().alphaBar(500), worst = 0;
        for (int i = 0; i < NUM; i++) {
            double expect = Math.sqrt(a) * in[i] + Math.sqrt(1 - a) * Philox.normal(3, i);
            worst = Math.max(worst, Math.abs(firstInput.get(0)[i] - expect));
        }
        System.out.printf("img2img strength 0.6: start = q_sample(init, t=500) max |err| %.2e%n", worst);
        assertTrue(worst < 1e-6);
        float[] again = new Sampler(s, g).seed(3).img2img(init, 0.6).toArray();
        assertArrayEquals(out, again, "same seed, same result");
    }

    @Test
    void stochasticSamplingIsReproducible() {
        DdpmScheduler s = new DdpmScheduler();
        s.setTimesteps(20);
        Denoiser g = gaussian(s.schedule());
        float[] a = new Sampler(s, g).seed(9).sample(B, Shape.of(2, 1, 8, 8)).toArray();
        float[] b = new Sampler(s, g).seed(9).sample(B, Shape.of(2, 1, 8, 8)).toArray();
        float[] c = new Sampler(s, g).seed(10).sample(B, Shape.of(2, 1, 8, 8)).toArray();
        assertArrayEquals(a, b);
        assertTrue(!java.util.Arrays.equals(a, c));
    }

    @Test
    void maskShapes() {
        Shape img = Shape.of(2, 3, 8, 8);
        for (Shape ok : new Shape[] {Shape.of(8, 8), Shape.of(1, 1, 8, 8), Shape.of(3, 8, 8), Shape.of(1, 3, 8, 8),
                Shape.of(2, 3, 8, 8)}) {
            Sampler.checkMask(ok, img);
        }
        for (Shape bad : new Shape[] {Shape.of(2, 1, 8, 8), Shape.of(8), Shape.of(4, 4), Shape.of(1, 2, 8, 8)}) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> Sampler.checkMask(bad, img));
            assertTrue(e.getMessage().contains("does not fit"), e.getMessage());
        }
        Sampler.checkMask(Shape.of(1, 1, 1, 8), Shape.of(2, 3, 1, 8));
    }
}
