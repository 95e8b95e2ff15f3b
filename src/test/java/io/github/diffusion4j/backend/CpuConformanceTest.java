package io.github.diffusion4j.backend;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.util.List;

/**
 * The conformance harness run with a second CPU backend as the backend under test: everything must agree bit for
 * bit. Validates the harness itself (shapes, argument orders, assign/accumulate set-ups, the error paths) without a
 * GPU, so that the gpu-tagged CUDA run of the same harness only tests the GPU.
 */
class CpuConformanceTest {
    @TestFactory List<DynamicTest> everyOpAgreesWithASecondCpuBackend() {
        return new BackendConformance(CpuBackend.get(), new CpuBackend(), BackendConformance.Tolerance.bitwise()).tests();
    }
}
