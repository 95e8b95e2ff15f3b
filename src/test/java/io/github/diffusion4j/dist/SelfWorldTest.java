package io.github.diffusion4j.dist;

import io.github.diffusion4j.cli.CliRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code train --distributed self}: one process on the data-parallel code path (slices, buckets, the backend's
 * all-reduce over one rank, the agreed stop) without MPI trains exactly the model of a plain run, to the bit.
 */
class SelfWorldTest {
    static void sameAsPlain(Path tmp, String device) throws Exception {
        Path plain = tmp.resolve("plain"), self = tmp.resolve("self");
        CliRun.run(DataParallelTest.train(device, plain, 3, "--distributed", "off")).ok();
        CliRun.Result r = CliRun.run(DataParallelTest.train(device, self, 3, "--distributed", "self", "--bucket-mb", "0.1")).ok();
        assertTrue(r.out().contains("data-parallel: 1 ranks (no MPI: --distributed self)"), r.describe());
        DataParallelTest.assertBucketsOverlap(r.out());
        List<String> a = Files.readAllLines(plain.resolve("metrics.jsonl")), b = Files.readAllLines(self.resolve("metrics.jsonl"));
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) assertEquals(DataParallelTest.loss(a.get(i)), DataParallelTest.loss(b.get(i)));
        assertEquals(0.0, DataParallelTest.maxDifference(DataParallelTest.ckpt(plain, 3), DataParallelTest.ckpt(self, 3)),
                "weights differ");
    }

    @Test
    void cpu(@TempDir Path tmp) throws Exception { sameAsPlain(tmp, "cpu"); }
}
