package io.github.diffusion4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.cli.CliRun;
import io.github.diffusion4j.io.SafeTensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Resuming is bitwise exact: 2N steps in one go and N steps + {@code --resume} for N more give the same weights,
 * EMA weights, optimizer moments, data position and logged losses, to the bit (CPU backend).
 */
class ResumeExactTest {
    static final int N = 3;
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Class-conditional with label dropout and residual dropout (both draw random masks every step), constant LR so
     * the total step count does not shape the schedule: train N, then {@code --resume} to 2N, through the CLI.
     */
    @Test
    void trainThenResumeEqualsStraightRun(@TempDir Path tmp) throws IOException {
        String[] opts = {"--classes", "--dropout", "0.1", "--cfg-dropout", "0.5", "--lr-schedule", "constant",
                "--warmup", "2", "--log-every", "1"};
        Path straight = tmp.resolve("straight"), split = tmp.resolve("split");
        CliRun.trainTiny(straight, 2 * N, CliRun.concat(opts, "--checkpoint-every", Integer.toString(N))).ok();
        CliRun.trainTiny(split, N, opts).ok();
        CliRun.Result r = CliRun.run("train", "--resume", "--out", split.toString(), "--steps", Integer.toString(2 * N),
                "--sample-count", "0", "--device", "cpu", "--log-every", "1").ok();
        assertTrue(r.out().contains("resuming at step " + N), r.describe());

        assertSameCheckpoint(ckpt(straight, N), ckpt(split, N));
        assertSameCheckpoint(ckpt(straight, 2 * N), ckpt(split, 2 * N));
        assertWeightsMoved(ckpt(straight, N), ckpt(straight, 2 * N));
        assertSameMetrics(straight, split, 2 * N);
        JsonNode c = JSON.readTree(ckpt(split, 2 * N).resolve(Checkpoint.CONFIG).toFile());
        assertEquals(2 * N, c.path("step").asLong());
        assertEquals(2 * N, c.path("optimizer").path("step").asLong());
        assertEquals(3, c.path("model").path("num_classes").asInt(), "trained class-conditionally");
    }

    /**
     * Gradient accumulation 2 with the cosine schedule: a run stopped after N of 2N steps (as Ctrl-C does, through
     * {@link Trainer#requestStop()}, which writes the checkpoint) and resumed by the CLI equals the uninterrupted run.
     */
    @Test
    void interruptedRunWithGradAccumResumesExactly(@TempDir Path tmp) throws IOException {
        TrainConfig cfg = new TrainConfig();
        cfg.model = "tiny";
        cfg.imageSize = 16;
        cfg.batchSize = 4;
        cfg.gradAccum = 2;
        cfg.steps = 2 * N;
        cfg.warmup = 2;
        cfg.sampleCount = 0;
        cfg.logEvery = 1;
        cfg.checkpointEvery = N;
        cfg.seed = 7;
        Path straight = tmp.resolve("straight"), stopped = tmp.resolve("stopped");
        try (Trainer t = new Trainer(cfg.copy(), straight, CpuBackend.get(), null)) {
            assertEquals(2 * N, t.run(new Trainer.Listener() {}));
        }
        TrainConfig c2 = cfg.copy();
        c2.checkpointEvery = 0;   // only the stop writes a checkpoint
        boolean[] interrupted = {false};
        try (Trainer t = new Trainer(c2, stopped, CpuBackend.get(), null)) {
            long last = t.run(new Trainer.Listener() {
                @Override public void step(Trainer.Status s) {
                    // step N is in flight when step N - 1 is reported (the trainer queues a step before it reads
                    // the previous one's results), so a stop asked for then ends the run after step N
                    if (s.step() == N - 1) t.requestStop();
                }

                @Override public void finished(Trainer tr, long step, boolean wasInterrupted) {
                    interrupted[0] = wasInterrupted;
                }
            });
            assertEquals(N, last);
            assertTrue(interrupted[0]);
            assertEquals(ckpt(stopped, N), t.lastCheckpoint());
        }
        assertSameCheckpoint(ckpt(straight, N), ckpt(stopped, N));
        CliRun.run("train", "--resume", "--out", stopped.toString(), "--steps", Integer.toString(2 * N),
                "--sample-count", "0", "--device", "cpu", "--log-every", "1").ok();
        assertSameCheckpoint(ckpt(straight, 2 * N), ckpt(stopped, 2 * N));
        assertWeightsMoved(ckpt(straight, N), ckpt(straight, 2 * N));
        assertSameMetrics(straight, stopped, 2 * N);
        JsonNode c = JSON.readTree(ckpt(stopped, 2 * N).resolve(Checkpoint.CONFIG).toFile());
        assertEquals(2, c.path("train").path("grad_accum").asInt());
        assertEquals(2L * N * cfg.batchSize * cfg.gradAccum, c.path("data_position").path("index").asLong(),
                "2N steps of 2 micro-batches of 4 images");
    }

