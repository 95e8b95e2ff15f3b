package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.Backends;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * On a machine without a usable GPU (CI, this build machine): selecting CUDA fails with ONE clear line, auto
 * falls back to the CPU saying why, and even a CudaBackend forced past the availability check fails with a
 * CudaException rather than a linkage error or a crash. Skipped where CUDA is available.
 */
class CudaBackendWithoutGpuTest {

    static CudaAvailability unavailable() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeFalse(a.available(), "CUDA is available here: the no-GPU paths are not exercised");
        return a;
    }

    static void oneLine(String s) {
        assertFalse(s == null || s.isBlank(), "empty message");
        assertFalse(s.contains("\n"), "message is not one line: " + s);
    }

    @Test void cudaIsRefusedWithTheProbesReason() {
        CudaAvailability a = unavailable();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.select("cuda"));
        System.out.println("--device cuda here: " + e.getMessage());
        oneLine(e.getMessage());
        assertEquals("--device cuda: " + a.reason(), e.getMessage());
        assertTrue(e.getMessage().startsWith("--device cuda: CUDA unavailable: "));
        assertThrows(IllegalArgumentException.class, () -> Backends.select("cuda", 1));
    }

    @Test void autoFallsBackToTheCpu() {
        CudaAvailability a = unavailable();
        Backends.Choice c = Backends.select("auto");
        assertSame(CpuBackend.get(), c.backend());
        assertEquals("cpu (" + a.reason() + ")", c.reason());
        oneLine(c.reason());
        assertEquals("backend auto -> cpu (" + a.reason() + ")", Backends.autoSummary());
        assertSame(CpuBackend.get(), Backends.select("cpu", 3).backend());
        assertThrows(IllegalArgumentException.class, () -> Backends.select("auto", -1));
        assertThrows(IllegalArgumentException.class, () -> Backends.select("tpu"));
    }

    @Test void createFailsWithACudaException() {
        CudaAvailability a = unavailable();
        CudaException e = assertThrows(CudaException.class, () -> CudaBackend.create(0));
        assertEquals(a.reason(), e.getMessage());
        oneLine(e.getMessage());
    }

    /** Past the probe, JCuda's binding (linked to libcuda.so.1) or cuInit fails: still a CudaException. */
    @Test void forcedConstructionFailsCleanly() {
        unavailable();
        CudaException e = assertThrows(CudaException.class,
                () -> CudaBackend.createUnchecked(CudaOptions.strictFp32(0)));
        System.out.println("forced CudaBackend here: " + e.getMessage());
        oneLine(e.getMessage());
        assertTrue(e.getMessage().startsWith("CUDA backend cannot start: ") || e.getMessage().startsWith("cu"),
                e.getMessage());
        // and again: the failed class initialisation must not turn into a NoClassDefFoundError leak either
        assertThrows(CudaException.class, () -> CudaBackend.createUnchecked(CudaOptions.strictFp32(0)));
    }

    @Test void optionsAreSetExplicitlyNotBySystemProperties() {
        String old = System.getProperty("diffusion4j.tf32");
        try {
            // the switch this replaced is ignored: defaults are PyTorch's whatever the JVM was started with
            System.setProperty("diffusion4j.tf32", "true");
            CudaOptions d = CudaOptions.defaults(2);
            assertEquals(2, d.device());
            assertFalse(d.tf32Gemm(), "PyTorch default: FP32 GEMMs");
            assertTrue(d.tf32Conv(), "PyTorch default: TF32 convolutions");
            assertTrue(d.deterministicConv());
            assertFalse(d.autotuneConv());
            assertFalse(d.syncEveryLaunch());
            assertFalse(d.traceSyncs());
            assertEquals("default", d.tf32Mode());
        } finally {
            if (old == null) System.clearProperty("diffusion4j.tf32");
            else System.setProperty("diffusion4j.tf32", old);
        }
        CudaOptions on = CudaOptions.defaults(0).withTf32("on");
        assertTrue(on.tf32Gemm() && on.tf32Conv());
        assertEquals("on", on.tf32Mode());
        CudaOptions off = CudaOptions.defaults(0).withTf32("OFF");
        assertFalse(off.tf32Gemm() || off.tf32Conv());
        assertEquals("off", off.tf32Mode());
        assertEquals(CudaOptions.defaults(0), off.withTf32("default"));
        assertEquals("custom", CudaOptions.defaults(0).withTf32(true, false).tf32Mode());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaOptions.defaults(0).withTf32("yes"));
        assertEquals("--tf32 must be default, on or off, got 'yes'", e.getMessage());
        CudaOptions all = CudaOptions.defaults(0).withDeterministicConv(false).withAutotuneConv(true)
                .withSyncEveryLaunch(true).withTraceSyncs(true);
        assertFalse(all.deterministicConv());
        assertTrue(all.autotuneConv() && all.syncEveryLaunch() && all.traceSyncs());
        assertEquals("GEMMs FP32, convolutions TF32 (--tf32 default), cuDNN algorithms any, timed per shape, "
                + "synchronised after every launch, host waits traced", all.summary());
        assertEquals("GEMMs FP32, convolutions TF32 (--tf32 default), cuDNN algorithms deterministic, by heuristics",
                CudaOptions.defaults(0).summary());
        assertThrows(IllegalArgumentException.class, () -> CudaOptions.defaults(-1));
    }

    @Test void theCpuBackendIgnoresBeginStep() {
        Backend b = CpuBackend.get();
        var t = b.scratch(io.github.diffusion4j.tensor.Shape.of(3));
        b.fill(t, 2f);
        b.beginStep();
        assertEquals(6.0, b.sum(t));
    }
}
