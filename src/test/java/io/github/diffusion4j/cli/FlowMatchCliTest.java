package io.github.diffusion4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code train --objective flow} end to end through the CLI: training, grids, both flow samplers, the refusals. */
class FlowMatchCliTest {
    @Test
    void trainsAndSamplesAFlowModel(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("flow");
        CliRun.Result t = CliRun.trainTiny(run, 4, "--objective", "flow", "--flow-shift", "3", "--classes", "--log-every", "1");
        t.ok();
        String cfg = Files.readString(run.resolve("checkpoints/step-000004/config.json"));
        assertTrue(cfg.contains("\"objective\" : \"flow\"") && cfg.contains("\"flow_shift\" : 3.0")
                && cfg.contains("\"min_snr_gamma\" : 0.0"), cfg);
        for (String sampler : new String[] {"euler", "heun"}) {
            CliRun.run("sample", "--run", run.toString(), "--count", "3", "--steps", "4", "--sampler", sampler,
                    "--device", "cpu", "--guidance", "2", "--out", tmp.resolve(sampler + ".png").toString()).ok();
            assertTrue(Files.size(tmp.resolve(sampler + ".png")) > 0);
        }
        CliRun.run("sample", "--run", run.toString(), "--count", "2", "--device", "cpu", "--out",
                tmp.resolve("default.png").toString()).ok();   // euler by default
        CliRun.run("sample", "--run", run.toString(), "--sampler", "dpmpp", "--out", tmp.resolve("x.png").toString())
                .oneLineError("does not fit this run", "euler, heun");
        CliRun.run("sample", "--run", run.toString(), "--spacing", "trailing", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--spacing applies to the ddpm-objective samplers");
        CliRun.trainTiny(tmp.resolve("bad"), 1, "--objective", "flow", "--prediction", "epsilon")
                .oneLineError("--prediction applies to --objective ddpm");
        CliRun.trainTiny(tmp.resolve("bad2"), 1, "--objective", "rectified").oneLineError("unknown --objective 'rectified'");
        CliRun.run("sample", "--run", run.toString(), "--sampler", "heun", "--s-churn", "10", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--s-churn applies to euler and heun on ddpm-objective and edm runs", "on a flow run");
        CliRun.run("sample", "--run", run.toString(), "--karras", "--out", tmp.resolve("x.png").toString())
                .oneLineError("--karras applies to");
        // and a ddpm run refuses the flow runs' view of the names: its euler/heun are in sigma space, dpmpp-sde exists
        Path ddpm = tmp.resolve("ddpm");
        CliRun.trainTiny(ddpm, 1).ok();
        CliRun.run("sample", "--run", ddpm.toString(), "--sampler", "rk4", "--out", tmp.resolve("y.png").toString())
                .oneLineError("unknown sampler 'rk4'", "ddpm, ddim, dpmpp, dpmpp-sde, euler, heun");
        CliRun.trainTiny(tmp.resolve("bad3"), 1, "--flow-shift", "3").oneLineError("--flow-shift applies to --objective flow");
    }
}
