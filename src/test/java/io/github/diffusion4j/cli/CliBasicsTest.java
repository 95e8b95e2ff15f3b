package io.github.diffusion4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.diffusion4j.backend.cuda.CudaAvailability;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Help, option errors, bad values and the JSON outputs of the command line. */
class CliBasicsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path shared;
    /** A tiny unconditional run, for the sample options. */
    static Path run;

    @BeforeAll
    static void trainOnce() {
        run = shared.resolve("run");
        CliRun.trainTiny(run, 1).ok();
    }

    @Test
    void helpForEverySubcommand() {
        Set<String> names = Main.commandLine().getSubcommands().keySet();
        assertTrue(names.containsAll(Set.of("train", "sample", "data", "info", "model", "schedule", "help")), names.toString());
        for (String name : names) {
            CliRun.Result r = CliRun.run(name, "--help").ok();
            assertTrue(r.out().contains("Usage: d4j " + name), r.describe());
            assertTrue(r.err().isEmpty(), r.describe());
        }
        assertTrue(CliRun.run("--help").ok().out().contains("Usage: d4j"));
        assertTrue(CliRun.run().ok().out().contains("train"), "no arguments: the overview");
        assertTrue(CliRun.run("help", "train").ok().out().contains("--resume"));
        assertTrue(CliRun.run("--version").ok().out().startsWith("diffusion4j "));
        assertTrue(CliRun.run("train", "--help").out().contains("--grad-accum"));
    }

    @Test
    void unknownOptionsAndCommands() {
        for (String cmd : new String[] {"train", "sample", "data", "info", "model", "schedule"}) {
            CliRun.Result r = cmd.equals("sample") ? CliRun.run(cmd, "--run", run.toString(), "--no-such-option")
                    : CliRun.run(cmd, "--no-such-option");
            assertEquals(2, r.code(), r.describe());
            assertTrue(r.err().contains("Unknown option: '--no-such-option'"), r.describe());
            assertFalse(r.err().contains("\tat "), r.describe());
            assertTrue(r.out().isEmpty(), r.describe());
        }
        CliRun.Result r = CliRun.run("trian");
        assertEquals(2, r.code(), r.describe());
        assertTrue(r.err().contains("trian") && r.err().contains("train"), "suggests the closest command: " + r.describe());
        r = CliRun.run("train", "--steps", "many");
        assertEquals(2, r.code(), r.describe());
        assertTrue(r.err().contains("--steps") && r.err().contains("many"), r.describe());
        r = CliRun.run("sample");
        assertEquals(2, r.code(), r.describe());
        assertTrue(r.err().contains("--run"), "missing required option: " + r.describe());
    }

    @Test
    void badTrainValuesAreOneLineErrors(@TempDir Path tmp) {
        Path out = tmp.resolve("never");
        String[][] cases = {
                {"--steps", "0", "--steps 0 is out of range"},
                {"--lr", "-1", "--lr must be finite and > 0"},
                {"--batch-size", "0", "--batch-size 0 is out of range"},
                {"--grad-accum", "0", "--grad-accum 0 is out of range"},
                {"--ema-decay", "1", "--ema-decay must be in [0, 1)"},
                {"--cfg-dropout", "1", "--cfg-dropout must be in [0, 1)"},
                {"--timesteps", "1", "--timesteps 1 is out of range 2..100000"},
                {"--image-size", "15", "15"},
                {"--model", "huge", "huge"},
                {"--data", "imagenet", "imagenet"},
                {"--schedule", "exponential", "exponential"},
                {"--prediction", "noise2", "noise2"},
                {"--lr-schedule", "step", "step"},
                {"--device", "tpu", "tpu"},
                {"--base-channels", "0", "--base-channels 0 is out of range"},
                {"--base-channels", "6", "channels 6 not divisible by 4 groups"},   // tiny's GroupNorm has 4 groups
                {"--res-blocks", "0", "--res-blocks 0 is out of range"},
        };
        for (String[] c : cases) {
            java.util.Map<String, String> o = new java.util.LinkedHashMap<>();
            for (String[] kv : new String[][] {{"--model", "tiny"}, {"--image-size", "16"}, {"--batch-size", "4"},
                    {"--steps", "1"}, {"--sample-count", "0"}, {"--device", "cpu"}, {"--out", out.toString()}}) {
                o.put(kv[0], kv[1]);
            }
            o.put(c[0], c[1]);
            List<String> a = new ArrayList<>(List.of("train"));
            o.forEach((k, v) -> a.addAll(List.of(k, v)));
            CliRun.run(a.toArray(String[]::new)).oneLineError(c[2]);
        }
        assertFalse(Files.exists(out.resolve("checkpoints")), "nothing trained");
        // --verbose adds the stack trace (so the checks above are meaningful)
        CliRun.Result v = CliRun.trainTiny(out, 0, "--verbose");
        assertEquals(2, v.code(), v.describe());
        assertTrue(v.err().contains("\tat "), v.describe());
    }

    @Test
    void badSampleValuesAreOneLineErrors(@TempDir Path tmp) {
        String png = tmp.resolve("s.png").toString();
        String r = run.toString();
        String[][] cases = {
                {"--sampler", "foo", "foo"},
                {"--eta", "2", "--eta"},
                {"--eta", "0.5", "--sampler", "dpmpp", "--eta"},
                {"--guidance", "3", "--guidance"},
                {"--label", "1", "--label"},
                {"--mask", png, "--mask"},
                {"--count", "0", "--count"},
                {"--batch-size", "0", "--batch-size"},
                {"--steps", "0", "--steps"},
                {"--steps", "5000", "5000"},
                {"--init", tmp.resolve("missing.png").toString(), "missing.png"},
                {"--init", png, "--strength", "0", "--strength"},
                {"--variance", "fixed_large", "--sampler", "ddim", "--variance"},
                {"--variance", "learned", "learned"},
                {"--spacing", "sideways", "sideways"},
                {"--no-clip", "--sampler", "dpmpp", "--no-clip"},
        };
        for (String[] c : cases) {
            List<String> a = new ArrayList<>(List.of("sample", "--run", r, "--device", "cpu", "--out", png));
            a.addAll(Arrays.asList(c).subList(0, c.length - 1));
            CliRun.run(a.toArray(String[]::new)).oneLineError(c[c.length - 1]);
        }
        CliRun.run("sample", "--run", tmp.resolve("nothing-here").toString()).oneLineError("nothing-here");
        CliRun.run("sample", "--run", tmp.toString()).oneLineError(tmp.toString());
        assertFalse(Files.exists(tmp.resolve("s.png")), "no grid from a refused command");
    }

    @Test
    void samplerKnobsChangeTheImages(@TempDir Path tmp) throws Exception {
        String r = run.toString();
        Map<String, byte[]> grids = new java.util.LinkedHashMap<>();
        String[][] variants = {{}, {"--no-clip"}, {"--variance", "fixed_large"}, {"--spacing", "leading"},
                {"--sampler", "ddim", "--spacing", "linspace"}};
        for (String[] v : variants) {
            Path png = tmp.resolve("g" + grids.size() + ".png");
            List<String> a = new ArrayList<>(List.of("sample", "--run", r, "--device", "cpu", "--count", "4", "--steps", "20",
                    "--out", png.toString()));
            a.addAll(Arrays.asList(v));
            CliRun.run(a.toArray(String[]::new)).ok();
            byte[] bytes = Files.readAllBytes(png);
            for (Map.Entry<String, byte[]> e : grids.entrySet()) {
                assertFalse(Arrays.equals(e.getValue(), bytes), Arrays.toString(v) + " gave the same grid as " + e.getKey());
            }
            grids.put(Arrays.toString(v), bytes);
        }
    }

    /**
     * --base-channels and --res-blocks change the preset's width and depth: the run's checkpoint holds the parameters
     * that {@code model} counts for the same overrides (and more than the preset's), and sampling from the run rebuilds
     * that network from the run's config.
     */
    @Test
    void widthAndDepthOverridesAreKeptByTheRun(@TempDir Path tmp) throws Exception {
        Path wide = tmp.resolve("wide");
        CliRun.trainTiny(wide, 1, "--base-channels", "8", "--res-blocks", "2").ok();
        Path ckpt = io.github.diffusion4j.train.Checkpoint.resolve(wide);
        JsonNode config = JSON.readTree(Files.readString(ckpt.resolve("config.json")));
        long preset = JSON.readTree(CliRun.run("model", "--preset", "tiny", "--image-size", "16", "--json").ok().out())
                .get("parameters").asLong();
        JsonNode m = JSON.readTree(CliRun.run("model", "--preset", "tiny", "--image-size", "16", "--base-channels", "8",
                "--res-blocks", "2", "--json").ok().out());
        assertEquals(8, m.get("config").get("base_channels").asInt(), m.toString());
        assertEquals(2, m.get("config").get("num_res_blocks").asInt(), m.toString());
        long stored = io.github.diffusion4j.io.SafeTensors.readHeader(ckpt.resolve("model.safetensors"))
                .tensors().stream().mapToLong(io.github.diffusion4j.io.SafeTensors.TensorInfo::numel).sum();
        assertEquals(m.get("parameters").asLong(), stored, config.toString());
        assertTrue(stored != preset, "the overrides change the network: " + stored + " parameters, the preset " + preset);
        CliRun.run("sample", "--run", wide.toString(), "--device", "cpu", "--count", "2", "--steps", "2",
                "--out", tmp.resolve("s.png").toString()).ok();
    }

    @Test
    void trainingIntoAnExistingRunNeedsResume() {
        CliRun.trainTiny(run, 2).oneLineError(run.toString(), "--resume");
        CliRun.Result r = CliRun.run("train", "--resume", "--out", run.toString(), "--steps", "2", "--lr", "0.1");
        r.oneLineError("--lr", "resum");
    }

    /** Options not repeated on --resume keep the run's values (here: no sample grids, a log line and a checkpoint every step). */
    @Test
    void resumingKeepsTheRunsSettings(@TempDir Path tmp) throws Exception {
        Path r = tmp.resolve("run");
        CliRun.trainTiny(r, 2, "--log-every", "1", "--checkpoint-every", "1", "--keep", "5").ok();
        CliRun.run("train", "--resume", "--out", r.toString(), "--steps", "4").ok();
        assertFalse(Files.exists(r.resolve("samples")), "--sample-count 0 was kept");
        assertEquals(4, Files.readAllLines(r.resolve("metrics.jsonl")).size(), "--log-every 1 was kept");
        for (int s = 1; s <= 4; s++) {
            assertTrue(Files.isDirectory(r.resolve(String.format("checkpoints/step-%06d", s))), "checkpoint of step " + s);
        }
        // and a resume that names an option changes it
        CliRun.run("train", "--resume", "--out", r.toString(), "--steps", "6", "--log-every", "2").ok();
        assertEquals(5, Files.readAllLines(r.resolve("metrics.jsonl")).size());
    }

    @Test
    void modelInfoAndScheduleJson() throws Exception {
        CliRun.Result m = CliRun.run("model", "--preset", "ddpm-cifar10", "--json").ok();
        assertTrue(m.out().contains("\"parameters\" : 35746307"), m.out().substring(0, Math.min(400, m.out().length())));
        JsonNode mj = JSON.readTree(m.out());
        assertEquals(35746307, mj.path("parameters").asLong());
        long sum = 0;
        for (JsonNode l : mj.path("layers")) sum += l.path("parameters").asLong();
        assertEquals(35746307, sum, "the layer table adds up");
        assertTrue(CliRun.run("model", "--preset", "ddpm-cifar10").ok().out().contains("35,746,307"));
        CliRun.run("model", "--preset", "nope").oneLineError("nope");

        JsonNode info = JSON.readTree(CliRun.run("info", "--json").ok().out());
        String auto = CudaAvailability.probe().available() ? "cuda" : "cpu";
        assertEquals(auto, info.path("auto_backend").asText());
        if (auto.equals("cpu")) {
            assertEquals("cpu", info.path("auto_backend").asText());
            assertFalse(info.path("cuda_available").asBoolean());
            assertFalse(info.path("reason").asText().isBlank(), "says why not CUDA");
        }
        assertTrue(info.path("cores").asInt() >= 1);
        assertTrue(CliRun.run("info").ok().out().contains("backend auto -> " + auto));

        JsonNode s = JSON.readTree(CliRun.run("schedule", "--json").ok().out());
        assertEquals(1000, s.path("betas").size());
    }
}
