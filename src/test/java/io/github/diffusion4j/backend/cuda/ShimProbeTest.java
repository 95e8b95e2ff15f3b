package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The JNI shim loads and its probe reports libraries cleanly: the real ones on this machine (whatever is
 * installed), and stand-in libraries compiled here with gcc that export the few functions the probe calls, so
 * the found-path and version logic is exercised without NVIDIA's libraries.
 */
class ShimProbeTest {

    @BeforeAll static void loadShim() {
        Assumptions.assumeFalse(NativeLibs.buildInfo().getProperty("shim", "").isEmpty(),
                "built without cmake or a JDK: no JNI shim");
        NativeLibs.ShimStatus s = NativeLibs.loadShim();
        assertTrue(s.loaded(), "shim failed to load: " + s.problem());
        assertEquals(Shim.ABI, Shim.abiVersion());
    }

    @Test void probeOfThisMachineNamesWhatIsMissing() {
        CudaAvailability a = CudaAvailability.probe();
        System.out.println(String.join("\n", a.details()));
        assertNull(a.shimProblem(), "the shim loaded, so the libraries were probed");
        if (!a.driver().found()) {
            assertFalse(a.available());
            assertEquals("missing", a.driver().status());
            assertTrue(a.reason().startsWith("CUDA unavailable: libcuda.so.1 not found (no NVIDIA driver)"), a.reason());
            assertEquals("cpu", a.autoBackend());
        }
        if (!a.cudnn().found()) assertTrue(a.reason().contains("cuDNN 9 not found (libcudnn.so.9)"), a.reason());
        if (!a.cublas().found()) assertTrue(a.reason().contains("cuBLAS not found"), a.reason());
        if (a.available()) assertTrue(a.reason().startsWith("CUDA available: "), a.reason());
        assertFalse(a.reason().contains("\n"), "one line");
    }

    @Test void missingLibraryIsReportedWithTheLoaderMessage() {
        LibraryInfo i = LibraryInfo.parse("libdoes-not-exist.so.7",
                Shim.probeLibrary("libdoes-not-exist.so.7", Shim.KIND_OTHER, false));
        assertEquals("missing", i.status());
        assertTrue(i.error().contains("libdoes-not-exist.so.7"), i.error());
        assertTrue(i.describe().startsWith("libdoes-not-exist.so.7 not found"));
    }

    @Test void wrongLibraryIsUnusableNotACrash() {
        // libc is always there, and has no cudnnGetVersion / cublasGetProperty / cuInit
        for (int kind : new int[] {Shim.KIND_CUDA, Shim.KIND_CUDNN, Shim.KIND_CUBLAS, Shim.KIND_NCCL}) {
            LibraryInfo i = LibraryInfo.parse("libc.so.6", Shim.probeLibrary("libc.so.6", kind, false));
            assertEquals("error", i.status(), i.fields().toString());
            assertTrue(i.error().startsWith("not a "), i.error());
            assertNotNull(i.path(), "the loader still says which file it opened");
        }
    }

    // ------------------------------------------------------------------ stand-in libraries

    @TempDir static Path dir;

    static Path compile(String name, String source) throws IOException, InterruptedException {
        Path src = dir.resolve(name + ".c"), lib = dir.resolve(name);
        Files.writeString(src, source);
        List<String> cmd = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-O0", "-o", lib.toString(), src.toString()));
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("gcc not available: " + e.getMessage());
            throw e;
        }
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "gcc failed: " + out);
        return lib;
    }

    static final String FAKE_DRIVER = """
            #include <stddef.h>
            #include <string.h>
            int cuDriverGetVersion(int *v) { *v = 13010; return 0; }
            int cuInit(unsigned flags) { return INIT_RESULT; }
            int cuGetErrorName(int e, const char **s) { *s = e == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN"; return 0; }
            int cuDeviceGetCount(int *c) { *c = 1; return 0; }
            int cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
            int cuDeviceGetName(char *n, int len, int d) { strncpy(n, "Fake GPU 9000", len); return 0; }
            int cuDeviceGetAttribute(int *v, int attr, int d) { *v = attr == 75 ? 8 : attr == 76 ? 9 : -1; return 0; }
            int cuDeviceTotalMem_v2(size_t *b, int d) { *b = (size_t) 24 << 30; return 0; }
            """;

    @Test void driverWithADevice() throws Exception {
        Path lib = compile("libfakecuda_ok.so", "#define INIT_RESULT 0\n" + FAKE_DRIVER);
        LibraryInfo i = LibraryInfo.parse("fake", Shim.probeLibrary(lib.toString(), Shim.KIND_CUDA, false));
        assertEquals("ok", i.status(), i.fields().toString());
        assertEquals(lib.toString(), i.path());
        assertEquals("13.1", i.version());
        assertEquals("13010", i.field("versionCode"));
        assertEquals("CUDA_SUCCESS", i.field("init"));
        assertEquals("1", i.field("devices"));
        assertEquals("Fake GPU 9000", i.field("device0.name"));
        assertEquals("8.9", i.field("device0.cc"));
        assertEquals(String.valueOf(24L << 30), i.field("device0.memory"));
    }

    @Test void driverWithoutDevice() throws Exception {
        Path lib = compile("libfakecuda_nodev.so", "#define INIT_RESULT 100\n" + FAKE_DRIVER);
        LibraryInfo i = LibraryInfo.parse("fake", Shim.probeLibrary(lib.toString(), Shim.KIND_CUDA, false));
        assertEquals("ok", i.status(), "the driver itself is fine");
        assertEquals("CUDA_ERROR_NO_DEVICE", i.field("init"));
        assertEquals("0", i.field("devices"));
    }

    @Test void cudnnVersionIsDecoded() throws Exception {
        Path lib = compile("libfakecudnn.so", "#include <stddef.h>\nsize_t cudnnGetVersion(void) { return 91300; }\n");
        LibraryInfo i = LibraryInfo.parse("fake", Shim.probeLibrary(lib.toString(), Shim.KIND_CUDNN, false));
        assertEquals("ok", i.status());
        assertEquals("9.13.0", i.version());
        assertEquals(lib.toString(), i.path());
        Path old = compile("libfakecudnn8.so", "#include <stddef.h>\nsize_t cudnnGetVersion(void) { return 8907; }\n");
        assertEquals("8.9.7", LibraryInfo.parse("f", Shim.probeLibrary(old.toString(), Shim.KIND_CUDNN, false)).version());
    }

    @Test void cublasVersionComesFromGetProperty() throws Exception {
        Path lib = compile("libfakecublas.so",
                "int cublasGetProperty(int type, int *v) { *v = type == 0 ? 13 : type == 1 ? 1 : 4; return 0; }\n");
        LibraryInfo i = LibraryInfo.parse("fake", Shim.probeLibrary(lib.toString(), Shim.KIND_CUBLAS, false));
        assertEquals("ok", i.status());
        assertEquals("13.1.4", i.version());
        Path bad = compile("libfakecublas_bad.so", "int cublasGetProperty(int type, int *v) { return 7; }\n");
        LibraryInfo b = LibraryInfo.parse("fake", Shim.probeLibrary(bad.toString(), Shim.KIND_CUBLAS, false));
        assertEquals("error", b.status());
        assertTrue(b.error().contains("status 7"), b.error());
    }
}
