package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The prepared parameter buffers: values land in their slots, kinds and counts are enforced, nothing is rebuilt. */
class KernelArgsTest {
    record Launch(String name, int grid, int block, List<Object> values, long params) {}

    /** Stands in for the direct buffer's native address, which needs the shim. */
    static final long BASE = 0x7f00_0000_1000L;

    static KernelArgs args(String sig, List<Launch> log) {
        return new KernelArgs("k", sig, b -> BASE, (a, grid, block, shared) -> {
            List<Object> v = new ArrayList<>();
            for (int i = 0; i < a.signature().length(); i++) v.add(a.value(i));
            log.add(new Launch(a.name(), grid, block, v, a.params()));
        });
    }

    @Test void valuesAreWrittenInOrderAndTheBufferIsReused() {
        List<Launch> log = new ArrayList<>();
        KernelArgs k = args("pjif", log);
        k.begin().ptr(0x7f0000001000L).i64(-1L).i32(42).f32(1.5f).launch(3, 256);
        k.begin().ptr(0L).i64(Long.MIN_VALUE).i32(-7).f32(Float.NaN).launch(1, 32);
        assertEquals(List.of(0x7f0000001000L, -1L, 42, 1.5f), log.get(0).values());
        assertEquals(List.of(0L, Long.MIN_VALUE, -7, Float.NaN), log.get(1).values());
        assertEquals(3, log.get(0).grid());
        assertEquals(256, log.get(0).block());
        assertEquals(BASE + 8 * 4, log.get(0).params(), "kernelParams follows the four 8-byte value slots");
        assertEquals(log.get(0).params(), log.get(1).params(), "the kernelParams array is built once");
        for (int i = 0; i < 4; i++) assertEquals(BASE + 8L * i, k.paramsEntry(i), "kernelParams[" + i + "]");
    }

    @Test void wrongKindCountOrConfigurationFails() {
        List<Launch> log = new ArrayList<>();
        KernelArgs k = args("pf", log);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> k.begin().f32(1f));
        assertTrue(e.getMessage().contains("parameter 0 is 'p'"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> k.begin().ptr(1).f32(1f).f32(2f));
        assertThrows(IllegalStateException.class, () -> k.begin().ptr(1).launch(1, 32));
        assertThrows(IllegalArgumentException.class, () -> k.begin().ptr(1).f32(1f).launch(0, 32));
        assertThrows(IllegalArgumentException.class, () -> k.begin().ptr(1).f32(1f).launch(1, 2048));
        assertThrows(IllegalArgumentException.class, () -> new KernelArgs("bad", "px", b -> BASE, (a, g, b, s) -> {}));
        assertTrue(log.isEmpty());
    }

    @Test void everyKernelSignatureBuilds() {
        for (String name : Kernels.ALL) {
            KernelArgs k = new KernelArgs(name, Kernels.SIGNATURES.get(name), b -> BASE, (a, g, b, s) -> {});
            assertEquals(Kernels.SIGNATURES.get(name).length(), k.signature().length());
        }
    }
}
