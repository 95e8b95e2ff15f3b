package io.github.diffusion4j.dist;

import io.github.diffusion4j.backend.cuda.CudaAvailability;
import io.github.diffusion4j.cli.CliRun;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA backend's data-parallel path (NcclAllReduce: NCCL on a communication stream, fed by the buckets as the
 * backward pass produces them) under {@code mpirun -np 2}: the same model as one CUDA process with the whole
 * batch. Runs on two GPUs, or under the CUDA emulation, whose libnccl.so.2 stand-in sums over MPI (one emulated
 * device serves both ranks there; real NCCL refuses two ranks on one GPU, so a one-GPU machine skips).
 */
@Tag("gpu")
class DataParallelCudaGpuTest {
    @BeforeAll
    static void cudaAndMpirun() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
        boolean emulated = a.deviceDescription().contains("emulator");
        Assumptions.assumeTrue(emulated || a.deviceCount() >= 2,
                "two ranks need two GPUs (or the CUDA emulation)");
        MpiLaunch.assumeMpirun();
    }

    @Test
    void twoCudaRanksTrainTheModelOfOneCudaProcess(@TempDir Path tmp) throws Exception {
        Path one = tmp.resolve("one"), two = tmp.resolve("two");
        CliRun.run(DataParallelTest.train("cuda", one, 4, "--checkpoint-every", "2")).ok();
        MpiLaunch.Result r = MpiLaunch.run(tmp, 2, DataParallelTest.train("cuda", two, 4, "--checkpoint-every", "2",
                "--bucket-mb", "0.1")).ok();
        DataParallelTest.assertBucketsOverlap(r.out());
        assertTrue(r.out().contains("backend: cuda"), r.out());
        assertTrue(r.out().contains("data-parallel: 2 ranks"), r.out());
        assertTrue(r.out().contains("step-000004 (weights identical on the 2 ranks)"), r.out());
        double rel = DataParallelTest.relativeDifference(DataParallelTest.ckpt(one, 4), DataParallelTest.ckpt(two, 4),
                DataParallelTest.ckpt(one, 2));
        System.out.printf(Locale.ROOT, "2 CUDA ranks vs 1 CUDA process after 4 steps: |w - w'| / |w4 - w2| = %.2e%n", rel);
        assertTrue(rel < 1e-4, "relative difference " + rel);
        assertTrue(Files.readString(two.resolve("metrics.jsonl")).lines().count() == 4);
    }
}
