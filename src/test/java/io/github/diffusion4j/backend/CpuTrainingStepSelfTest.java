package io.github.diffusion4j.backend;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole-step comparison harness run on two CPU backends: training steps and a DDIM loop agree bit for bit
 * (the harness is sound and the CPU path is deterministic), and every parameter receives a gradient. The same
 * harness compares the CUDA backend with the CPU in the gpu-tagged tests.
 */
class CpuTrainingStepSelfTest {

    @Test void trainingStepsAgreeBitwise() {
        for (TrainingStepComparison.Variant v : TrainingStepComparison.Variant.values()) {
            TrainingStepComparison.Result r = TrainingStepComparison.compareTraining(CpuBackend.get(), new CpuBackend(), v, 2);
            assertEquals(r.lossRef(), r.lossTest(), 0.0, v + " loss");
            assertEquals(0.0, r.worstGradRelErr(), v + " gradients");
            assertEquals(0, r.paramsDiffering(), v + " parameters");
            assertEquals(0, r.zeroGradTensors(), v + ": every parameter tensor gets a gradient");
            assertTrue(r.lossRef() > 0 && Double.isFinite(r.lossRef()));
        }
    }

    @Test void ddimSamplingAgreesBitwise() {
        for (TrainingStepComparison.Variant v : TrainingStepComparison.Variant.values()) {
            float[] a = TrainingStepComparison.ddimSamples(CpuBackend.get(), v, 3, null);
            float[] b = TrainingStepComparison.ddimSamples(new CpuBackend(), v, 3, null);
            assertArrayEquals(a, b, v.toString());
            double norm = 0;
            for (float x : a) norm += x * x;
            assertTrue(norm > 0 && Double.isFinite(norm));
        }
    }
}
