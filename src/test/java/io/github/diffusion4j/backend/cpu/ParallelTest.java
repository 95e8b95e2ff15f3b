package io.github.diffusion4j.backend.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ParallelTest {
    @Test void coversEveryIndexExactlyOnce() {
        for (int n : new int[] {1, 2, 7, 100, 12345}) {
            for (int grain : new int[] {1, 3, 1000}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(n);
                Parallel.forRange(n, grain, (lo, hi) -> {
                    for (int i = lo; i < hi; i++) hits.incrementAndGet(i);
                });
                for (int i = 0; i < n; i++) assertEquals(1, hits.get(i), "index " + i + " of " + n + ", grain " + grain);
            }
        }
    }

    @Test void nestedRangesRunAndCoverTheirIndices() {
        int outer = 16, inner = 50;
        AtomicIntegerArray hits = new AtomicIntegerArray(outer * inner);
        Parallel.forRange(outer, 1, (lo, hi) -> {
            for (int o = lo; o < hi; o++) {
                int base = o * inner;
                Parallel.forRange(inner, 1, (a, b) -> {
                    for (int i = a; i < b; i++) hits.incrementAndGet(base + i);
                });
            }
        });
        for (int i = 0; i < outer * inner; i++) assertEquals(1, hits.get(i), "index " + i);
    }

    @Test void rethrowsAnExceptionFromAChunkAndStaysUsable() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Parallel.forRange(64, 1, (lo, hi) -> {
            if (lo <= 40 && 40 < hi) throw new IllegalStateException("chunk failed");
        }));
        assertEquals("chunk failed", e.getMessage());
        AtomicIntegerArray hits = new AtomicIntegerArray(64);
        Parallel.forRange(64, 1, (lo, hi) -> {
            for (int i = lo; i < hi; i++) hits.incrementAndGet(i);
        });
        for (int i = 0; i < 64; i++) assertEquals(1, hits.get(i));
    }
}