    static Path ckpt(Path run, long step) {
        return run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(step));
    }

    /** Same tensors to the bit in all three safetensors files; same step, data position and optimizer step. */
    static void assertSameCheckpoint(Path a, Path b) throws IOException {
        for (String f : List.of(Checkpoint.MODEL, Checkpoint.EMA, Checkpoint.OPTIMIZER)) {
            SafeTensors.Contents ca = SafeTensors.read(a.resolve(f)), cb = SafeTensors.read(b.resolve(f));
            assertEquals(new TreeMap<>(ca.tensors()).keySet(), new TreeMap<>(cb.tensors()).keySet(), f);
            assertEquals(ca.metadata(), cb.metadata(), f + " metadata");
            long differing = 0, total = 0;
            String first = null;
            for (Map.Entry<String, SafeTensors.Entry> e : ca.tensors().entrySet()) {
                float[] x = e.getValue().data(), y = cb.tensors().get(e.getKey()).data();
                assertArrayEquals(e.getValue().shape(), cb.tensors().get(e.getKey()).shape(), e.getKey());
                for (int i = 0; i < x.length; i++) {
                    if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) {
                        if (first == null) first = e.getKey() + "[" + i + "]: " + x[i] + " vs " + y[i];
                        differing++;
                    }
                }
                total += x.length;
            }
            if (differing > 0) fail(f + ": " + differing + " of " + total + " values differ between " + a + " and " + b + ", first " + first);
        }
        JsonNode ja = JSON.readTree(a.resolve(Checkpoint.CONFIG).toFile()), jb = JSON.readTree(b.resolve(Checkpoint.CONFIG).toFile());
        for (String k : List.of("step", "data_position", "optimizer", "model", "schedule", "rng")) {
            assertEquals(ja.path(k), jb.path(k), "config.json " + k);
        }
    }

    /** Guards against a vacuous comparison: the weights did change between the two checkpoints. */
    static void assertWeightsMoved(Path earlier, Path later) throws IOException {
        for (String f : List.of(Checkpoint.MODEL, Checkpoint.EMA)) {
            SafeTensors.Contents a = SafeTensors.read(earlier.resolve(f)), b = SafeTensors.read(later.resolve(f));
            long changed = 0;
            for (var e : a.tensors().entrySet()) {
                float[] x = e.getValue().data(), y = b.tensors().get(e.getKey()).data();
                for (int i = 0; i < x.length; i++) if (x[i] != y[i]) changed++;
            }
            assertTrue(changed > 1000, f + ": only " + changed + " values changed from " + earlier + " to " + later);
        }
    }

    /** metrics.jsonl has one row per step 1..steps in both runs, with the same loss, gradient norm, lr, EMA decay. */
    static void assertSameMetrics(Path a, Path b, int steps) throws IOException {
        List<JsonNode> ra = rows(a), rb = rows(b);
        assertEquals(steps, ra.size(), "rows of " + a);
        assertEquals(steps, rb.size(), "rows of " + b);
        for (int i = 0; i < steps; i++) {
            assertEquals(i + 1, ra.get(i).path("step").asLong());
            assertEquals(i + 1, rb.get(i).path("step").asLong());
            for (String k : List.of("loss", "grad_norm", "lr", "ema_decay", "mse")) {
                assertTrue(ra.get(i).has(k), k);
                assertEquals(ra.get(i).path(k).asDouble(), rb.get(i).path(k).asDouble(), 0.0, "step " + (i + 1) + " " + k);
            }
        }
    }

    static List<JsonNode> rows(Path run) throws IOException {
        List<JsonNode> rows = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) if (!line.isBlank()) rows.add(JSON.readTree(line));
        return rows;
    }

}
