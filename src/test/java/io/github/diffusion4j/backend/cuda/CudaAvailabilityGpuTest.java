package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** On a machine with a GPU: the probe finds driver, device, cuBLAS and cuDNN. Skips cleanly elsewhere. */
@Tag("gpu")
class CudaAvailabilityGpuTest {

    @Test void probeFindsEverythingOnAGpuMachine() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
        assertEquals("cuda", a.autoBackend());
        assertNotNull(a.deviceDescription());
        assertTrue(a.driver().version().matches("\\d+\\.\\d+"), a.driver().version());
        assertTrue(a.cudnn().version().startsWith("9."), a.cudnn().version());
        assertTrue(a.cublas().version().matches("1[23]\\.\\d+\\.\\d+"), a.cublas().version());
        System.out.println(String.join("\n", a.details()));
    }
}
