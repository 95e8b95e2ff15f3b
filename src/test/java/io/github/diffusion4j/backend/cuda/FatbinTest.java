package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fatbin parser and the architecture rules, on hand-made fatbins (no nvcc needed). */
class FatbinTest {

    /** A fatbin with the given (kind, arch) entries and small dummy payloads. */
    static byte[] fake(int[][] entries) {
        int entryHeader = 64, payload = 8;
        int fat = entries.length * (entryHeader + payload);
        ByteBuffer b = ByteBuffer.allocate(16 + fat).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(Fatbin.MAGIC).putShort((short) 1).putShort((short) 16).putLong(fat);
        for (int[] e : entries) {
            int start = b.position();
            b.putShort((short) e[0]).putShort((short) 0x101).putInt(entryHeader).putLong(payload);
            b.position(start + 28);
            b.putInt(e[1]);
            b.position(start + entryHeader);
            b.putLong(0x0123456789abcdefL);
        }
        return b.array();
    }

    @Test void parsesEntriesInOrder() {
        Fatbin f = Fatbin.parse(fake(new int[][] {{2, 75}, {2, 80}, {1, 90}}));
        assertEquals(3, f.entries().size());
        assertEquals(Set.of(75, 80), f.sassArchs());
        assertEquals(Set.of(90), f.ptxArchs());
        assertEquals(16 + 64, f.entries().get(0).payloadOffset());
        assertEquals(8, f.entries().get(0).payloadSize());
        assertEquals("SASS sm_75 sm_80, PTX compute_90", f.describe());
        assertEquals(List.of("sm_75", "sm_80", "compute_90"), f.entries().stream().map(Object::toString).toList());
    }

    @Test void architectureRules() {
        Fatbin f = Fatbin.parse(fake(new int[][] {{2, 75}, {2, 80}, {2, 86}, {2, 89}, {2, 90}, {1, 90}}));
        assertTrue(f.supports(7, 5));
        assertTrue(f.supports(8, 7), "sm_86 SASS runs on 8.7 (same major, newer minor)");
        assertTrue(f.supports(10, 0), "compute_90 PTX is JIT-compiled for Blackwell");
        assertTrue(f.supports(12, 0));
        assertFalse(f.supports(7, 0), "Volta is older than every image");
        assertFalse(f.supports(6, 1));
        Fatbin sassOnly = Fatbin.parse(fake(new int[][] {{2, 80}}));
        assertFalse(sassOnly.supports(9, 0), "SASS does not cross major versions");
        assertTrue(sassOnly.supports(8, 9));
    }

    @Test void rejectsGarbage() {
        assertThrows(IllegalArgumentException.class, () -> Fatbin.parse(new byte[] {1, 2, 3}));
        assertThrows(IllegalArgumentException.class, () -> Fatbin.parse(new byte[32]));
        byte[] truncated = fake(new int[][] {{2, 75}});
        assertThrows(IllegalArgumentException.class,
                () -> Fatbin.parse(java.util.Arrays.copyOf(truncated, truncated.length - 4)));
    }
}
