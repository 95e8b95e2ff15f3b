package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.List;
import java.util.Properties;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What CMakeLists.txt put into target/classes: the fatbin with SASS for sm_75/80/86/89/90 and compute_90 PTX,
 * every kernel in every image. Skips when the build ran without nvcc (it says so in native-build.properties).
 */
class NativeBuildTest {
    /** Kernels every SASS image must contain. */
    static final List<String> KERNELS = Kernels.ALL;

    /** Kernels.ALL names exactly the extern "C" __global__ functions of kernels/*.cu. */
    @Test void kernelListMatchesTheSources() throws Exception {
        Path dir = Path.of("kernels");
        Assumptions.assumeTrue(Files.isDirectory(dir), "kernels/ not found (tests not run from the project root)");
        Pattern p = KernelSignatureTest.KERNEL_DECLARATION;
        Set<String> inSources = new TreeSet<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(f -> f.toString().endsWith(".cu")).toList()) {
                Matcher m = p.matcher(Files.readString(f));
                while (m.find()) assertTrue(inSources.add(m.group(1)), "kernel defined twice: " + m.group(1));
            }
        }
        assertEquals(new TreeSet<>(Kernels.ALL), inSources);
        assertEquals(Kernels.ALL.size(), new TreeSet<>(Kernels.ALL).size(), "duplicate in Kernels.ALL");
    }

    static Properties buildInfo() {
        Properties p = NativeLibs.buildInfo();
        Assumptions.assumeFalse(p.isEmpty(), "native build did not run (no cmake on PATH)");
        return p;
    }

    @Test void fatbinHasTheExpectedArchitectures() {
        Properties p = buildInfo();
        Assumptions.assumeFalse(p.getProperty("fatbin", "").isEmpty(), "built without nvcc: no fatbin to check");
        byte[] bytes = NativeLibs.fatbin().orElseThrow(() -> new AssertionError(
                "native-build.properties names a fatbin but the resource is missing"));
        Fatbin f = Fatbin.parse(bytes);
        assertEquals(Set.of(75, 80, 86, 89, 90), f.sassArchs(), f.describe());
        assertEquals(Set.of(90), f.ptxArchs(), f.describe());
        assertEquals("75;80;86;89;90", p.getProperty("cuda.archs"));
    }

    /**
     * Cross-checks the fatbin header against the ELF images themselves: each is an ELF64 file whose e_flags
     * carry the same SM number (bits 8..15 from ELF ABI version 8 on, as nvcc 12.8+ writes; bits 0..7 before),
     * and whose symbol names include every kernel.
     */
    @Test void everySassImageIsAnElfWithAllKernels() {
        Properties p = buildInfo();
        Assumptions.assumeFalse(p.getProperty("fatbin", "").isEmpty(), "built without nvcc: no fatbin to check");
        byte[] bytes = NativeLibs.fatbin().orElseThrow();
        int checked = 0;
        for (Fatbin.Entry e : Fatbin.parse(bytes).entries()) {
            if (!e.isElf()) continue;
            int off = (int) e.payloadOffset();
            if (!(bytes[off] == 0x7f && bytes[off + 1] == 'E' && bytes[off + 2] == 'L' && bytes[off + 3] == 'F')) {
                continue; // compressed image: nothing to cross-check without a decompressor
            }
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(2, bytes[off + 4], "ELFCLASS64");
            int abiVersion = bytes[off + 8];
            int flags = b.getInt(off + 0x30);
            int sm = abiVersion >= 8 ? (flags >>> 8) & 0xff : flags & 0xff;
            assertEquals(e.arch(), sm, "e_flags of " + e + " = 0x" + Integer.toHexString(flags));
            String image = new String(bytes, off, (int) e.payloadSize(), StandardCharsets.ISO_8859_1);
            for (String k : KERNELS) {
                if (!image.contains(k + "\0")) fail(e + " lacks kernel " + k);
            }
            checked++;
        }
        assertTrue(checked > 0, "no uncompressed ELF image to check");
    }

    @Test void shimIsInTheResourcesWhenBuilt() {
        Properties p = buildInfo();
        Assumptions.assumeFalse(p.getProperty("shim", "").isEmpty(), "built without a JDK (jni.h): no JNI shim");
        assertEquals(NativeLibs.SHIM, p.getProperty("shim"));
        assertTrue(NativeLibs.class.getResource(NativeLibs.RESOURCE_DIR + NativeLibs.SHIM) != null,
                "native-build.properties names the shim but the resource is missing");
    }
}
