package io.github.diffusion4j.dist;

import io.github.diffusion4j.backend.cuda.CudaAvailability;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * {@code train --distributed self} on CUDA: one GPU through NcclAllReduce (NCCL over one rank, on the communication
 * stream) trains the plain run's model to the bit. On a GPU this is real NCCL; under the emulation, its stand-in.
 */
@Tag("gpu")
class SelfWorldCudaGpuTest {
    @Test
    void cuda(@TempDir Path tmp) throws Exception {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
        Assumptions.assumeTrue(io.github.diffusion4j.backend.cuda.Nccl.probe().found(), "NCCL (libnccl.so.2) not found");
        SelfWorldTest.sameAsPlain(tmp, "cuda");
    }
}
