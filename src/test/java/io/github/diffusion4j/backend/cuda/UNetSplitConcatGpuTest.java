package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.TrainingStepComparison;
import io.github.diffusion4j.backend.TrainingStepComparison.Variant;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.nn.UNet;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * UNet inference that takes the up path's [h, skip] as two parts instead of their concatenation
 * ({@code bench --unet-split-concat}, ResBlock.forwardSplit): the same output as the concatenated forward
 * pass on the GPU and as the CPU's, up to the order of the convolutions' sums. Skips without a GPU.
 */
@Tag("gpu")
class UNetSplitConcatGpuTest {
    @Test void inferenceOnTwoPartsMatchesTheConcatenatedForwardPass() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
        float[] w = TrainingStepComparison.initialWeights(Variant.TINY);
        int n = TrainingStepComparison.BATCH, c = TrainingStepComparison.CHANNELS, s = TrainingStepComparison.SIZE;
        float[] x = TrainingStepComparison.batch();
        float[] t = new float[n];
        for (int i = 0; i < n; i++) t[i] = 100 + 250 * i;

        float[] cpu = forward(CpuBackend.get(), w, x, t, false, null);
        try (CudaBackend gpu = CudaBackend.create(CudaOptions.strictFp32(0))) {
            float[] whole = forward(gpu, w, x, t, false, null);
            int[] split = {0};
            float[] parts = forward(gpu, w, x, t, true, split);
            // tiny (16 base channels, groups of 4): [32 | 32] and [16 | 16] keep whole groups, [32 | 16] does not
            assertTrue(split[0] > 0 && split[0] < 6, "blocks run on two parts: " + split[0]);
            double scale = 0, dWhole = 0, dCpu = 0;
            for (int i = 0; i < whole.length; i++) {
                scale = Math.max(scale, Math.abs(whole[i]));
                dWhole = Math.max(dWhole, Math.abs(parts[i] - whole[i]));
                dCpu = Math.max(dCpu, Math.abs(parts[i] - cpu[i]));
            }
            System.out.printf("split blocks %d: max |two parts - concatenated| %.3g, vs the CPU %.3g (output scale %.3g)%n",
                    split[0], dWhole, dCpu, scale);
            assertTrue(scale > 0.1, "a trivial output: " + scale);
            assertTrue(dWhole <= 1e-5 * scale, "two parts vs the concatenation: " + dWhole);
            assertTrue(dCpu <= 1e-5 * scale, "two parts vs the CPU: " + dCpu);
        }
        assertEquals(n * c * s * s, cpu.length);
    }

    /** One inference forward of the tiny U-Net with weights w; split[0] receives the number of two-part blocks. */
    static float[] forward(Backend b, float[] w, float[] x, float[] t, boolean splitOn, int[] split) {
        UNet m = (UNet) Variant.TINY.build();
        m.params().allocate(b, 1);
        try {
            b.copyFromHost(m.params().values(), w, 0);
            m.splitConcatInInference(splitOn);
            int n = TrainingStepComparison.BATCH, c = TrainingStepComparison.CHANNELS, s = TrainingStepComparison.SIZE;
            try (Tensor xt = b.fromArray(x, Shape.of(n, c, s, s)); Tensor ts = b.fromArray(t, Shape.of(n))) {
                b.beginStep();
                float[] out = m.forward(Ctx.inference(b), xt, ts, null).toArray();
                if (split != null) split[0] = m.splitBlocksLastForward();
                return out;
            }
        } finally {
            m.params().close();
        }
    }
}
