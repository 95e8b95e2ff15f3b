package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.TrainingStepComparison;
import io.github.diffusion4j.backend.TrainingStepComparison.Variant;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole training steps (forward, TrainingObjective loss, backward, AdamW) and a DDIM loop of the tiny U-Net on the
 * GPU against the CPU with the same seeds; the transfer counter and the arena in the steady state; determinism of
 * the GPU itself. Skips cleanly without a GPU.
 */
@Tag("gpu")
class CudaTrainingGpuTest {
    static CudaBackend strict, defaults;

    @BeforeAll static void start() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
        strict = CudaBackend.create(CudaOptions.strictFp32(0));
        defaults = CudaBackend.create(CudaOptions.defaults(0));
    }

    @AfterAll static void stop() {
        if (strict != null) strict.close();
        if (defaults != null) defaults.close();
    }

    static void checkStep(TrainingStepComparison.Result r, double lossTol, double gradTol, double flipFraction) {
        assertTrue(r.lossRelErr() <= lossTol, "loss " + r.lossTest() + " vs " + r.lossRef());
        assertTrue(r.worstGradRelErr() <= gradTol, "gradient of " + r.worstGrad() + ": rel L2 err " + r.worstGradRelErr());
        // AdamW's first steps move each weight by about lr * sign(m): where a gradient is tiny its sign may flip
        // between backends, so a few weights may differ by up to 2 lr, none by more
        assertTrue(r.maxParamDiff() <= 2.05 * TrainingStepComparison.LR, "parameter diff " + r.maxParamDiff());
        assertTrue(r.paramsDiffering() <= flipFraction * r.paramCount(), r.paramsDiffering() + " parameters moved differently");
    }

    @Test void trainingStepMatchesTheCpuInFp32() {
        for (Variant v : Variant.values()) {
            checkStep(TrainingStepComparison.compareTraining(CpuBackend.get(), strict, v, 2), 1e-5, 1e-3, 0.01);
        }
    }

    @Test void trainingStepMatchesTheCpuWithTf32Convolutions() {
        checkStep(TrainingStepComparison.compareTraining(CpuBackend.get(), defaults, Variant.TINY, 1), 1e-2, 5e-2, 0.05);
    }

    @Test void theGpuIsDeterministic() {
        float[][] grads = new float[2][];
        double[] loss = new double[2];
        for (int k = 0; k < 2; k++) {
            try (TrainingStepComparison.Run run = new TrainingStepComparison.Run(strict, Variant.TINY_FULL)) {
                loss[k] = run.step(0);
                loss[k] += run.step(1);
                grads[k] = run.model.params().grads().toArray();
            }
        }
        assertEquals(loss[0], loss[1], 0.0);
        assertArrayEquals(grads[0], grads[1], "two identical runs give bitwise identical gradients");
    }

    /**
     * Inside a training step only the logged per-sample losses come to the host, nothing goes to the device (the
     * timesteps and loss weights are drawn there), and nothing is allocated.
     */
    @Test void steadyStateStepsCopyOnlyTheLossAndAllocateNothing() {
        try (TrainingStepComparison.Run run = new TrainingStepComparison.Run(strict, Variant.TINY)) {
            run.step(0);
            run.step(1);
            CudaBackend.MemoryStats m0 = strict.memoryStats();
            CudaBackend.Transfers t0 = strict.transfers();
            run.step(2);
            run.step(3);
            CudaBackend.MemoryStats m1 = strict.memoryStats();
            CudaBackend.Transfers d = strict.transfers().minus(t0);
            System.out.println("two steady-state steps: " + d + "; memory " + m1);
            assertEquals(2, d.deviceToHostCount(), "one device-to-host copy per step (the per-sample mse)");
            assertEquals(2L * 4 * TrainingStepComparison.BATCH, d.deviceToHostBytes());
            assertEquals(0, d.hostToDeviceCount(), "no host-to-device copy (timesteps and loss weights are drawn on the device)");
            assertEquals(m0.allocations(), m1.allocations(), "no cuMemAlloc in the steady state");
            assertEquals(m0.arenaCapacity(), m1.arenaCapacity());
        }
    }

    /**
     * The whole update of a training step (forward, backward, the update's gate, AdamW, EMA) is queued without the
     * host waiting once: the gradient norm, clipping and the skip are decided on the device, and what the update did
     * comes back with the queued work, read only when asked.
     */
    @Test void aTrainingStepIsQueuedWithoutAHostWait() {
        try (TrainingStepComparison.Run run = new TrainingStepComparison.Run(strict, Variant.TINY);
             io.github.diffusion4j.train.AdamW adam = new io.github.diffusion4j.train.AdamW(run.model.params(),
                     io.github.diffusion4j.train.AdamW.Config.defaults());
             io.github.diffusion4j.train.Ema ema = new io.github.diffusion4j.train.Ema(run.model.params(), 0.999f,
                     io.github.diffusion4j.train.Ema.Warmup.DDPM)) {
            var step = new io.github.diffusion4j.train.TrainingStep(run.model, run.objective, adam, ema, 5L);
            for (int k = 0; k < 2; k++) {
                run.model.params().zeroGrad();
                step.forwardBackward(run.x0, null, k).loss();
                step.update(1e-3f, 1f, 1).gradNorm();
            }
            CudaBackend.Launches l0 = strict.launches();
            run.model.params().zeroGrad();
            var loss = step.forwardBackward(run.x0, null, 2);
            var update = step.update(1e-3f, 0.5f, 1);
            long waits = strict.launches().minus(l0).hostSyncs();
            assertEquals(0, waits, "host waits while queueing a training step");
            assertTrue(Double.isFinite(loss.loss()) && update.gradNorm() > 0 && !update.skipped());
            assertEquals(3, adam.step(), "three updates applied, counted on the device");
        }
    }

    @Test void ddimSamplingMatchesTheCpu() {
        for (Variant v : Variant.values()) {
            float[] cpu = TrainingStepComparison.ddimSamples(CpuBackend.get(), v, 5, null);
            List<Long> allocs = new ArrayList<>();
            float[] gpu = TrainingStepComparison.ddimSamples(strict, v, 5,
                    (i, t, x, x0) -> allocs.add(strict.memoryStats().allocations()));
            double err = TrainingStepComparison.relL2(cpu, gpu);
            System.out.printf("DDIM 5 steps (eta 0.5) %s: GPU vs CPU rel L2 err %.2e; allocations per step %s%n", v, err, allocs);
            assertTrue(err <= 1e-3, v + ": rel L2 err " + err);
            for (int i = 2; i < allocs.size(); i++) {
                assertEquals(allocs.get(1), allocs.get(i), "sampling step " + i + " allocated device memory");
            }
        }
    }
}
