package io.github.diffusion4j.backend;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.nn.Precision;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A whole training step and a DDIM loop of the tiny U-Nets in bf16 mixed precision against the same in FP32 (same
 * seeds, weights, batch, noise and timesteps), on the CPU backend, whose bf16 is the reference for the GPU's.
 *
 * <p>The bounds are not derived per op here (CpuBf16Test does that) but from what bf16 can give through a network:
 * with u = 2^-8 of relative rounding at every stored activation and weight, a few dozen layers deep, the output
 * and each gradient tensor move by some u times the depth's amplification: a few percent, not 1e-6 (a wrong dtype
 * path, e.g. a gradient read in the wrong dtype, an unrefreshed weight copy, or a missed rounding, breaks this by far
 * more, or makes the two runs bitwise equal, which the test also refuses).
 */
class Bf16TrainingStepTest {

    @Test void bf16StepTracksTheFp32Step() {
        for (TrainingStepComparison.Variant v : TrainingStepComparison.Variant.values()) {
            TrainingStepComparison.Result r = TrainingStepComparison.compareTraining(CpuBackend.get(), Precision.FP32,
                    CpuBackend.get(), Precision.BF16, v, 1);
            assertTrue(r.lossRef() != r.lossTest(), v + ": bf16 must actually round somewhere");
            assertTrue(r.lossRelErr() < 0.01, v + " loss rel err " + r.lossRelErr());
            double mean = r.gradRelErr().values().stream().mapToDouble(Double::doubleValue).average().orElse(1);
            assertTrue(mean < 0.05, v + " mean gradient rel L2 err " + mean);
            assertTrue(r.worstGradRelErr() < 0.1, v + " worst gradient rel L2 err " + r.worstGradRelErr() + " (" + r.worstGrad() + ")");
            assertEquals(0, r.zeroGradTensors(), v + ": every parameter tensor gets a gradient");
            // AdamW's first update moves each weight by lr sign(g) (m / sqrt(v) = g / |g|): a weight moves
            // differently only where bf16 flipped the sign of a gradient element, which only tiny ones may do
            assertTrue(r.paramsDiffering() < r.paramCount() / 20, v + ": " + r.paramsDiffering() + " of "
                    + r.paramCount() + " weights updated differently");
        }
    }

    @Test void bf16SamplingTracksFp32() {
        for (TrainingStepComparison.Variant v : TrainingStepComparison.Variant.values()) {
            CpuBackend b = CpuBackend.get();
            float[] a = TrainingStepComparison.ddimSamples(b, Precision.FP32, v, 4, null,
                    m -> (xt, ts, l) -> m.forward(Ctx.inference(b), xt, ts, l));
            float[] h = TrainingStepComparison.ddimSamples(b, Precision.BF16, v, 4, null,
                    m -> (xt, ts, l) -> m.forward(Ctx.inference(b), xt, ts, l));
            double err = TrainingStepComparison.relL2(a, h);
            System.out.printf("[%s] DDIM-4 samples bf16 vs fp32: rel L2 err %.2e%n", v, err);
            assertTrue(err > 0 && err < 0.02, v + " samples rel L2 err " + err);
        }
    }
}
