package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.BackendConformance;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

import java.util.List;

/**
 * Every Backend op on the GPU against the CPU reference, on the same random inputs ({@link BackendConformance}):
 * bitwise where the kernel evaluates the CPU's float expression in the same order, bounded elsewhere. Once in strict
 * FP32 (no TF32; every launch synchronised and checked, so a fault names its op) and once with the default math
 * (TF32 convolutions, as PyTorch). Skips cleanly without a GPU.
 */
@Tag("gpu")
class CudaOpsGpuTest {
    static CudaBackend strict, defaults, autotuned;

    @BeforeAll static void start() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
        strict = CudaBackend.create(CudaOptions.strictFp32(0).withSyncEveryLaunch(true));
        defaults = CudaBackend.create(CudaOptions.defaults(0));
        autotuned = CudaBackend.create(CudaOptions.strictFp32(0).withAutotuneConv(true));
        System.out.println("GPU (strict FP32): " + strict.description());
        System.out.println("GPU (defaults):    " + defaults.description());
    }

    @AfterAll static void stop() {
        // which cuDNN algorithms and math types were chosen (strict: math 3 = FMA only, i.e. no TF32, expected)
        if (strict != null) strict.convPlanSummary().forEach(l -> System.out.println("cuDNN plan (strict):   " + l));
        if (defaults != null) defaults.convPlanSummary().forEach(l -> System.out.println("cuDNN plan (defaults): " + l));
        if (autotuned != null) autotuned.convPlanSummary().forEach(l -> System.out.println("cuDNN plan (timed):    " + l));
        if (strict != null) strict.close();
        if (defaults != null) defaults.close();
        if (autotuned != null) autotuned.close();
    }

    @TestFactory List<DynamicTest> everyOpMatchesTheCpuInFp32() {
        return new BackendConformance(CpuBackend.get(), strict, BackendConformance.Tolerance.gpuFp32()).tests();
    }

    /**
     * Strict FP32 with the convolution algorithms chosen by timing (cudnnFind*, bench's default) instead of heuristics.
     */
    @TestFactory List<DynamicTest> everyOpMatchesTheCpuWithTimedConvolutionAlgorithms() {
        return new BackendConformance(CpuBackend.get(), autotuned, BackendConformance.Tolerance.gpuFp32()).tests();
    }

    @TestFactory List<DynamicTest> everyOpMatchesTheCpuWithDefaultMath() {
        BackendConformance.Tolerance t = defaults.options().tf32Conv() || defaults.options().tf32Gemm()
                ? BackendConformance.Tolerance.gpuTf32() : BackendConformance.Tolerance.gpuFp32();
        return new BackendConformance(CpuBackend.get(), defaults, t).tests();
    }
}
