package io.github.diffusion4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code train --learn-sigma} end to end: the doubled head in the checkpoint, the hybrid loss's vb in the metrics,
 * DDPM sampling with the learned variance by default (and fixed ones on request), the other samplers and guidance
 * on the prediction half, resume, the refusals.
 */
class LearnSigmaCliTest {
    @Test
    void trainsAndSamplesALearnedVariance(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("ls");
        CliRun.trainTiny(run, 3, "--learn-sigma", "--classes", "--log-every", "1").ok();
        String cfg = Files.readString(run.resolve("checkpoints/step-000003/config.json"));
        assertTrue(cfg.contains("\"learn_sigma\" : true") && cfg.contains("\"out_channels\" : 6"), cfg);
        String metrics = Files.readString(run.resolve("metrics.jsonl"));
        assertTrue(metrics.contains("\"vb\":") && !metrics.contains("NaN"), metrics);
        String def = CliRun.run("sample", "--run", run.toString(), "--count", "2", "--steps", "5", "--device", "cpu",
                "--out", tmp.resolve("d.png").toString()).ok().out();
        assertTrue(def.contains("ddpm 5 steps"), def);
        for (String[] a : new String[][] {{"--variance", "fixed_large"}, {"--sampler", "ddim"}, {"--sampler", "dpmpp", "--guidance", "2"},
                {"--guidance", "3"}, {"--sampler", "heun", "--karras"}}) {
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("sample", "--run", run.toString(),
                    "--count", "2", "--steps", "4", "--device", "cpu", "--out", tmp.resolve("s.png").toString()));
            args.addAll(java.util.List.of(a));
            CliRun.run(args.toArray(String[]::new)).ok();
        }
        CliRun.run("train", "--resume", "--out", run.toString(), "--steps", "4", "--device", "cpu").ok();
        // refusals
        Path plain = tmp.resolve("plain");
        CliRun.trainTiny(plain, 1).ok();
        CliRun.run("sample", "--run", plain.toString(), "--variance", "learned_range", "--out", tmp.resolve("x.png").toString())
                .oneLineError("needs a run trained with --learn-sigma");
        CliRun.trainTiny(tmp.resolve("bad"), 1, "--objective", "flow", "--learn-sigma").oneLineError("--learn-sigma applies to --objective ddpm");
        CliRun.trainTiny(tmp.resolve("bad2"), 1, "--vlb-weight", "0.01").oneLineError("--vlb-weight needs --learn-sigma");
    }
}
