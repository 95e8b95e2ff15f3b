package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.io.SafeTensors;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.train.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a training process leaves in its run folder when the machine gets in the way: kill -9 at random moments
 * (a checkpoint every step) never leaves a checkpoint that is picked up half-written nor a staging folder after the
 * next start; a second process training into the same folder is refused while the first runs, and a killed one does
 * not leave the folder locked; a write that fails (a file size limit, as a full disk would) is one line, exit 1, and
 * keeps the earlier checkpoint, the latest pointer and the metrics.
 */
@EnabledOnOs(OS.LINUX)
class RunFolderSafetyTest {
    private static final String[] TINY = {"train", "--model", "tiny", "--image-size", "16", "--batch-size", "4",
            "--sample-count", "0", "--device", "cpu", "--log-every", "1"};
    /** What a resume may repeat (the run's settings come from its checkpoint). */
    private static final String[] RESUME = {"train", "--resume", "--sample-count", "0", "--device", "cpu", "--log-every", "1"};

    /** A training process of this build (stdout and stderr collected); {@code prefix} runs it under a shell. */
    static Process start(String shellPrefix, String... args) throws IOException {
        List<String> java = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-Xmx1g", "-XX:-UsePerfData", "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        java.addAll(List.of(args));
        List<String> cmd = new ArrayList<>();
        if (shellPrefix != null) {
            StringBuilder line = new StringBuilder(shellPrefix).append("; exec");
            for (String a : java) line.append(" '").append(a.replace("'", "'\\''")).append('\'');
            cmd.addAll(List.of("bash", "-c", line.toString()));
        } else {
            cmd.addAll(java);
        }
        return new ProcessBuilder(cmd).redirectErrorStream(false).start();
    }


    /** The latest checkpoint is whole: config, raw and EMA weights (finite), optimizer moments. */
    static long assertLoadable(Path run) throws IOException {
        Path dir = Checkpoint.resolve(run);
        Checkpoint.Info info = Checkpoint.readInfo(dir);
        Model m = Checkpoint.buildModel(info);
        m.params().allocate(CpuBackend.get(), 0);
        try {
            Checkpoint.loadWeights(info, m, false);
            Checkpoint.loadWeights(info, m, true);
        } finally {
            m.params().close();
        }
        assertFalse(SafeTensors.read(dir.resolve(Checkpoint.OPTIMIZER)).tensors().isEmpty());
        return info.step();
    }

    static List<String> leftovers(Path run) throws IOException {
        Path ck = run.resolve(Checkpoint.DIR);
        if (!Files.isDirectory(ck)) return List.of();
        try (Stream<Path> s = Files.list(ck)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".tmp-") || n.startsWith(".old-")).toList();
        }
    }

    @Test
    void killNineNeverLeavesAHalfWrittenCheckpoint(@TempDir Path tmp) throws Exception {
        SplittableRandom rng = new SplittableRandom(19);
        int trials = 3, staging = 0;
        for (int t = 0; t < trials; t++) {
            Path run = tmp.resolve("run-" + t);
            Process p = start(null, CliRun.concat(TINY, "--steps", "100000", "--checkpoint-every", "1", "--out", run.toString()));
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
                while (!Files.exists(run.resolve(Checkpoint.DIR).resolve("latest")) && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertTrue(p.isAlive(), "the trainer ended early");
                Thread.sleep(rng.nextInt(50, 1500));   // a random moment of checkpointing every step
                p.destroyForcibly();                    // SIGKILL
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            } finally {
                if (p.isAlive()) p.destroyForcibly();
            }
            staging += leftovers(run).size();
            long step = assertLoadable(run);
            assertTrue(step >= 1);
            // the next start takes the folder (no stale lock), clears what the killed one left, and resumes
            CliRun.run(CliRun.concat(RESUME, "--out", run.toString(), "--steps", Long.toString(step + 1))).ok();
            assertEquals(List.of(), leftovers(run), "staging folders after the resume");
            assertEquals(step + 1, assertLoadable(run));
        }
        System.out.printf("kill -9: %d trials, every latest checkpoint whole; %d staging folders left by the kills, "
                + "all removed by the next start%n", trials, staging);
    }

    @Test
    void aSecondTrainerIntoTheSameFolderIsRefused(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        Process p = start(null, CliRun.concat(TINY, "--steps", "100000", "--checkpoint-every", "0", "--out", run.toString()));
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (!Files.exists(run.resolve("metrics.jsonl")) && System.nanoTime() < deadline) Thread.sleep(20);
            assertTrue(p.isAlive(), "the first trainer ended early");
            Path other = tmp.resolve("elsewhere");
            CliRun.run(CliRun.concat(TINY, "--steps", "1", "--out", run.toString())).oneLineError("in use by another training process",
                    "pid " + p.pid());
            CliRun.run(CliRun.concat(TINY, "--steps", "1", "--out", other.toString())).ok();   // another folder is fine
            p.destroyForcibly();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        } finally {
            if (p.isAlive()) p.destroyForcibly();
        }
        // killed without a checkpoint: the folder is free again (a fresh run there is refused only for its checkpoints)
        CliRun.Result r = CliRun.run(CliRun.concat(TINY, "--steps", "1", "--out", run.toString()));
        assertFalse(r.err().contains("in use"), r.describe());
    }

    @Test
    void aFailedCheckpointWriteIsOneLineAndKeepsTheEarlierOne(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        CliRun.run(CliRun.concat(TINY, "--steps", "2", "--checkpoint-every", "2", "--out", run.toString())).ok();
        long before = Files.readAllLines(run.resolve("metrics.jsonl")).size();
        // a 256 KiB file size limit: the next model.safetensors (about 700 KB) cannot be written (EFBIG, as ENOSPC)
        Process p = start("ulimit -f 256", CliRun.concat(RESUME, "--out", run.toString(), "--steps", "3"));
        String out = new String(p.getInputStream().readAllBytes()), err = new String(p.getErrorStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        err = err.replaceAll("(?m)^WARNING: Using incubator modules.*\n", "").strip();
        String both = "exit " + p.exitValue() + "\nstdout:\n" + out + "\nstderr:\n" + err;
        assertEquals(1, p.exitValue(), both);
        assertFalse(err.contains("\n") || err.contains("Exception") || err.contains("internal error"), both);
        assertTrue(err.startsWith("error: cannot write checkpoint " + run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(3))), both);
        assertEquals(2, assertLoadable(run), "latest still names the step-2 checkpoint, whole");
        assertEquals(List.of(), leftovers(run), "the partial staging folder is removed");
        assertFalse(Files.exists(run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(3))));
        assertEquals(before + 1, Files.readAllLines(run.resolve("metrics.jsonl")).size(), "step 3's metrics row was written");
    }
}
