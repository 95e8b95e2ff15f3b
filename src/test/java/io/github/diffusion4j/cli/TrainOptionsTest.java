package io.github.diffusion4j.cli;

import io.github.diffusion4j.train.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** 'train' options: their defaults are TrainConfig's (one place), and bad values get the shared one-line messages. */
class TrainOptionsTest {

    @Test void theDefaultsAreTrainConfigs() {
        TrainCommand cmd = new TrainCommand();
        new CommandLine(cmd).parseArgs();
        Map<?, ?> fromCli = TrainConfig.json().convertValue(cmd.configFromOptions(), Map.class);
        Map<?, ?> fromJava = TrainConfig.json().convertValue(new TrainConfig(), Map.class);
        assertEquals(fromJava, fromCli);
    }

    @Test void badValuesAreRefusedWithTheSharedMessages(@TempDir Path tmp) {
        String out = tmp.resolve("run").toString();
        String[][] cases = {
                {"--lr", "Infinity", "--lr must be finite and > 0"},
                {"--lr", "NaN", "--lr must be finite and > 0"},
                {"--timesteps", "2147483647", "--timesteps 2147483647 is out of range 2..100000"},
                {"--batch-size", "0", "--batch-size 0 is out of range 1..65536"},
                {"--min-snr", "Infinity", "--min-snr must be finite"},
                {"--dropout", "-2", "--dropout must be in [0, 1)"},
                {"--precision", "fp8", "precision must be fp32, bf16 or auto"},
                {"--steps", "100000000", "--steps 100000000 is out of range"},
        };
        for (String[] c : cases) {
            CliRun.run("train", c[0], c[1], "--out", out, "--device", "cpu", "--sample-count", "0").oneLineError(c[2]);
        }
    }

    /**
     * Flips follow the dataset unless --flip / --no-flip say otherwise, and the run records what it did (so a resume
     * flips as the run did): on for the shapes, off for Fashion-MNIST (its footwear faces one way), never for MNIST.
     */
    @Test void flipsAreTheDatasetsDefaultUnlessAskedAndRecorded(@TempDir Path tmp) throws java.io.IOException {
        assertEquals(true, recordedFlip(tmp.resolve("a"), "shapes"));
        assertEquals(false, recordedFlip(tmp.resolve("b"), "shapes", "--no-flip"));
        CliRun.run("train", "--data", "mnist", "--flip", "--out", tmp.resolve("c").toString(), "--device", "cpu")
                .oneLineError("--flip: mnist is never flipped");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isDirectory(Path.of("/usr/share/datasets/fashion-mnist")),
                "Fashion-MNIST not installed (Debian: dataset-fashion-mnist)");
        assertEquals(false, recordedFlip(tmp.resolve("d"), "fashion-mnist"));
        assertEquals(true, recordedFlip(tmp.resolve("e"), "fashion-mnist", "--flip"));
    }

    private static Object recordedFlip(Path run, String data, String... more) throws java.io.IOException {
        java.util.List<String> a = new java.util.ArrayList<>(java.util.List.of("train", "--data", data, "--model", "tiny",
                "--image-size", "16", "--batch-size", "2", "--steps", "1", "--device", "cpu", "--sample-count", "0",
                "--out", run.toString()));
        a.addAll(java.util.List.of(more));
        CliRun.run(a.toArray(String[]::new)).ok();
        return io.github.diffusion4j.train.Checkpoint.readInfo(io.github.diffusion4j.train.Checkpoint.resolve(run)).config().flip;
    }

    /** --tensorboard writes an event file with the logged scalars and the sample grid. */
    @Test void tensorboardEventsAreWritten(@TempDir Path tmp) throws java.io.IOException {
        Path run = tmp.resolve("tb");
        CliRun.Result r = CliRun.run("train", "--model", "tiny", "--image-size", "16", "--batch-size", "4", "--steps",
                "2", "--device", "cpu", "--out", run.toString(), "--tensorboard", "--log-every", "1", "--sample-count",
                "2", "--sample-steps", "2").ok();
        assertTrue(r.out().contains("tensorboard: "), r.describe());
        java.util.List<Path> files;
        try (var s = java.nio.file.Files.list(run.resolve("tensorboard"))) {
            files = s.filter(f -> f.getFileName().toString().startsWith("events.out.tfevents.")).toList();
        }
        assertEquals(1, files.size(), files.toString());
        String bytes = new String(java.nio.file.Files.readAllBytes(files.get(0)), java.nio.charset.StandardCharsets.ISO_8859_1);
        for (String tag : new String[] {"brain.Event:2", "train/loss", "train/lr", "train/grad_norm", "samples", "\u0089PNG"}) {
            assertTrue(bytes.contains(tag), "no " + tag + " in the event file");
        }
    }
}
