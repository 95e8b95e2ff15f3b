package io.github.diffusion4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class AtomicDirectoryTest {
    @TempDir Path parent;

    List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(parent)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test void commitPublishesTheWholeFolder() throws IOException {
        Path target;
        try (AtomicDirectory d = AtomicDirectory.begin(parent, "step-000100")) {
            assertTrue(d.path().getFileName().toString().startsWith(".tmp-step-000100-"));
            SafeTensors.write(d.path().resolve("model.safetensors"), SafeTensorsTest.sample(), Map.of());
            Files.createDirectories(d.path().resolve("samples"));
            AtomicFiles.writeString(d.path().resolve("samples/config.json"), "{}");
            assertFalse(Files.exists(d.target()), "not visible before commit");
            target = d.commit();
        }
        assertEquals(parent.resolve("step-000100"), target);
        assertTrue(Files.isRegularFile(target.resolve("model.safetensors")));
        assertEquals("{}", Files.readString(target.resolve("samples/config.json")));
        assertEquals(List.of("step-000100"), names());
    }

    @Test void aThrowingWriterLeavesNoPartialFolder() throws IOException {
        Files.createDirectories(parent.resolve("step-1"));
        Files.writeString(parent.resolve("step-1/old.txt"), "old");
        RuntimeException e = assertThrows(RuntimeException.class, () -> {
            try (AtomicDirectory d = AtomicDirectory.begin(parent, "step-1")) {
                AtomicFiles.writeString(d.path().resolve("half.txt"), "half");
                throw new RuntimeException("crash while writing");
            }
        });
        assertEquals("crash while writing", e.getMessage());
        assertEquals(List.of("step-1"), names(), "no staging folder left");
        assertEquals("old", Files.readString(parent.resolve("step-1/old.txt")), "existing folder untouched");
        assertFalse(Files.exists(parent.resolve("step-1/half.txt")));
    }

    @Test void commitReplacesAnExistingFolder() throws IOException {
        for (String v : new String[] {"one", "two"}) {
            try (AtomicDirectory d = AtomicDirectory.begin(parent, "ckpt")) {
                AtomicFiles.writeString(d.path().resolve("v.txt"), v);
                d.commit();
            }
        }
        assertEquals("two", Files.readString(parent.resolve("ckpt/v.txt")));
        assertEquals(List.of("ckpt"), names());
    }

    @Test void latestPointerAndPruning() throws IOException {
        assertEquals(Optional.empty(), AtomicDirectory.latest(parent));
        for (int step : new int[] {5, 10, 100, 20, 1000}) {
            try (AtomicDirectory d = AtomicDirectory.begin(parent, "step-" + step)) {
                d.commit();
            }
        }
        AtomicDirectory.writeLatest(parent, "step-20");
        assertEquals(Optional.of(parent.resolve("step-20")), AtomicDirectory.latest(parent));
        assertEquals("step-20\n", Files.readString(parent.resolve("latest")));
        List<Path> deleted = AtomicDirectory.prune(parent, "step-", 2);
        // numeric order 5, 10, 20, 100, 1000: keep 100 and 1000, and 20 because latest points to it
        assertEquals(List.of(parent.resolve("step-5"), parent.resolve("step-10")), deleted);
        assertEquals(List.of("latest", "step-100", "step-1000", "step-20"), names());

        Files.writeString(parent.resolve("latest"), "../etc\n");
        FileFormatException e = assertThrows(FileFormatException.class, () -> AtomicDirectory.latest(parent));
        assertTrue(e.getMessage().contains(parent.resolve("latest").toString()), e.getMessage());
        AtomicDirectory.writeLatest(parent, "step-5");
        e = assertThrows(FileFormatException.class, () -> AtomicDirectory.latest(parent));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AtomicDirectory.begin(parent, "a/b"));
    }

    @Test void cleanStaleRemovesCrashLeftovers() throws IOException {
        Files.createDirectories(parent.resolve(".tmp-step-7-abcdef12/sub"));
        Files.writeString(parent.resolve(".tmp-step-7-abcdef12/sub/x"), "x");
        Files.createDirectories(parent.resolve("step-7"));
        assertEquals(1, AtomicDirectory.cleanStale(parent).size());
        assertEquals(List.of("step-7"), names());
    }
}
