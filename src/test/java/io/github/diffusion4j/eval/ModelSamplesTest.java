package io.github.diffusion4j.eval;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.diffusion.Scheduler;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.train.TrainConfig;
import io.github.diffusion4j.train.Trainer;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** Drawing evaluation samples: deterministic per seed and batch layout, balanced labels, cancellable between batches. */
class ModelSamplesTest {
    @Test void drawsDeterministicallyAndStopsBetweenBatchesWhenAsked() {
        TrainConfig cfg = new TrainConfig();
        Model m = Presets.create("tiny", 1, 16, 3, -1f);
        m.params().allocate(CpuBackend.get(), 1);
        try (Scheduler s = ModelSamples.scheduler("ddim", Trainer.schedulerConfig(cfg), 2)) {
            int[] labels = ModelSamples.balancedLabels(5, 3);
            assertArrayEquals(new int[] {0, 1, 2, 0, 1}, labels);
            assertNull(ModelSamples.balancedLabels(5, 0));
            float[] a = ModelSamples.draw(m, s, 5, 2, 7, labels, 1f), b = ModelSamples.draw(m, s, 5, 2, 7, labels, 1f);
            assertEquals(5 * 16 * 16, a.length);
            assertArrayEquals(a, b);
            assertFalse(java.util.Arrays.equals(a, ModelSamples.draw(m, s, 5, 2, 8, labels, 1f)), "another seed");
            AtomicInteger asked = new AtomicInteger();
            assertNull(ModelSamples.draw(m, s, 5, 2, 7, labels, 1f, () -> asked.incrementAndGet() > 1));
            assertEquals(2, asked.get(), "stopped before the second of three batches");
        } finally {
            m.params().close();
        }
        assertThrows(IllegalArgumentException.class, () -> ModelSamples.scheduler("karras", Trainer.schedulerConfig(cfg), 2));
        // one name, one scheduler per objective: euler/heun are flow-match schedulers on flow runs, EDM's on edm runs,
        // and the sigma-space view of the VP model on ddpm runs
        io.github.diffusion4j.diffusion.SchedulerConfig base = Trainer.schedulerConfig(cfg);
        java.util.function.Function<io.github.diffusion4j.diffusion.Objective, ModelSamples.Setup> setup = o ->
                new ModelSamples.Setup(o, base, 1, io.github.diffusion4j.diffusion.EdmPreconditioning.of(0.5), false,
                        io.github.diffusion4j.diffusion.EdmScheduler.Churn.NONE, null);
        assertTrue(ModelSamples.scheduler("euler", setup.apply(io.github.diffusion4j.diffusion.Objective.FLOW), 2)
                instanceof io.github.diffusion4j.diffusion.FlowMatchEulerScheduler);
        assertEquals(3, ModelSamples.scheduler("heun", setup.apply(io.github.diffusion4j.diffusion.Objective.FLOW), 2).timesteps().length,
                "2n - 1 evaluations");
        assertTrue(ModelSamples.scheduler("heun", setup.apply(io.github.diffusion4j.diffusion.Objective.EDM), 2)
                instanceof io.github.diffusion4j.diffusion.EdmScheduler);
        assertTrue(ModelSamples.scheduler("heun", base, 2) instanceof io.github.diffusion4j.diffusion.EdmScheduler);
        assertThrows(IllegalArgumentException.class, () -> ModelSamples.scheduler("ddim",
                setup.apply(io.github.diffusion4j.diffusion.Objective.EDM), 2));
        io.github.diffusion4j.diffusion.Objective ddpm = io.github.diffusion4j.diffusion.Objective.DDPM;
        assertEquals(20, ddpm.defaultSteps("dpmpp"));
        assertEquals(100, ddpm.defaultSteps("ddpm"));
        assertEquals(50, ddpm.defaultSteps("ddim"));
        assertEquals(18, io.github.diffusion4j.diffusion.Objective.EDM.defaultSteps("heun"), "EDM's 35 evaluations");
    }
}
