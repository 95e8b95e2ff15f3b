package io.github.diffusion4j.train;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.cli.CliRun;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.Backend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The NaN guard: non-finite steps are skipped, and after {@code maxBadSteps} in a row training stops with
 * {@link TrainingDivergedException} naming the last good checkpoint, which still loads.
 */
class DivergenceTest {

    static TrainConfig tiny() {
        TrainConfig c = new TrainConfig();
        c.model = "tiny";
        c.imageSize = 16;
        c.batchSize = 4;
        c.steps = 20;
        c.sampleCount = 0;
        c.logEvery = 1;
        return c;
    }

    static void assertFinite(float[] v, String what) {
        for (int i = 0; i < v.length; i++) assertTrue(Float.isFinite(v[i]), what + "[" + i + "] = " + v[i]);
    }

    /**
     * Good steps 1..5 (checkpoints every 3), then the weights are poisoned with NaN when step 4 is reported: step 5
     * was queued (and, on the CPU, run) before that report, as the trainer queues each step before it reads the
     * previous one's results, so steps 6, 7, 8 are non-finite and skipped; the step-6 checkpoint falls inside that
     * streak and must not be written (it would be named as the "last good" one); the exception after step 8 names
     * step 3's checkpoint.
     */
    @Test
    void divergenceNamesTheLastGoodCheckpoint(@TempDir Path tmp) throws IOException {
        TrainConfig cfg = tiny();
        cfg.checkpointEvery = 3;
        cfg.maxBadSteps = 3;
        Path run = tmp.resolve("run");
        List<String> messages = new ArrayList<>();
        List<Trainer.Status> statuses = new ArrayList<>();
        TrainingDivergedException e;
        try (Trainer t = new Trainer(cfg, run, CpuBackend.get(), null)) {
            e = assertThrows(TrainingDivergedException.class, () -> t.run(new Trainer.Listener() {
                @Override public void step(Trainer.Status s) {
                    statuses.add(s);
                    if (s.step() == 4) {
                        Backend b = t.model().params().backend();
                        b.fill(t.model().params().values(), Float.NaN);
                    }
                }

                @Override public void message(String line) { messages.add(line); }
            }));
            assertEquals(8, t.step());
        }
        Path good = run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(3));
        String m = e.getMessage();
        assertTrue(m.contains("3 consecutive non-finite steps up to step 8"), m);
        assertTrue(m.endsWith("the last good checkpoint is " + good), m);
        assertTrue(messages.contains("step 6: non-finite loss, update skipped (1 in a row)"), messages.toString());
        assertTrue(messages.contains("step 7: non-finite loss, update skipped (2 in a row)"), messages.toString());
        for (Trainer.Status s : statuses) assertEquals(s.step() >= 6, s.skipped(), "step " + s.step());
        assertFalse(Files.exists(run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(6))), "no checkpoint inside the NaN streak");
        assertEquals(good, Checkpoint.resolve(run), "latest is the good one");
        assertEquals(7, Files.readAllLines(run.resolve("metrics.jsonl")).size(), "metrics flushed up to step 7");

        // the named checkpoint loads, holds finite weights, and training resumes from it
        Checkpoint.Info info = Checkpoint.readInfo(good);
        assertEquals(3, info.step());
        Model model = Checkpoint.buildModel(info);
        model.params().allocate(CpuBackend.get(), 0);
        try {
            Checkpoint.loadWeights(info, model, false);
            assertFinite(model.params().values().toArray(), "weights");
            Checkpoint.loadWeights(info, model, true);
            assertFinite(model.params().values().toArray(), "EMA weights");
        } finally {
            model.params().close();
        }
        TrainConfig more = tiny();
        more.steps = 5;
        try (Trainer t = new Trainer(more, tmp.resolve("resumed"), CpuBackend.get(), good)) {
            assertEquals(3, t.step());
            assertEquals(5, t.run(new Trainer.Listener() {}));
            assertFinite(t.model().params().values().toArray(), "weights after resuming");
        }
    }

    @Test
    void divergenceBeforeAnyCheckpointSaysSo(@TempDir Path tmp) throws IOException {
        TrainConfig cfg = tiny();
        cfg.checkpointEvery = 0;
        cfg.maxBadSteps = 2;
        Path run = tmp.resolve("run");
        try (Trainer t = new Trainer(cfg, run, CpuBackend.get(), null)) {
            CpuBackend.get().fill(t.model().params().values(), Float.NaN);
            TrainingDivergedException e = assertThrows(TrainingDivergedException.class, () -> t.run(new Trainer.Listener() {}));
            assertTrue(e.getMessage().contains("2 consecutive non-finite steps up to step 2"), e.getMessage());
            assertTrue(e.getMessage().contains("none (no checkpoint was written yet)"), e.getMessage());
            assertEquals(2, t.step());
        }
        assertFalse(Files.exists(run.resolve(Checkpoint.DIR)));
    }

    /**
     * Natural divergence through the CLI: a learning rate of 1e30 without clipping blows the weights up in step 1
     * (finite loss, update applied), every later loss is non-finite; the default guard (10 bad steps) stops the run
     * with one line on stderr naming the last checkpoint written after a finite step.
     */
    @Test
    void cliReportsDivergenceInOneLine(@TempDir Path tmp) {
        Path run = tmp.resolve("run");
        CliRun.Result r = CliRun.trainTiny(run, 30, "--lr", "1e30", "--warmup", "0", "--grad-clip", "0",
                "--checkpoint-every", "1", "--keep", "20");
        assertEquals(1, r.code(), r.describe());
        String err = r.err().strip();
        assertFalse(err.contains("\n") || err.contains("internal error") || err.contains("Exception"), r.describe());
        Path first = run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(1));
        assertEquals("error: training diverged: 10 consecutive non-finite steps up to step 11; the last good checkpoint is "
                + first, err);
        assertTrue(r.out().contains("step 2: non-finite loss, update skipped (1 in a row)"), r.describe());
    }
}
