package io.github.diffusion4j.cli;

import io.github.diffusion4j.io.AtomicDirectory;
import io.github.diffusion4j.train.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A truncated or corrupt checkpoint is refused by {@code sample --run} and {@code train --resume} with exit code 2
 * and one line naming the file, without a stack trace (unless {@code --verbose}).
 */
class CorruptCheckpointTest {
    static final int STEPS = 2;
    @TempDir static Path shared;
    static Path good;

    @BeforeAll
    static void trainOnce() {
        good = shared.resolve("good");
        CliRun.trainTiny(good, STEPS).ok();
    }

    /** A copy of the good run, to damage. */
    static Path copy(Path tmp, String name) throws IOException {
        Path dst = tmp.resolve(name);
        try (var s = Files.walk(good)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path q = dst.resolve(good.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
        return dst;
    }

    static Path ckptDir(Path run) {
        return run.resolve(Checkpoint.DIR).resolve(Checkpoint.folderName(STEPS));
    }

    static void truncate(Path file, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        }
    }

    static CliRun.Result sample(Path run, String... extra) {
        String[] base = {"sample", "--run", run.toString(), "--count", "1", "--steps", "1", "--device", "cpu",
                "--out", run.resolve("s.png").toString()};
        String[] a = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, a, base.length, extra.length);
        return CliRun.run(a);
    }

