package io.github.diffusion4j.backend;

import io.github.diffusion4j.backend.cuda.NativeLibs;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Whether the gpu-tagged tests really ran against the CUDA emulation (execution cuda-emulated): without it (no nvcc
 * for the kernels' fatbin, no C++ compiler for the emulator) every one of them is skipped and the suite is still
 * green, which this test says loudly. Where the emulation is expected (CI sets D4J_REQUIRE_CUDA_EMU=1, .ci/run),
 * its absence fails the build instead.
 */
class EmulationPresenceTest {
    @Test void theCudaEmulationWasBuilt() {
        Path emu = Path.of(System.getProperty("d4j.emu.dir", "target/cmake/cudaemu")).toAbsolutePath();
        String missing = null;
        for (String lib : new String[] {"libcuda.so.1", "libcublas.so.13", "libcudnn.so.9"}) {
            if (!Files.exists(emu.resolve(lib))) missing = "the CUDA emulator was not built (" + emu.resolve(lib) + " is missing)";
        }
        if (missing == null && NativeLibs.fatbin().isEmpty()) missing = "the kernels' fatbin was not built (is nvcc on the PATH?)";
        if (missing == null) return;
        String banner = "\n*** WARNING: " + missing + ".\n*** Every gpu-tagged test is SKIPPED: the CUDA backend, the JNI shim "
                + "and the kernels are NOT tested by this run.\n*** Install nvcc (CUDA toolkit) and a C++ compiler, or see README.\n";
        System.out.println(banner);
        if ("1".equals(System.getenv("D4J_REQUIRE_CUDA_EMU"))) fail("D4J_REQUIRE_CUDA_EMU=1 but " + missing);
        Assumptions.abort(missing);
    }
}
