package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.TrainingStepComparison;
import io.github.diffusion4j.backend.TrainingStepComparison.Variant;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.train.ModelDenoiser;
import io.github.diffusion4j.train.RecordedDenoiser;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Recordings (CUDA graphs) and the sampling path that replays the model's forward pass from one. Skips without a GPU. */
@Tag("gpu")
class CudaGraphGpuTest {
    static CudaBackend gpu;

    @BeforeAll static void start() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
        gpu = CudaBackend.create(CudaOptions.strictFp32(0));
    }

    @AfterAll static void stop() {
        if (gpu != null) gpu.close();
    }

    /** Recording runs nothing; each replay repeats the work on the memory's current contents. */
    @Test void aRecordingRunsOnlyWhenReplayed() {
        try (Tensor a = gpu.zeros(Shape.of(10))) {
            gpu.fill(a, 1.5f);
            Backend.Recording r = gpu.record(() -> gpu.scale(a, a, 2f));
            assertNotNull(r, gpu.lastRecordingFailure());
            assertEquals(1.5f, a.toArray()[9], "recording ran the work");
            CudaBackend.Launches l0 = gpu.launches();
            assertTrue(r.replay());
            assertTrue(r.replay());
            assertEquals(2, gpu.launches().minus(l0).graphLaunches());
            assertEquals(0, gpu.launches().minus(l0).kernels());
            assertEquals(6f, a.toArray()[9]);
            gpu.fill(a, -1f);
            assertTrue(r.replay());
            assertEquals(-2f, a.toArray()[0]);
            r.close();
            assertThrows(IllegalStateException.class, r::replay);
        }
    }

    /** Host waits, host copies and allocations cannot be recorded: record() returns null and nothing has run. */
    @Test void whatCannotBeRecordedRunsNothingAndLeavesTheStreamUsable() {
        try (Tensor a = gpu.zeros(Shape.of(8))) {
            assertNull(gpu.record(() -> {
                gpu.fill(a, 3f);
                a.toArray();
            }));
            assertTrue(gpu.lastRecordingFailure().contains("while recording"), gpu.lastRecordingFailure());
            assertNull(gpu.record(() -> gpu.copyFromHost(a, new float[8], 0)));
            assertNull(gpu.record(() -> gpu.zeros(Shape.of(4)).close()));
            assertNull(gpu.record(gpu::synchronize));
            assertArrayEquals(new float[8], a.toArray(), "the refused work ran");
            // an exception of the work itself propagates, and the stream is out of capture mode afterwards
            assertThrows(IllegalArgumentException.class, () -> gpu.record(() -> {
                gpu.fill(a, 5f);
                throw new IllegalArgumentException("from the work");
            }));
            gpu.fill(a, 2f);
            assertEquals(2f, a.toArray()[7]);
        }
    }

    /** A recording may use memory that was freed after it was made: replay refuses then, and asks for a new one. */
    @Test void aRecordingGoesStaleWhenMemoryIsFreed() {
        try (Tensor a = gpu.zeros(Shape.of(4))) {
            Backend.Recording r = gpu.record(() -> gpu.fill(a, 7f));
            assertNotNull(r);
            gpu.zeros(Shape.of(16)).close();
            assertFalse(r.replay());
            assertEquals(0f, a.toArray()[0]);
            r.close();
        }
    }

    /**
     * DDIM sampling (eta 0.5, and classifier-free guidance for the conditional variant) through RecordedDenoiser gives
     * exactly the samples of the direct forward pass: the first evaluation runs directly, the second is recorded, all
     * later ones are replays of that one recording, each one graph launch beside three input copies.
     */
    @Test void recordedSamplingIsBitwiseTheDirectOne() {
        int steps = 6;
        for (Variant v : Variant.values()) {
            float[] direct = TrainingStepComparison.ddimSamples(gpu, v, steps, null, ModelDenoiser::new);
            RecordedDenoiser[] rd = new RecordedDenoiser[1];
            long[] graphLaunches = new long[steps];
            CudaBackend.Launches[] before = {gpu.launches()};
            float[] recorded = TrainingStepComparison.ddimSamples(gpu, v, steps, (i, t, x, x0) -> {
                graphLaunches[i] = gpu.launches().minus(before[0]).graphLaunches();
                before[0] = gpu.launches();
            }, m -> rd[0] = new RecordedDenoiser(m));
            System.out.printf("%s: %d recordings, %d replays, graph launches per step %s%n", v, rd[0].recordings(),
                    rd[0].replays(), java.util.Arrays.toString(graphLaunches));
            assertNull(rd[0].recordingFailure());
            assertArrayEquals(direct, recorded, v + ": replayed sampling differs from the direct one");
            assertEquals(1, rd[0].recordings(), v.toString());
            assertEquals(steps - 1, rd[0].replays(), v.toString());
            assertEquals(0, graphLaunches[0]);
            for (int i = 1; i < steps; i++) assertEquals(1, graphLaunches[i], v + " step " + i);
        }
    }

    /**
     * The new samplers through RecordedDenoiser: EDM's Heun with churn (the scheduler's input-scaling buffer feeds the
     * recording) and DDPM on a learned-variance model (the doubled output) give exactly the direct samples.
     */
    @Test void recordedEdmAndLearnedVarianceSamplingIsBitwiseTheDirectOne() {
        io.github.diffusion4j.nn.Model m = io.github.diffusion4j.nn.Presets.create("tiny", 3, 16, 0, -1f, true);
        m.params().allocate(gpu, 5);
        for (io.github.diffusion4j.nn.Param p : m.params().params()) {
            if (!p.name().startsWith("conv_out")) continue;   // zero-initialised: give the output something to say
            float[] w = new float[(int) p.value().numel()];
            io.github.diffusion4j.tensor.Philox.fillNormal(w, 0, 9, 0, 0, w.length);
            for (int i = 0; i < w.length; i++) w[i] *= 0.05f;
            gpu.copyFromHost(p.value(), w, 0);
        }
        java.util.List<java.util.function.Supplier<io.github.diffusion4j.diffusion.Scheduler>> schedulers = java.util.List.of(
                () -> new io.github.diffusion4j.diffusion.EdmScheduler(io.github.diffusion4j.diffusion.EdmPreconditioning.of(0.5),
                        true, true, new io.github.diffusion4j.diffusion.EdmScheduler.Churn(10, 0.05, 50, 1), 1000),
                () -> new io.github.diffusion4j.diffusion.DdpmScheduler(io.github.diffusion4j.diffusion.SchedulerConfig.builder()
                        .varianceType(io.github.diffusion4j.diffusion.VarianceType.LEARNED_RANGE).build()));
        try {
            for (var make : schedulers) {
                float[][] r = new float[2][];
                for (int k = 0; k < 2; k++) {
                    try (io.github.diffusion4j.diffusion.Scheduler s = make.get();
                         RecordedDenoiser rd = k == 1 ? new RecordedDenoiser(m) : null) {
                        s.setTimesteps(4);
                        io.github.diffusion4j.diffusion.Denoiser d = k == 1 ? rd : new ModelDenoiser(m);
                        try (Tensor x = new io.github.diffusion4j.diffusion.Sampler(s, d).seed(2).sample(gpu, Shape.of(2, 3, 16, 16))) {
                            r[k] = x.toArray();
                        }
                        if (rd != null) {
                            assertNull(rd.recordingFailure());
                            assertTrue(rd.replays() > 0, "replayed");
                        }
                    }
                }
                assertArrayEquals(r[0], r[1], "replayed sampling differs from the direct one");
            }
        } finally {
            m.params().close();
        }
    }

    /** A new input shape gets its own direct call and recording; freed memory makes it record again; same results. */
    @Test void recordsAgainForANewShapeAndAfterMemoryWasFreed() {
        var m = Variant.TINY.build();
        m.params().allocate(gpu, 11);
        try (RecordedDenoiser rd = new RecordedDenoiser(m)) {
            for (int n : new int[] {2, 3}) {
                Shape shape = Shape.of(n, 3, 16, 16);
                try (Tensor x = gpu.empty(shape); Tensor t = gpu.zeros(Shape.of(n))) {
                    gpu.randn(x, 5, 0);
                    gpu.fill(t, 250f);
                    float[] want = new ModelDenoiser(m).predict(x, t, null).toArray();
                    long rec0 = rd.recordings();
                    for (int k = 0; k < 3; k++) assertArrayEquals(want, rd.predict(x, t, null).toArray(), "batch " + n + " call " + k);
                    assertEquals(rec0 + 1, rd.recordings());
                    gpu.zeros(Shape.of(32)).close();   // frees device memory: the next call records anew
                    assertArrayEquals(want, rd.predict(x, t, null).toArray());
                    assertEquals(rec0 + 2, rd.recordings());
                }
            }
            assertNull(rd.recordingFailure());
        } finally {
            m.params().close();
        }
    }

    /** With profiling on nothing is recorded, and the denoiser falls back to direct calls. */
    @Test void profilingTurnsRecordingOff() {
        gpu.startProfile();
        try {
            assertNull(gpu.record(() -> {}));
        } finally {
            gpu.stopProfile();
        }
        assertEquals("profiling", gpu.lastRecordingFailure());
    }
}
