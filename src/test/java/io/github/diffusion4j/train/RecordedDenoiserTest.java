package io.github.diffusion4j.train;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** On a backend that cannot record (the CPU) RecordedDenoiser is the direct forward pass. The CUDA side: CudaGraphGpuTest. */
class RecordedDenoiserTest {
    @Test void onTheCpuEveryCallRunsDirectly() {
        Backend b = CpuBackend.get();
        Model m = Presets.create("tiny", 3, 16, 0);
        m.params().allocate(b, 3);
        try (RecordedDenoiser rd = new RecordedDenoiser(m); Tensor x = b.empty(Shape.of(2, 3, 16, 16));
             Tensor t = b.fromArray(new float[] {10, 900}, Shape.of(2))) {
            b.randn(x, 1, 0);
            float[] want = new ModelDenoiser(m).predict(x, t, null).toArray();
            for (int k = 0; k < 3; k++) assertArrayEquals(want, rd.predict(x, t, null).toArray(), "call " + k);
            assertEquals(0, rd.recordings());
            assertEquals(0, rd.replays());
            assertTrue(rd.recordingFailure().contains("cpu"), rd.recordingFailure());
            assertNull(b.record(() -> {}));
        } finally {
            m.params().close();
        }
    }
}
