package io.github.diffusion4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code train --objective edm} end to end through the CLI (training with its settings saved, both EDM samplers with
 * and without churn, img2img), the new ddpm-run samplers (Karras sigmas, dpmpp-sde, sigma-space euler/heun) and the
 * one-line refusals.
 */
class EdmCliTest {
    @Test
    void trainsAndSamplesAnEdmModel(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("edm");
        CliRun.trainTiny(run, 4, "--objective", "edm", "--sigma-data", "0.6", "--p-mean", "-1", "--classes",
                "--log-every", "1").ok();
        String cfg = Files.readString(run.resolve("checkpoints/step-000004/config.json"));
        assertTrue(cfg.contains("\"objective\" : \"edm\"") && cfg.contains("\"edm_sigma_data\" : 0.6")
                && cfg.contains("\"edm_p_mean\" : -1.0") && cfg.contains("\"min_snr_gamma\" : 0.0"), cfg);
        String metrics = Files.readString(run.resolve("metrics.jsonl"));
        assertTrue(metrics.contains("\"loss\"") && !metrics.contains("NaN"), metrics);
        String def = CliRun.run("sample", "--run", run.toString(), "--count", "2", "--steps", "3", "--device", "cpu",
                "--out", tmp.resolve("default.png").toString()).ok().out();
        assertTrue(def.contains("heun 3 steps"), def);
        for (String[] a : new String[][] {{"--sampler", "euler"}, {"--sampler", "heun", "--s-churn", "10", "--s-tmin", "0.05"},
                {"--sampler", "heun", "--sigma-max", "40", "--guidance", "2"}}) {
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("sample", "--run", run.toString(),
                    "--count", "3", "--steps", "4", "--device", "cpu", "--out", tmp.resolve("s.png").toString()));
            args.addAll(java.util.List.of(a));
            CliRun.run(args.toArray(String[]::new)).ok();
        }
        // churn is seeded: the same seed gives the same images
        byte[] one = sampleBytes(tmp, run, "c1.png", "--s-churn", "10"), two = sampleBytes(tmp, run, "c2.png", "--s-churn", "10");
        assertArrayEquals(one, two, "seeded churn repeats");
        assertFalse(java.util.Arrays.equals(one, sampleBytes(tmp, run, "c3.png")), "churn changes the images");
        // img2img from a Heun grid starts at a step
        CliRun.run("sample", "--run", run.toString(), "--count", "1", "--steps", "6", "--init", tmp.resolve("c1.png").toString(),
                "--strength", "0.5", "--device", "cpu", "--out", tmp.resolve("i2i.png").toString()).ok();

        CliRun.run("sample", "--run", run.toString(), "--sampler", "ddim", "--out", tmp.resolve("x.png").toString())
                .oneLineError("does not fit this run, trained with the edm objective", "heun, euler");
        CliRun.run("sample", "--run", run.toString(), "--karras", "--out", tmp.resolve("x.png").toString())
                .oneLineError("edm runs always sample on Karras sigmas");
        CliRun.run("sample", "--run", run.toString(), "--s-noise", "0", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--s-noise must be positive");
        CliRun.run("sample", "--run", run.toString(), "--sigma-min", "100", "--out", tmp.resolve("x.png").toString())
                .oneLineError("sigma_min < sigma_max");
        CliRun.trainTiny(tmp.resolve("bad"), 1, "--objective", "edm", "--prediction", "epsilon")
                .oneLineError("--prediction applies to --objective ddpm");
        CliRun.trainTiny(tmp.resolve("bad2"), 1, "--sigma-data", "0.5").oneLineError("--sigma-data applies to --objective edm");
        CliRun.trainTiny(tmp.resolve("bad3"), 1, "--objective", "edm", "--p-std", "0").oneLineError("--p-std");
    }

    @Test
    void ddpmRunsSampleWithKarrasSdeAndSigmaSpace(@TempDir Path tmp) {
        Path run = tmp.resolve("ddpm");
        CliRun.trainTiny(run, 2, "--schedule", "linear").ok();
        for (String[] a : new String[][] {{"--sampler", "dpmpp", "--karras"}, {"--sampler", "dpmpp-sde"},
                {"--sampler", "dpmpp-sde", "--karras"}, {"--sampler", "euler"}, {"--sampler", "heun", "--karras", "--s-churn", "5"},
                {"--sampler", "ddim", "--dynamic-threshold", "0.995"}, {"--sampler", "ddpm", "--dynamic-threshold", "0.9"},
                {"--sampler", "dpmpp", "--dynamic-threshold", "0.99", "--sample-max-value", "2"}}) {
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("sample", "--run", run.toString(),
                    "--count", "2", "--steps", "5", "--device", "cpu", "--out", tmp.resolve("s.png").toString()));
            args.addAll(java.util.List.of(a));
            CliRun.run(args.toArray(String[]::new)).ok();
        }
        CliRun.run("sample", "--run", run.toString(), "--sampler", "ddim", "--karras", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--karras applies to dpmpp, dpmpp-sde, euler and heun");
        CliRun.run("sample", "--run", run.toString(), "--sampler", "dpmpp", "--s-churn", "3", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--s-churn applies to euler and heun");
        CliRun.run("sample", "--run", run.toString(), "--sampler", "heun", "--spacing", "trailing", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--spacing: heun takes Karras sigmas");
        CliRun.run("sample", "--run", run.toString(), "--sigma-max", "3", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--sigma-max applies to edm runs");
        CliRun.run("sample", "--run", run.toString(), "--sampler", "heun", "--dynamic-threshold", "0.995", "--out",
                tmp.resolve("x.png").toString()).oneLineError("--dynamic-threshold applies to ddpm, ddim, dpmpp and dpmpp-sde");
        CliRun.run("sample", "--run", run.toString(), "--sample-max-value", "2", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--sample-max-value needs --dynamic-threshold");
        CliRun.run("sample", "--run", run.toString(), "--dynamic-threshold", "99.5", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--dynamic-threshold must be a percentile in (0, 1]");
    }

    private static byte[] sampleBytes(Path tmp, Path run, String name, String... extra) throws Exception {
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("sample", "--run", run.toString(),
                "--count", "2", "--steps", "4", "--seed", "3", "--device", "cpu", "--out", tmp.resolve(name).toString()));
        args.addAll(java.util.List.of(extra));
        CliRun.run(args.toArray(String[]::new)).ok();
        return Files.readAllBytes(tmp.resolve(name));
    }
}
