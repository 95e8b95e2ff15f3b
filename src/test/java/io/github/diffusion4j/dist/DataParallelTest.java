package io.github.diffusion4j.dist;

import io.github.diffusion4j.cli.CliRun;
import io.github.diffusion4j.io.SafeTensors;
import io.github.diffusion4j.train.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Data-parallel training on the CPU backend under {@code mpirun -np 2}: the same model as one process with the
 * whole batch, resumes across world sizes, and a dead or hung rank stops the others.
 */
class DataParallelTest {
    /** Class-conditional, label and residual dropout, offset noise: every random draw of a step is in play. */
    static final String[] OPTS = {"--classes", "--dropout", "0.1", "--cfg-dropout", "0.3", "--offset-noise", "0.1",
            "--lr-schedule", "constant", "--warmup", "2", "--log-every", "1", "--lr", "1e-3"};

    @BeforeAll
    static void mpirun() { MpiLaunch.assumeMpirun(); }

    static String[] train(Path out, long steps, String... extra) { return train("cpu", out, steps, extra); }

    static String[] train(String device, Path out, long steps, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", "tiny", "--image-size", "16", "--batch-size", "4",
                "--steps", Long.toString(steps), "--sample-count", "0", "--device", device, "--threads", "1",
                "--out", out.toString()));
        a.addAll(List.of(OPTS));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    static Path ckpt(Path run, long step) {
        return run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(step));
    }

    /**
     * The L2 norm of the difference between two checkpoints' weights (model and EMA) relative to the L2 norm of how
     * far {@code a}'s moved from {@code start}: "close" means close compared with what training did.
     */
    static double relativeDifference(Path a, Path b, Path start) throws IOException {
        double d2 = 0, m2 = 0;
        for (String f : List.of(Checkpoint.MODEL, Checkpoint.EMA)) {
            Map<String, SafeTensors.Entry> x = SafeTensors.read(a.resolve(f)).tensors(), y = SafeTensors.read(b.resolve(f)).tensors(),
                    s = SafeTensors.read(start.resolve(f)).tensors();
            assertEquals(x.keySet(), y.keySet());
            for (String k : x.keySet()) {
                float[] u = x.get(k).data(), v = y.get(k).data(), w = s.get(k).data();
                for (int i = 0; i < u.length; i++) {
                    d2 += (double) (u[i] - v[i]) * (u[i] - v[i]);
                    m2 += (double) (u[i] - w[i]) * (u[i] - w[i]);
                }
            }
        }
        assertTrue(m2 > 0, "the weights did not move");
        return Math.sqrt(d2 / m2);
    }

    /** The largest absolute difference between two checkpoints' weights (model and EMA). */
    static double maxDifference(Path a, Path b) throws IOException {
        double d = 0;
        for (String f : List.of(Checkpoint.MODEL, Checkpoint.EMA)) {
            Map<String, SafeTensors.Entry> x = SafeTensors.read(a.resolve(f)).tensors(), y = SafeTensors.read(b.resolve(f)).tensors();
            assertEquals(x.keySet(), y.keySet());
            for (String k : x.keySet()) {
                float[] u = x.get(k).data(), v = y.get(k).data();
                for (int i = 0; i < u.length; i++) d = Math.max(d, Math.abs(u[i] - v[i]));
            }
        }
        return d;
    }

    /**
     * 2 ranks × 2 images against 1 process × 4 images, 4 steps. The ranks draw exactly the samples, timesteps, noise
     * and masks of the whole batch, so the gradients differ only in the order of the FP32 sums over the batch (two
     * partial sums of two plus one of the all-reduce, against one of four): a few ulp, about 1e-7 relative. AdamW
     * divides by sqrt(v), which magnifies such a change for the few elements whose gradient is near zero (their
     * update's sign may flip: up to 2 lr), so the check is on the L2 norm over all weights, against how far steps
     * 3 and 4 moved them: 1e-4 of it (measured 4.0e-6; a single sample with the wrong noise or mask gives ~1e-1).
     */
    @Test
    void twoRanksTrainTheModelOfOneProcess(@TempDir Path tmp) throws Exception {
        Path one = tmp.resolve("one"), two = tmp.resolve("two");
        CliRun.run(train(one, 4, "--checkpoint-every", "2")).ok();
        // small buckets (the tiny model has 0.7 MB of gradients): several, most started during the backward pass
        MpiLaunch.Result r = MpiLaunch.run(tmp, 2, train(two, 4, "--checkpoint-every", "2", "--bucket-mb", "0.1")).ok();
        assertBucketsOverlap(r.out());
        assertTrue(r.out().contains("data-parallel: 2 ranks"), r.out());
        assertTrue(r.out().lines().noneMatch(l -> l.startsWith("rank 1")), "rank 1 stays quiet:\n" + r.out());
        assertTrue(Files.isDirectory(ckpt(two, 4)), r.out());
        // compared over the ranks before every checkpoint
        assertTrue(r.out().contains("step-000004 (weights identical on the 2 ranks)"), r.out());
        double rel = relativeDifference(ckpt(one, 4), ckpt(two, 4), ckpt(one, 2));
        System.out.printf(Locale.ROOT, "2 ranks vs 1 process after 4 steps: |w - w'| / |w4 - w2| = %.2e%n", rel);
        assertTrue(rel < 1e-4, "relative difference " + rel);
        // the losses logged by rank 0 are the global batch's
        List<String> a = Files.readAllLines(one.resolve("metrics.jsonl")), b = Files.readAllLines(two.resolve("metrics.jsonl"));
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            double la = loss(a.get(i)), lb = loss(b.get(i));
            assertTrue(Math.abs(la - lb) <= 1e-5 * Math.abs(la), "step " + (i + 1) + ": loss " + la + " vs " + lb);
        }
    }

    /** The run's report: several buckets, all but the last few started before the backward pass ended. */
    static void assertBucketsOverlap(String out) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("gradient all-reduce: (\\d+) buckets, (\\d+) of them started during the backward pass").matcher(out);
        assertTrue(m.find(), out);
        int n = Integer.parseInt(m.group(1)), early = Integer.parseInt(m.group(2));
        assertTrue(n >= 5 && early >= n / 2 && early < n, n + " buckets, " + early + " early");
    }

    static double loss(String row) {
        int i = row.indexOf("\"loss\":") + 7;
        int j = row.indexOf(',', i);
        return Double.parseDouble(row.substring(i, j));
    }

    /** A 2-rank checkpoint resumes with 1 process and a 1-process checkpoint with 2 ranks, on the same data order. */
    @Test
    void resumesAcrossWorldSizes(@TempDir Path tmp) throws Exception {
        Path straight = tmp.resolve("straight"), a = tmp.resolve("a"), b = tmp.resolve("b");
        CliRun.run(train(straight, 4, "--checkpoint-every", "2")).ok();
        MpiLaunch.run(tmp, 2, train(a, 2)).ok();
        CliRun.Result r = CliRun.run("train", "--resume", "--out", a.toString(), "--steps", "4", "--device", "cpu").ok();
        assertTrue(r.out().contains("resuming at step 2"), r.describe());
        CliRun.run(train(b, 2)).ok();
        MpiLaunch.Result m = MpiLaunch.run(tmp, 2, "train", "--resume", "--out", b.toString(), "--steps", "4",
                "--device", "cpu", "--threads", "1").ok();
        assertTrue(m.out().contains("resuming at step 2"), m.out());
        for (Path run : List.of(a, b)) {
            double rel = relativeDifference(ckpt(straight, 4), ckpt(run, 4), ckpt(straight, 2));
            System.out.printf(Locale.ROOT, "resumed across world sizes (%s): |w - w'| / |w4 - w2| = %.2e%n", run.getFileName(), rel);
            assertTrue(rel < 1e-4, run + ": relative difference " + rel);
            assertEquals(Files.readString(ckpt(straight, 4).resolve(Checkpoint.CONFIG)).contains("\"index\" : 16"),
                    Files.readString(ckpt(run, 4).resolve(Checkpoint.CONFIG)).contains("\"index\" : 16"), "data position");
        }
    }

    /** {@code sample} shares the batches over the ranks and rank 0 writes exactly the images of one process. */
    @Test
    void twoRanksSampleTheImagesOfOneProcess(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        CliRun.run(train(run, 2)).ok();   // class-conditional (OPTS): sample's balanced labels are shared too
        String[] common = {"sample", "--run", run.toString(), "--count", "7", "--batch-size", "2", "--steps", "3",
                "--device", "cpu", "--threads", "1"};
        Path one = tmp.resolve("one"), two = tmp.resolve("two");
        CliRun.run(CliRun.concat(common, "--out", tmp.resolve("one.png").toString(), "--out-dir", one.toString())).ok();
        MpiLaunch.Result r = MpiLaunch.run(tmp, 2, CliRun.concat(common, "--out", tmp.resolve("two.png").toString(),
                "--out-dir", two.toString())).ok();
        assertTrue(r.out().contains("7 images in"), r.out());
        assertEquals(Files.readString(one.resolve("labels.csv")), Files.readString(two.resolve("labels.csv")));
        for (int i = 0; i < 7; i++) {
            String f = String.format(Locale.ROOT, "sample-%04d.png", i);
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(one.resolve(f)), Files.readAllBytes(two.resolve(f))), f);
        }
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(tmp.resolve("one.png")), Files.readAllBytes(tmp.resolve("two.png"))));
    }

    /** {@code evaluate --run} under 2 ranks: they share the sampling, rank 0 scores, and the scores are one process's. */
    @Test
    void twoRanksEvaluateAsOneProcess(@TempDir Path tmp) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(Path.of("/usr/share/datasets/fashion-mnist")),
                "Fashion-MNIST not installed (Debian: dataset-fashion-mnist)");
        Path run = tmp.resolve("fm");
        CliRun.run("train", "--data", "fashion-mnist", "--model", "tiny", "--steps", "2", "--sample-count", "0",
                "--device", "cpu", "--classes", "--out", run.toString()).ok();
        String[] eval = {"evaluate", "--run", run.toString(), "--count", "12", "--steps", "2", "--reference-count", "60",
                "--no-cache", "--json", "--device", "cpu"};
        String one = CliRun.run(eval).ok().out().trim();
        MpiLaunch.Result r = MpiLaunch.run(tmp, 2, eval).ok();
        String two = r.out().lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow(() -> new AssertionError(r.out()));
        // everything but the timing
        assertEquals(one.replaceAll(",\"seconds\":[0-9.]+", ""), two.replaceAll(",\"seconds\":[0-9.]+", ""));
    }


    /** An odd batch does not split over 2 ranks: one line from rank 0, and the run stops. */
    @Test
    void aBatchThatDoesNotSplitIsRefused(@TempDir Path tmp) throws Exception {
        MpiLaunch.Result r = MpiLaunch.run(tmp, 2, "train", "--model", "tiny", "--image-size", "16", "--batch-size", "3",
                "--steps", "1", "--sample-count", "0", "--device", "cpu", "--out", tmp.resolve("odd").toString());
        assertTrue(r.code() != 0, r.out());
        assertTrue(r.out().contains("rank 0/2: error: the batch size 3 is not divisible by the 2 ranks"), r.out());
        assertTrue(!r.out().contains("rank 1/2: error"), "the same input error once, from rank 0:\n" + r.out());
    }

    /**
     * kill -9 of rank 1 in the middle of a run: the launcher stops rank 0 within a bounded time, no partial checkpoint
     * is left, and the last complete one resumes (with one process).
     */
    @Test
    void aKilledRankStopsTheOthers(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("killed");
        Process p = MpiLaunch.start(tmp.resolve("killed.log"), 2, train(run, 100_000, "--checkpoint-every", "3",
                "--dist-timeout", "30"));
        try {
            waitFor(() -> Files.isDirectory(ckpt(run, 3)), 120, p, tmp.resolve("killed.log"));
            long pid = MpiLaunch.pidOfRank(run.toString(), 1);
            assertTrue(pid > 0, "rank 1 not found");
            new ProcessBuilder("kill", "-9", Long.toString(pid)).start().waitFor();
            long t0 = System.nanoTime();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "rank 0 still running 60 s after rank 1 died:\n"
                    + Files.readString(tmp.resolve("killed.log")));
            System.out.printf(Locale.ROOT, "killed rank: mpirun ended %.1f s later, exit %d%n", (System.nanoTime() - t0) / 1e9, p.exitValue());
            assertTrue(p.exitValue() != 0);
        } finally {
            p.destroyForcibly();
        }
        assertNoPartialCheckpoint(run);
        String latest = Files.readString(run.resolve(Checkpoint.DIR).resolve("latest")).trim();
        long n = Long.parseLong(latest.substring("step-".length()));
        CliRun.Result r = CliRun.run("train", "--resume", "--out", run.toString(), "--steps", Long.toString(n + 1),
                "--device", "cpu").ok();
        assertTrue(r.out().contains("resuming at step " + n), r.describe());
        try (Stream<Path> s = Files.list(run.resolve(Checkpoint.DIR))) {
            assertTrue(s.noneMatch(d -> d.getFileName().toString().startsWith(".")), "a half-written folder survived the resume");
        }
    }

    /**
     * SIGSTOP on rank 1 (a hang, not a death: the launcher sees nothing): rank 0's watchdog stops the run after
     * --dist-timeout with one line naming the wait.
     */
    @Test
    void aHungRankIsStoppedByTheWatchdog(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("hung"), log = tmp.resolve("hung.log");
        Process p = MpiLaunch.start(log, 2, train(run, 100_000, "--checkpoint-every", "3", "--dist-timeout", "5"));
        long pid = -1;
        try {
            waitFor(() -> Files.isDirectory(ckpt(run, 3)), 120, p, log);
            pid = MpiLaunch.pidOfRank(run.toString(), 1);
            assertTrue(pid > 0, "rank 1 not found");
            new ProcessBuilder("kill", "-STOP", Long.toString(pid)).start().waitFor();
            long t0 = System.nanoTime();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "still running 60 s after rank 1 hung:\n" + Files.readString(log));
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "hung rank: mpirun ended %.1f s later (timeout 5 s), exit %d%n", s, p.exitValue());
            assertTrue(p.exitValue() != 0);
            String out = Files.readString(log);
            assertTrue(out.contains("rank 0/2: ") && out.contains("has not finished after 5 s"), out);
        } finally {
            if (pid > 0) new ProcessBuilder("kill", "-9", Long.toString(pid)).start().waitFor();
            p.destroyForcibly();
        }
        assertNoPartialCheckpoint(run);
    }

    /**
     * Every checkpoint folder is complete and {@code latest} names one; a folder being written when the process was
     * killed can only be a hidden temporary one (removed by the next start).
     */
    static void assertNoPartialCheckpoint(Path run) throws IOException {
        String latest = Files.readString(run.resolve(Checkpoint.DIR).resolve("latest")).trim();
        assertTrue(Files.isDirectory(run.resolve(Checkpoint.DIR).resolve(latest)), "latest points at " + latest);
        try (Stream<Path> s = Files.list(run.resolve(Checkpoint.DIR))) {
            for (Path d : s.toList()) {
                String n = d.getFileName().toString();
                if (n.startsWith(".tmp-")) continue;
                assertTrue(n.matches("step-\\d+") || n.equals("latest") || n.equals("best"), "left behind: " + d);
                if (n.matches("step-\\d+")) {
                    for (String f : List.of(Checkpoint.MODEL, Checkpoint.EMA, Checkpoint.OPTIMIZER, Checkpoint.CONFIG)) {
                        assertTrue(Files.isRegularFile(d.resolve(f)), "incomplete " + d);
                    }
                }
            }
        }
    }

    interface Check { boolean ok() throws IOException; }

    static void waitFor(Check c, int seconds, Process p, Path log) throws Exception {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        while (!c.ok()) {
            if (!p.isAlive()) fail("mpirun ended early:\n" + Files.readString(log));
            if (System.nanoTime() > end) fail("timed out:\n" + Files.readString(log));
            Thread.sleep(100);
        }
    }
}