    static CliRun.Result resume(Path run, String... extra) {
        String[] base = {"train", "--resume", "--out", run.toString(), "--steps", Integer.toString(STEPS + 1),
                "--sample-count", "0", "--device", "cpu"};
        String[] a = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, a, base.length, extra.length);
        return CliRun.run(a);
    }

    @Test
    void theUndamagedRunSamplesAndResumes(@TempDir Path tmp) throws IOException {
        Path run = copy(tmp, "ok");
        sample(run).ok();
        sample(run, "--no-ema").ok();
        resume(run).ok();
    }

    @Test
    void truncatedWeightsAreRefused(@TempDir Path tmp) throws IOException {
        long size = Files.size(ckptDir(good).resolve(Checkpoint.MODEL));
        for (long cut : new long[] {0, 5, 100, size / 2, size - 4}) {
            Path run = copy(tmp, "model-" + cut);
            truncate(ckptDir(run).resolve(Checkpoint.MODEL), cut);
            resume(run).oneLineError(ckptDir(run).resolve(Checkpoint.MODEL).toString());
            sample(run, "--no-ema").oneLineError(ckptDir(run).resolve(Checkpoint.MODEL).toString());
            sample(run).ok();   // the default uses the EMA weights, which are intact

            run = copy(tmp, "ema-" + cut);
            truncate(ckptDir(run).resolve(Checkpoint.EMA), cut);
            sample(run).oneLineError(ckptDir(run).resolve(Checkpoint.EMA).toString());
            resume(run).oneLineError(ckptDir(run).resolve(Checkpoint.EMA).toString());
        }
        Path run = copy(tmp, "optimizer");
        Path opt = ckptDir(run).resolve(Checkpoint.OPTIMIZER);
        truncate(opt, Files.size(opt) / 2);
        resume(run).oneLineError(opt.toString());
        Path missing = copy(tmp, "missing");
        Files.delete(ckptDir(missing).resolve(Checkpoint.EMA));
        sample(missing).oneLineError(ckptDir(missing).resolve(Checkpoint.EMA).toString());
    }

    @Test
    void corruptConfigIsRefused(@TempDir Path tmp) throws IOException {
        String json = Files.readString(ckptDir(good).resolve(Checkpoint.CONFIG));
        String[] corrupt = {
                json.substring(0, json.length() / 2),                                  // cut short
                "\u0000\u0001garbage",                                                 // not JSON
                "[1, 2, 3]",                                                           // JSON, not an object
                "{\"format\" : \"something-else\"}",                                   // not ours
                "{\"format\" : \"diffusion4j-checkpoint\", \"step\" : 2}",             // no training settings
                json.replace("\"image_size\" : 16,", "\"image_size\" : \"sixteen\","), // wrong type
                json.replace("\"model\" : \"tiny\"", "\"model\" : \"no-such-preset\""),
                json.replace("\"image_size\" : 16,", "\"image_size\" : -16,"),
        };
        int i = 0;
        for (String text : corrupt) {
            Path run = copy(tmp, "config-" + i++);
            Path file = ckptDir(run).resolve(Checkpoint.CONFIG);
            Files.writeString(file, text);
            sample(run).oneLineError(file.toString());
            resume(run).oneLineError(file.toString());
        }
    }

    /**
     * One field of config.json set to a hostile value (as issue 19's fuzzing did): each is refused with one line
     * naming the file, never an internal error, an OutOfMemoryError or a run on nonsense.
     */
    @Test
    void hostileConfigValuesAreRefused(@TempDir Path tmp) throws IOException {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        String[][] edits = {
                // {object ("" = root), field, raw JSON value, what the message must say}
                {"", "model", "null", "\"model\""},
                {"", "schedule", "null", "\"schedule\""},
                {"train", "model", "null", "model"},
                {"train", "timesteps", "2147483647", "timesteps 2147483647 is out of range"},
                {"train", "timesteps", "100000000", "timesteps 100000000 is out of range"},
                {"train", "lr", "\"Infinity\"", "lr"},
                {"train", "lr", "0", "lr must be finite and > 0"},
                {"train", "dropout", "-2.0", "dropout"},
                {"train", "image_size", "16.5", "image_size"},
                {"train", "min_snr_gamma", "\"Infinity\"", "min_snr_gamma"},
                {"train", "batch_size", "1000000000", "batch_size 1000000000 is out of range"},
                {"train", "precision", "\"fp8\"", "precision"},
                {"", "step", "-5", "step -5 is out of range"},
                {"", "version", "999", "version 999"},
        };
        int i = 0;
        for (String[] e : edits) {
            Path run = copy(tmp, "hostile-" + i++);
            Path file = ckptDir(run).resolve(Checkpoint.CONFIG);
            var root = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(file.toFile());
            var obj = e[0].isEmpty() ? root : (com.fasterxml.jackson.databind.node.ObjectNode) root.get(e[0]);
            obj.set(e[1], json.readTree(e[2]));
            Files.writeString(file, json.writeValueAsString(root));
            sample(run).oneLineError(file.toString(), e[3]);
            resume(run).oneLineError(file.toString(), e[3]);
        }
    }

    /** Weights holding NaN, an infinity or a tensor the model has no parameter for are refused, naming the tensor. */
    @Test
    void nonFiniteAndForeignWeightsAreRefused(@TempDir Path tmp) throws IOException {
        Path src = ckptDir(good).resolve(Checkpoint.EMA);
        var contents = io.github.diffusion4j.io.SafeTensors.read(src);
        String first = contents.tensors().keySet().iterator().next();
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        for (int k = 0; k < bad.length; k++) {
            Path run = copy(tmp, "nonfinite-" + k);
            var tensors = new java.util.LinkedHashMap<>(contents.tensors());
            var e = tensors.get(first);
            float[] d = e.data().clone();
            d[d.length / 2] = bad[k];
            tensors.put(first, new io.github.diffusion4j.io.SafeTensors.Entry(e.shape(), d));
            Path file = ckptDir(run).resolve(Checkpoint.EMA);
            io.github.diffusion4j.io.SafeTensors.write(file, tensors, contents.metadata());
            sample(run).oneLineError(file.toString(), first, "non-finite");
        }
        Path run = copy(tmp, "foreign");
        var tensors = new java.util.LinkedHashMap<>(contents.tensors());
        tensors.put("extra.weight", new io.github.diffusion4j.io.SafeTensors.Entry(new int[] {2}, new float[] {1, 2}));
        Path file = ckptDir(run).resolve(Checkpoint.EMA);
        io.github.diffusion4j.io.SafeTensors.write(file, tensors, contents.metadata());
        sample(run).oneLineError(file.toString(), "extra.weight");
    }

    @Test
    void brokenLatestPointerIsRefused(@TempDir Path tmp) throws IOException {
        Path run = copy(tmp, "latest");
        Path pointer = run.resolve(Checkpoint.DIR).resolve(AtomicDirectory.LATEST);
        Files.writeString(pointer, "step-000099\n");
        sample(run).oneLineError(pointer.toString());
        resume(run).oneLineError(pointer.toString());
    }

    @Test
    void verboseShowsTheStackTrace(@TempDir Path tmp) throws IOException {
        Path run = copy(tmp, "verbose");
        truncate(ckptDir(run).resolve(Checkpoint.EMA), 100);
        CliRun.Result r = sample(run, "--verbose");
        assertTrue(r.code() == 2 && r.err().contains("\tat "), r.describe());
    }
}
