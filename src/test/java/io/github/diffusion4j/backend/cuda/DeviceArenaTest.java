package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The activation arena's bookkeeping over a fake allocator that checks every free and every access. */
class DeviceArenaTest {

    /** Hands out disjoint address ranges, remembers what is live, and counts synchronisations before frees. */
    static final class FakeMemory implements DeviceMemory {
        final Map<Long, Allocation> live = new HashMap<>();
        long next = 1L << 32;
        int allocations, frees, syncs;
        boolean syncedSinceLastQueue = true;

        @Override public Allocation allocate(long bytes) {
            assertTrue(bytes > 0, "cuMemAlloc of " + bytes + " bytes");
            Allocation a = new Allocation(next, bytes, "chunk" + allocations);
            next += (bytes + 4095) / 4096 * 4096 + 4096;
            live.put(a.address(), a);
            allocations++;
            return a;
        }

        @Override public void free(Allocation a) {
            assertTrue(live.remove(a.address()) != null, "free of an unknown or already freed allocation");
            assertTrue(syncedSinceLastQueue, "memory freed while queued work may still use it");
            frees++;
        }

        @Override public void synchronize() {
            syncs++;
            syncedSinceLastQueue = true;
        }

        /** Simulates kernels queued on slices handed out since the last synchronisation. */
        void queueWork() { syncedSinceLastQueue = false; }

        boolean inLiveAllocation(long address, long bytes) {
            for (Allocation a : live.values()) {
                if (address >= a.address() && address + bytes <= a.address() + a.bytes()) return true;
            }
            return false;
        }
    }

    static final long MB = 1L << 20;

    /** One "training step": the same sequence of activation sizes every time. */
    static List<DeviceArena.Slice> step(DeviceArena arena, FakeMemory mem, long... sizes) {
        List<DeviceArena.Slice> out = new ArrayList<>();
        for (long s : sizes) {
            DeviceArena.Slice slice = arena.allocate(s);
            assertEquals(0, slice.address() % DeviceArena.ALIGN, "alignment");
            assertTrue(slice.bytes() >= s);
            assertTrue(mem.inLiveAllocation(slice.address(), slice.bytes()), "slice inside live memory");
            out.add(slice);
        }
        // no two slices of a step overlap
        for (int i = 0; i < out.size(); i++) {
            for (int j = i + 1; j < out.size(); j++) {
                DeviceArena.Slice a = out.get(i), b = out.get(j);
                assertTrue(a.address() + a.bytes() <= b.address() || b.address() + b.bytes() <= a.address(),
                        "slices " + i + " and " + j + " overlap");
            }
        }
        mem.queueWork();
        return out;
    }

    @Test void firstStepSizesTheArenaAndTheSteadyStateAllocatesNothing() {
        FakeMemory mem = new FakeMemory();
        DeviceArena arena = new DeviceArena(mem);
        long[] sizes = {3 * MB, 17, 40 * MB, 5 * MB + 1, 0, 12 * MB};
        List<DeviceArena.Slice> first = step(arena, mem, sizes);
        int afterFirst = mem.allocations;
        assertTrue(afterFirst >= 1 && arena.overflowChunks() >= 1, "the first step runs on overflow chunks");
        assertEquals(0, arena.capacity());

        arena.reset();
        assertEquals(1, arena.generation());
        assertEquals(0, arena.overflowChunks());
        assertTrue(arena.capacity() >= arena.peakDemand(), "block holds a whole step");
        assertEquals(0, arena.capacity() % DeviceArena.GRANULE);
        assertTrue(mem.syncs >= 1, "waited for queued work before freeing");
        for (DeviceArena.Slice s : first) assertFalse(arena.isLive(s), "old slices are stale after reset");

        int allocs = mem.allocations;
        for (int k = 0; k < 5; k++) {
            List<DeviceArena.Slice> s = step(arena, mem, sizes);
            for (DeviceArena.Slice x : s) assertTrue(arena.isLive(x));
            arena.reset();
        }
        assertEquals(allocs, mem.allocations, "steady state: no allocation");
        assertEquals(1, arena.growths());
        arena.close();
        assertTrue(mem.live.isEmpty(), "close frees everything");
        assertThrows(IllegalStateException.class, () -> arena.allocate(4));
    }

    @Test void aLargerStepGrowsTheArenaOnce() {
        FakeMemory mem = new FakeMemory();
        DeviceArena arena = new DeviceArena(mem);
        step(arena, mem, 10 * MB, 10 * MB);
        arena.reset();
        long cap = arena.capacity();
        step(arena, mem, 10 * MB, 10 * MB, 30 * MB);    // a bigger batch
        assertTrue(arena.overflowChunks() > 0);
        arena.reset();
        assertTrue(arena.capacity() > cap);
        int allocs = mem.allocations;
        step(arena, mem, 10 * MB, 10 * MB, 30 * MB);
        arena.reset();
        step(arena, mem, 10 * MB);                      // smaller steps fit in the grown block
        arena.reset();
        assertEquals(allocs, mem.allocations);
        assertEquals(2, arena.growths());
        arena.close();
        assertTrue(mem.live.isEmpty());
    }

    @Test void aStepWithoutOverflowDoesNotSynchronise() {
        FakeMemory mem = new FakeMemory();
        DeviceArena arena = new DeviceArena(mem);
        step(arena, mem, MB);
        arena.reset();
        int syncs = mem.syncs;
        step(arena, mem, MB);
        arena.reset();                                  // queued work may keep running: nothing is freed
        assertEquals(syncs, mem.syncs);
        arena.close();
    }

    @Test void alignmentHelpers() {
        assertEquals(0, DeviceArena.align(0));
        assertEquals(256, DeviceArena.align(1));
        assertEquals(256, DeviceArena.align(256));
        assertEquals(512, DeviceArena.align(257));
        assertEquals(4 * MB, DeviceArena.roundUp(2 * MB + 1, 2 * MB));
        assertThrows(IllegalArgumentException.class, () -> new DeviceArena(new FakeMemory()).allocate(-1));
    }
}
