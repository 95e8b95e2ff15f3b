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
        // the flow-matching samplers (for runs trained with --objective flow)
        assertTrue(ModelSamples.scheduler("euler", Trainer.schedulerConfig(cfg), 2)
                instanceof io.github.diffusion4j.diffusion.FlowMatchEulerScheduler);
        assertEquals(3, ModelSamples.scheduler("heun", Trainer.schedulerConfig(cfg), 2).timesteps().length, "2n - 1 evaluations");
        assertEquals(20, ModelSamples.defaultSteps("dpmpp"));
        assertEquals(100, ModelSamples.defaultSteps("ddpm"));
        assertEquals(50, ModelSamples.defaultSteps("ddim"));
    }
}
