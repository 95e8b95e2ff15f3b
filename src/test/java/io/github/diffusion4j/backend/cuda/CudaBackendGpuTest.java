package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.Backends;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Memory, transfers, arena generations, lifecycle and selection of the CUDA backend on a GPU. Skips without one. */
@Tag("gpu")
class CudaBackendGpuTest {
    static CudaBackend gpu;

    @BeforeAll static void start() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
        gpu = CudaBackend.create(CudaOptions.strictFp32(0));
        System.out.println(gpu.description());
    }

    @AfterAll static void stop() {
        if (gpu != null) gpu.close();
    }

    /**
     * The timed algorithm search (cudnnFind*) runs twice per shape and each algorithm counts with its best time:
     * every direction lists its candidates with a time from each pass, fastest first, and the plan runs one of those
     * that succeeded. A heuristic plan records no search.
     */
    @Test void theConvolutionSearchRunsTwiceAndKeepsEachAlgorithmsBestTime() {
        try (CudaBackend timed = CudaBackend.create(CudaOptions.strictFp32(0).withAutotuneConv(true))) {
            Tensor x = timed.fromArray(new float[2 * 3 * 6 * 6], Shape.of(2, 3, 6, 6));
            Tensor w = timed.fromArray(new float[4 * 3 * 3 * 3], Shape.of(4, 3, 3, 3));
            Tensor y = timed.zeros(Shape.of(2, 4, 6, 6));
            timed.conv2d(y, x, w, null, 1, 1);
            timed.synchronize();
            List<Map.Entry<long[], float[]>> plans = timed.convPlanChoicesAndSearches();
            assertEquals(1, plans.size());
            long[] chosen = plans.get(0).getKey();
            float[] t = plans.get(0).getValue();
            int at = 0;
            for (int dir = 0; dir < 3; dir++) {
                int c = (int) t[at++];
                assertTrue(c > 0, "direction " + dir + " lists no candidates");
                boolean chosenListed = false;
                float previous = 0;
                for (int r = 0; r < c; r++, at += 6) {
                    if (t[at + 2] != 0) continue;   // a candidate that failed in both passes (e.g. too little workspace)
                    assertTrue(t[at + 3] >= 0 || t[at + 4] >= 0, "direction " + dir + ": algorithm " + (int) t[at]
                            + " succeeded but has no time: " + t[at + 3] + " / " + t[at + 4]);
                    float best = t[at + 3] < 0 ? t[at + 4] : t[at + 4] < 0 ? t[at + 3] : Math.min(t[at + 3], t[at + 4]);
                    assertTrue(best >= previous, "candidates are listed fastest first by their best time");
                    previous = best;
                    chosenListed |= (long) t[at] == chosen[3 * dir];
                }
                assertTrue(chosenListed, "direction " + dir + " runs algorithm " + chosen[3 * dir]
                        + ", which the search did not time");
            }
            assertTrue(timed.convPlanSummary().get(0).contains("; search ms (1st/2nd pass): fwd a"),
                    timed.convPlanSummary().get(0));
        }
        Tensor x = gpu.fromArray(new float[2 * 3 * 6 * 6], Shape.of(2, 3, 6, 6));
        Tensor w = gpu.fromArray(new float[4 * 3 * 3 * 3], Shape.of(4, 3, 3, 3));
        Tensor y = gpu.zeros(Shape.of(2, 4, 6, 6));
        gpu.conv2d(y, x, w, null, 1, 1);
        for (Map.Entry<long[], float[]> e : gpu.convPlanChoicesAndSearches()) {
            assertArrayEquals(new float[] {0, 0, 0}, e.getValue(), "a heuristic plan records no search");
        }
        for (Tensor t : new Tensor[] {x, w, y}) t.close();
    }

    @Test void roundTripsThroughTheStagingBufferInChunks() {
        int n = 5_000_017;   // more than the 2^21-float staging buffer: three chunks each way
        float[] h = new float[n];
        Philox.fillNormal(h, 0, 1, 0, 0, n);
        CudaBackend.Transfers before = gpu.transfers();
        try (Tensor t = gpu.fromArray(h, Shape.of(n))) {
            float[] back = new float[n + 3];
            gpu.copyToHost(back, 3, t);
            for (int i = 0; i < n; i++) if (back[i + 3] != h[i]) throw new AssertionError("element " + i);
            CudaBackend.Transfers d = gpu.transfers().minus(before);
            assertEquals(new CudaBackend.Transfers(1, 4L * n, 1, 4L * n), d);
            gpu.copyFromHost(t.view(10, Shape.of(5)), new float[] {9, 8, 7, 6, 5, 4, 3}, 2);
            assertArrayEquals(new float[] {h[9], 7, 6, 5, 4, 3, h[15]}, gpu.toHost(t.view(9, Shape.of(7))));
        }
    }

    /**
     * Small copies go through a ring of page-locked slots: up to a ring's worth of them in a row never makes the host
     * wait, and going round the ring again (the emulator runs nothing until the host synchronises, so every slot is
     * still pending then) waits rather than overwriting a slot the stream has not read.
     */
    @Test void smallCopiesDoNotWaitForEachOther() {
        int copies = 40;
        Tensor[] t = new Tensor[copies];
        float[][] h = new float[copies][];
        gpu.synchronize();   // earlier tests may have left slots in flight
        CudaBackend.Launches before = gpu.launches();
        for (int i = 0; i < copies; i++) {
            h[i] = new float[100 + i];
            Philox.fillNormal(h[i], 0, 7 + i, 0, 0, h[i].length);
            t[i] = gpu.fromArray(h[i], Shape.of(h[i].length));
            if (i == 15) assertEquals(0, gpu.launches().minus(before).hostSyncs(), "16 small copies in a row");
        }
        for (int i = 0; i < copies; i++) {
            assertArrayEquals(h[i], gpu.toHost(t[i]), "copy " + i);
            t[i].close();
        }
    }

    /**
     * toHostLater copies behind the queued work without waiting: each result holds the tensor's values at the point
     * where it was queued, though the tensor is overwritten right after, and more copies than ring slots in flight
     * (the oldest unread ones are read out before their slot is reused) lose nothing. A large tensor is copied at
     * once.
     */
    @Test void toHostLaterKeepsTheValuesOfItsPointInTheStream() {
        int copies = 40, n = 100;
        gpu.synchronize();
        CudaBackend.Launches before = gpu.launches();
        try (Tensor t = gpu.zeros(Shape.of(n))) {
            io.github.diffusion4j.tensor.Backend.PendingCopy[] pending = new io.github.diffusion4j.tensor.Backend.PendingCopy[copies];
            for (int i = 0; i < copies; i++) {
                gpu.fill(t, i + 0.5f);
                pending[i] = gpu.toHostLater(t);
                if (i == 15) assertEquals(0, gpu.launches().minus(before).hostSyncs(), "16 copies queued without a wait");
            }
            gpu.fill(t, -1f);
            for (int i = copies - 1; i >= 0; i--) {   // newest first: the older ones were read out when their slot was reused
                float[] v = pending[i].get();
                assertEquals(n, v.length);
                for (float x : v) assertEquals(i + 0.5f, x, "copy " + i);
                assertTrue(v == pending[i].get(), "a second get returns the same values");
            }
        }
        int big = (16 << 10) + 1;
        try (Tensor t = gpu.zeros(Shape.of(big))) {
            gpu.fill(t, 3f);
            io.github.diffusion4j.tensor.Backend.PendingCopy p = gpu.toHostLater(t);
            gpu.fill(t, 4f);
            float[] v = p.get();
            assertEquals(big, v.length);
            assertEquals(3f, v[0]);
            assertEquals(3f, v[big - 1]);
        }
    }

    /**
     * Scratch regions: a tensor taken in region r stays valid while the other region is in use and expires when r is
     * selected again (or at beginStep); the main arena's tensors live through region switches until beginStep.
     */
    @Test void scratchRegionTensorsExpireWhenTheirRegionIsReused() {
        gpu.beginStep();
        Tensor main = gpu.scratch(Shape.of(8));
        gpu.fill(main, 1f);
        gpu.scratchRegion(0);
        Tensor a = gpu.scratch(Shape.of(8));
        gpu.fill(a, 2f);
        gpu.scratchRegion(1);
        Tensor b = gpu.scratch(Shape.of(8));
        gpu.copy(b, a);   // the block before's tensor is still valid
        assertEquals(2f, b.toArray()[7]);
        gpu.scratchRegion(0);
        assertThrows(IllegalStateException.class, a::toArray, "region 0 was emptied");
        assertEquals(2f, b.toArray()[0]);
        gpu.scratchRegion(-1);
        Tensor main2 = gpu.scratch(Shape.of(8));
        gpu.fill(main2, 3f);
        assertEquals(1f, main.toArray()[3], "main-arena tensors live through region switches");
        assertThrows(IllegalArgumentException.class, () -> gpu.scratchRegion(2));
        gpu.beginStep();
        assertThrows(IllegalStateException.class, b::toArray, "beginStep empties the regions too");
        assertThrows(IllegalStateException.class, main::toArray);
    }

    @Test void arenaTensorsExpireAtBeginStepOwnedTensorsDoNot() {
        gpu.beginStep();
        Tensor act = gpu.scratch(Shape.of(1000));
        Tensor kept = gpu.zeros(Shape.of(1000));
        gpu.fill(act, 1f);
        gpu.copy(kept, act);
        assertInstanceOf(CudaStorage.class, act.storage());
        assertTrue(((CudaStorage) act.storage()).isArena());
        gpu.beginStep();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> gpu.fill(act, 2f));
        System.out.println("stale arena tensor: " + e.getMessage());
        assertTrue(e.getMessage().contains("beginStep"), e.getMessage());
        assertEquals(1000.0, gpu.sum(kept));
        kept.close();
        assertThrows(IllegalStateException.class, () -> gpu.sum(kept));
        assertThrows(IllegalStateException.class, () -> kept.storage().close());
    }

    @Test void theArenaStopsAllocatingOnceSized() {
        for (int step = 0; step < 4; step++) {
            gpu.beginStep();
            long allocs = gpu.memoryStats().allocations();
            for (int k = 0; k < 20; k++) gpu.fill(gpu.scratch(Shape.of(1 << 16)), k);
            long after = gpu.memoryStats().allocations();
            System.out.println("step " + step + ": " + (after - allocs) + " allocations, " + gpu.memoryStats());
            if (step >= 1) assertEquals(allocs, after, "steady state allocates nothing");
        }
    }

    @Test void scalarsAndTiming() {
        float[] h = new float[1 << 20];
        java.util.Arrays.fill(h, 0.5f);
        try (Tensor a = gpu.fromArray(h, Shape.of(h.length)); Tensor b = gpu.zeros(Shape.of(h.length))) {
            CudaBackend.Transfers before = gpu.transfers();
            assertEquals(h.length * 0.5, gpu.sum(a));
            assertEquals(h.length * 0.25, gpu.sumSquares(a));
            assertTrue(gpu.allFinite(a));
            CudaBackend.Transfers d = gpu.transfers().minus(before);
            assertEquals(3, d.deviceToHostCount(), "one small copy per scalar");
            float ms = gpu.elapsedMillis(() -> {
                for (int i = 0; i < 10; i++) gpu.axpby(b, 1f, b, 1f, a);
            });
            assertTrue(ms > 0 && ms < 10_000, "elapsed " + ms);
            assertEquals(h.length * 5.0, gpu.sum(b));
            System.out.printf("10 axpby over 2^20 floats: %.3f ms%n", ms);
        }
    }

    @Test void foreignTensorsAndBadDevicesAreRefused() {
        Tensor cpu = CpuBackend.get().zeros(3);
        try (Tensor g = gpu.zeros(Shape.of(3))) {
            assertThrows(IllegalArgumentException.class, () -> gpu.copy(g, cpu));
        }
        CudaException e = assertThrows(CudaException.class, () -> CudaBackend.create(99));
        System.out.println("--gpu 99: " + e.getMessage());
        assertTrue(e.getMessage().startsWith("CUDA backend cannot start: --gpu 99") || e.getMessage().startsWith("--gpu 99"),
                e.getMessage());
    }

    @Test void selectionPicksCudaAndCloseIsFinal() {
        Backends.Choice c = Backends.select("auto");
        System.out.println("auto: " + c.reason());
        assertInstanceOf(CudaBackend.class, c.backend());
        Tensor t = c.backend().zeros(4);
        c.backend().close();
        c.backend().close();   // closing again does nothing
        assertThrows(IllegalStateException.class, () -> c.backend().fill(t, 1f));
        Backends.Choice d = Backends.select("cuda", 0);
        assertInstanceOf(CudaBackend.class, d.backend());
        d.backend().close();
    }
}
