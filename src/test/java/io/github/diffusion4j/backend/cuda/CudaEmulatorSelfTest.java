package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU emulation of the CUDA driver that the "cuda-emulated" test run uses (src/test/native/cudaemu/, built by
 * CMake into target/cmake/cudaemu): before its results are trusted, check that it computes what a GPU computes for
 * kernels with barriers and warp shuffles (block sums over 32 warps, softmax rows) and that it refuses what a GPU
 * refuses (no context, copies outside an allocation, a kernel writing past the end of one, a partial warp in
 * block_sum, oversized blocks), with the failure sticky as on a GPU. Runs emu_driver_selftest.cpp, linked against
 * the emulated libcuda.so.1, which also checks that it is asynchronous like a GPU (work runs at synchronising calls,
 * kernel parameters are copied at launch). Likewise the cuBLAS and cuDNN stand-ins against independent loops, the
 * adjoint identities of convolution and their error statuses (emu_libs_selftest.c), and that they queue their work
 * behind the driver's (emu_libs_queue_selftest.c). Skips when the emulator (or, for the
 * driver, the fatbin) was not built.
 */
class CudaEmulatorSelfTest {
    @TempDir Path dir;

    @Test void theEmulatedDriverBehavesLikeADriver() throws Exception {
        Path emu = Path.of(System.getProperty("d4j.emu.dir", "target/cmake/cudaemu")).toAbsolutePath();
        Assumptions.assumeTrue(Files.exists(emu.resolve("libcuda.so.1")), "CUDA emulator not built (" + emu + ")");
        byte[] fatbin = NativeLibs.fatbin().orElse(null);
        Assumptions.assumeTrue(fatbin != null, NativeLibs.fatbinMissingReason());
        Path image = Files.write(dir.resolve("kernels.fatbin"), fatbin);
        Path exe = dir.resolve("emu_driver_selftest");
        Path src = Path.of("src/test/native/cudaemu/emu_driver_selftest.cpp").toAbsolutePath();
        run(List.of("g++", "-std=c++17", "-O1", "-Wall", "-Werror", "-o", exe.toString(), src.toString(),
                "-L" + emu, "-l:libcuda.so.1"), null);
        String out = run(List.of(exe.toString(), image.toString()), emu);
        System.out.print(out);
        assertTrue(out.contains("0 failure(s)"), out);
    }

    @Test void theCublasAndCudnnStandInsComputeWhatTheyShould() throws Exception {
        Path emu = Path.of(System.getProperty("d4j.emu.dir", "target/cmake/cudaemu")).toAbsolutePath();
        Assumptions.assumeTrue(Files.exists(emu.resolve("libcudnn.so.9")), "CUDA emulator not built (" + emu + ")");
        Path exe = dir.resolve("emu_libs_selftest");
        Path src = Path.of("src/test/native/cudaemu/emu_libs_selftest.c").toAbsolutePath();
        run(List.of("gcc", "-std=gnu11", "-O2", "-Wall", "-Werror", "-o", exe.toString(), src.toString(), "-ldl", "-lm"),
                null);
        String out = run(List.of(exe.toString(), emu.resolve("libcublas.so.13").toString(),
                emu.resolve("libcudnn.so.9").toString()), null);
        String[] lines = out.strip().split("\n");
        System.out.println(lines[lines.length - 1]);
        assertTrue(out.lines().noneMatch(l -> l.startsWith("FAIL")), out);

        // queued, not computed at the call: against a fake driver queue built from the same test source
        Path q = Path.of("src/test/native/cudaemu/emu_libs_queue_selftest.c").toAbsolutePath();
        Path fake = dir.resolve("fake").resolve("libcuda.so.1");
        Files.createDirectories(fake.getParent());
        run(List.of("gcc", "-std=gnu11", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-DFAKE_LIBCUDA",
                "-Wl,-soname,libcuda.so.1", "-o", fake.toString(), q.toString()), null);
        Path qexe = dir.resolve("emu_libs_queue_selftest");
        run(List.of("gcc", "-std=gnu11", "-O2", "-Wall", "-Werror", "-o", qexe.toString(), q.toString(), "-ldl", "-lm"), null);
        String qout = run(List.of(qexe.toString(), emu.resolve("libcublas.so.13").toString(),
                emu.resolve("libcudnn.so.9").toString(), fake.toString()), null);
        String[] qlines = qout.strip().split("\n");
        System.out.println(qlines[qlines.length - 1]);
        assertTrue(qout.lines().noneMatch(l -> l.startsWith("FAIL")), qout);
    }

    private static String run(List<String> cmd, Path libraryPath) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (libraryPath != null) pb.environment().put("LD_LIBRARY_PATH", libraryPath.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", cmd) + ":\n" + out);
        return out;
    }
}
