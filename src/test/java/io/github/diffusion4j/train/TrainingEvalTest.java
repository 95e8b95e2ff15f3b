package io.github.diffusion4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.diffusion4j.cli.CliRun;
import io.github.diffusion4j.data.IdxDataset;
import io.github.diffusion4j.eval.TrainingEvaluator;
import io.github.diffusion4j.io.AtomicDirectory;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code train --eval-every}: a tiny class-conditional Fashion-MNIST run logs the scores in its metrics rows, draws
 * fd.png, keeps checkpoints/best at the lowest FD (through --keep pruning and a resume), scores exactly what
 * {@code evaluate --run} scores for the same checkpoint (and shares its cached reference), and trains exactly as
 * the same run without evaluation. Bad values: one-line errors.
 */
class TrainingEvalTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static Path cache;

    @BeforeAll static void setUp(@TempDir Path tmp) {
        Assumptions.assumeTrue(Files.isDirectory(IdxDataset.FASHION_MNIST_DIR), "Fashion-MNIST is not installed");
        cache = tmp.resolve("cache");   // this class's own, not the user's
    }

    static final String[] EVAL = {"--eval-every", "2", "--eval-count", "20", "--eval-sampler", "ddim", "--eval-steps", "2",
            "--eval-reference", "200"};

    /** Tiny, class-conditional, batch 4, LR 0.05 without warmup (FD falls to step 4, then rises: see below). */
    static CliRun.Result train(Path out, int steps, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", "tiny", "--data", "fashion-mnist", "--classes", "--image-size", "32",
                "--batch-size", "4", "--lr", "0.05", "--warmup", "0", "--steps", Integer.toString(steps), "--sample-count", "0",
                "--checkpoint-every", "0", "--keep", "1", "--log-every", "100", "--device", "cpu", "--out", out.toString(),
                "--eval-cache-dir", cache.toString()));
        a.addAll(List.of(extra));
        return CliRun.run(a.toArray(String[]::new));
    }

    static List<JsonNode> evalRows(Path run) throws IOException {
        List<JsonNode> rows = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(l);
            if (n.has("fd")) rows.add(n);
        }
        return rows;
    }

    static JsonNode lowest(List<JsonNode> rows) {
        JsonNode best = rows.get(0);
        for (JsonNode r : rows) if (r.path("fd").asDouble() < best.path("fd").asDouble()) best = r;
        return best;
    }

    @Test void aClassConditionalRunLogsScoresAndKeepsTheBestCheckpoint(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        CliRun.Result r = train(run, 8, EVAL).ok();
        assertTrue(r.out().contains("reference cache miss"), r.describe());
        assertTrue(r.out().contains("eval step 8: FD"), r.describe());

        List<JsonNode> rows = evalRows(run);
        assertEquals(List.of(2L, 4L, 6L, 8L), rows.stream().map(n -> n.path("step").asLong()).toList(), "eval steps 2, 4, 6 and the end");
        for (JsonNode n : rows) {
            assertTrue(n.has("loss"), "merged into the step's row: " + n);
            for (String k : new String[] {"fd", "kid", "kid_std", "precision", "recall", "class_accuracy", "fd_ratio", "fd_real", "class_accuracy_ratio"}) {
                assertTrue(n.path(k).isNumber() && Double.isFinite(n.path(k).asDouble()), k + " in " + n);
            }
            assertEquals(20, n.path("eval_count").asInt());
            assertTrue(n.path("fd").asDouble() > 0 && n.path("precision").asDouble() >= 0 && n.path("precision").asDouble() <= 1, n.toString());
        }
        assertTrue(Files.size(run.resolve(TrainingEvaluator.FD_PLOT)) > 1000);
        assertTrue(Files.isRegularFile(run.resolve(TrainingEvaluator.QUALITY_PLOT)));
        assertTrue(Files.isRegularFile(run.resolve("loss.png")));

        // checkpoints/best: the checkpoint of the lowest-FD step, whole, although --keep 1 pruned its step folder. With
        // these settings FD falls to step 4 and rises after it (measured 436.4, 406.8, 414.4, 416.1), so the best is
        // not the last checkpoint: the case pruning could break
        Path best = run.resolve(Checkpoint.DIR).resolve(TrainingEvaluator.BEST);
        JsonNode low = lowest(rows);
        assertEquals(4, low.path("step").asLong(), "FD of steps 2..8: " + rows.stream().map(n -> n.path("fd").asDouble()).toList());
        assertBest(best, low);
        List<String> steps;
        try (var s = Files.list(run.resolve(Checkpoint.DIR))) {
            steps = s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("step-")).sorted().toList();
        }
        assertEquals(List.of(Checkpoint.folderName(8)), steps, "--keep 1");
        assertEquals(run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(8)), AtomicDirectory.latest(run.resolve(Checkpoint.DIR)).orElseThrow());

        // evaluate --run scores the same images the same way, from the reference the trainer cached: on the final
        // checkpoint (the run's latest) it gives the last row's numbers, on checkpoints/best those of step 4; without
        // --sampler/--steps it samples as the run's evaluations did (ddim 2 here, not sample's default ddpm 100)
        assertSameScores(rows.get(rows.size() - 1), run, "--sampler", "ddim", "--steps", "2");
        assertSameScores(low, best);

        // resumed: the eval settings are the run's, the curve and the best FD continue
        CliRun.Result res = CliRun.run("train", "--resume", "--out", run.toString(), "--steps", "10", "--device", "cpu", "--eval-cache-dir", cache.toString()).ok();
        assertTrue(res.out().contains("reference cache hit"), res.describe());
        List<JsonNode> all = evalRows(run);
        assertEquals(List.of(2L, 4L, 6L, 8L, 10L), all.stream().map(n -> n.path("step").asLong()).toList());
        assertBest(best, lowest(all));
        CliRun.run("train", "--resume", "--out", run.toString(), "--steps", "10", "--device", "cpu", "--eval-cache-dir", cache.toString(), "--eval-every", "5")
                .oneLineError("--eval-every", "resum");
    }

    private static void assertSameScores(JsonNode row, Path run, String... sampling) {
        List<String> a = new java.util.ArrayList<>(List.of("evaluate", "--cache-dir", cache.toString(), "--run", run.toString(),
                "--count", "20", "--sample-device", "cpu", "--reference-count", "200", "--json"));
        a.addAll(List.of(sampling));
        String json = CliRun.run(a.toArray(String[]::new)).ok().out().strip();
        assertTrue(json.contains("\"reference_cache\":\"hit\""), json);
        for (String k : new String[] {"fd", "kid", "kid_std", "precision", "recall", "class_accuracy", "fd_ratio", "class_accuracy_ratio"}) {
            assertEquals(row.path(k).asDouble(), field(json, k), 1e-6 * Math.max(1, Math.abs(row.path(k).asDouble())), k + ": " + json);
        }
    }

    private static void assertBest(Path best, JsonNode low) throws IOException {
        JsonNode info = JSON.readTree(best.resolve(TrainingEvaluator.BEST_INFO).toFile());
        long step = low.path("step").asLong();
        assertEquals(step, info.path("step").asLong(), info.toString());
        assertEquals(Checkpoint.folderName(step), info.path("checkpoint").asText());
        assertEquals(low.path("fd").asDouble(), info.path("fd").asDouble(), 0.0);
        Checkpoint.Info ci = Checkpoint.readInfo(Checkpoint.resolve(best));
        assertEquals(step, ci.step(), "best holds the checkpoint of its step");
        for (String f : new String[] {Checkpoint.MODEL, Checkpoint.EMA, Checkpoint.OPTIMIZER}) assertTrue(Files.size(best.resolve(f)) > 0, f);
    }

    @Test void evaluationDoesNotChangeTrainingAndARunWithoutItIsUnchanged(@TempDir Path tmp) throws Exception {
        Path with = tmp.resolve("with"), without = tmp.resolve("without");
        train(with, 4, "--eval-every", "3", "--eval-count", "10", "--eval-sampler", "ddim", "--eval-steps", "1", "--eval-reference", "50").ok();
        train(without, 4).ok();
        Path a = with.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(4)), b = without.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(4));
        for (String f : new String[] {Checkpoint.MODEL, Checkpoint.EMA, Checkpoint.OPTIMIZER}) {
            assertArrayEquals(Files.readAllBytes(b.resolve(f)), Files.readAllBytes(a.resolve(f)), f);
        }
        JsonNode ca = JSON.readTree(a.resolve(Checkpoint.CONFIG).toFile()), cb = JSON.readTree(b.resolve(Checkpoint.CONFIG).toFile());
        assertTrue(ca.path("train").has("eval"), ca.toString());
        assertFalse(cb.path("train").has("eval"), "no eval settings in a run without --eval-every: " + cb);
        assertEquals(3, ca.path("train").path("eval").path("every").asInt());
        // the losses are the same; only the eval run has the eval step's extra row (step 3) and its scores
        List<String> la = Files.readAllLines(with.resolve("metrics.jsonl")), lb = Files.readAllLines(without.resolve("metrics.jsonl"));
        assertEquals(1, lb.size());
        assertEquals(2, la.size());
        assertEquals(JSON.readTree(lb.get(0)).path("loss"), JSON.readTree(la.get(1)).path("loss"));
        assertFalse(lb.get(0).contains("\"fd\""));
        assertFalse(Files.exists(without.resolve(TrainingEvaluator.FD_PLOT)));
        assertFalse(Files.exists(without.resolve(Checkpoint.DIR).resolve(TrainingEvaluator.BEST)));
    }

    @Test void badValuesGetOneLineErrors(@TempDir Path tmp) {
        String out = tmp.resolve("run").toString();
        String[][] cases = {
                {"--data", "shapes", "--eval-every", "10", "in-training evaluation supports fashion-mnist only"},
                {"--data", "fashion-mnist", "--eval-every", "0", "--eval-every 0 is out of range 1.."},
                {"--data", "fashion-mnist", "--eval-every", "5", "--eval-count", "5", "--eval-count 5 is out of range 10..50000"},
                {"--data", "fashion-mnist", "--eval-every", "5", "--eval-sampler", "rk4", "unknown --eval-sampler 'rk4' (choose from ddpm, ddim, dpmpp, dpmpp-sde, euler, heun)"},
                {"--data", "fashion-mnist", "--eval-every", "5", "--eval-steps", "0", "--eval-steps must be >= 1"},
                {"--data", "fashion-mnist", "--eval-every", "5", "--eval-steps", "5000", "--eval-steps 5000 is out of range 0..1000"},
                {"--data", "fashion-mnist", "--eval-every", "5", "--eval-guidance", "2", "--eval-guidance needs a class-conditional run"},
                {"--data", "fashion-mnist", "--eval-every", "5", "--eval-guidance", "NaN", "--eval-guidance must be finite"},
                {"--data", "fashion-mnist", "--eval-every", "5", "--image-size", "16", "--eval-every needs --image-size 32"},
                {"--data", "fashion-mnist", "--eval-count", "50", "--eval-count needs --eval-every"},
        };
        for (String[] c : cases) {
            List<String> args = new ArrayList<>(List.of("train", "--out", out, "--device", "cpu", "--sample-count", "0"));
            args.addAll(List.of(c).subList(0, c.length - 1));
            CliRun.run(args.toArray(String[]::new)).oneLineError(c[c.length - 1]);
        }
        assertFalse(Files.exists(tmp.resolve("run")), "nothing was written");
    }

    static double field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":([-0-9.eE+]+)").matcher(json);
        assertTrue(m.find(), name + " missing in " + json);
        return Double.parseDouble(m.group(1));
    }
}
