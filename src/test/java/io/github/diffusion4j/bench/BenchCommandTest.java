package io.github.diffusion4j.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.diffusion4j.cli.Main;
import io.github.diffusion4j.io.SafeTensors;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.nn.Presets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code bench} on the CPU with the tiny model (figures present and consistent, no assertion on speed), its errors,
 * and {@code bench --dump}: the files, their contents, and, where python3 with NumPy is installed, the NumPy checks of
 * {@code bench/pytorch/check_reader.py}; where PyTorch is installed too, {@code bench/pytorch/parity.py} on the CPU.
 */
class BenchCommandTest {
    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    private static final String[] QUICK = {"bench", "--device", "cpu", "--model", "tiny", "--batch-size", "2", "--warmup", "1",
            "--steps", "2", "--sample-batch", "2", "--sample-steps", "2", "--sample-repeats", "1", "--eval-repeats", "2"};

    @Test
    void jsonHasEveryFigure() throws Exception {
        List<String> args = new ArrayList<>(List.of(QUICK));
        args.add("--json");
        Result r = run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        Model tiny = Presets.create("tiny", 3, 16, 0);
        assertEquals("cpu", j.get("backend").asText());
        assertEquals(tiny.params().count(), j.at("/model/parameters").asLong());
        assertEquals(tiny.macsPerImage(), j.at("/model/macs_per_image").asLong());
        JsonNode t = j.get("training");
        double ms = t.at("/ms_per_step/median").asDouble();
        assertTrue(ms > 0, "ms per step");
        assertEquals(2, t.at("/ms_per_step/samples").size());
        assertEquals(2 * 1000.0 / ms, t.get("images_per_s").asDouble(), 0.01 * t.get("images_per_s").asDouble() + 0.01);
        assertEquals(6.0 * tiny.macsPerImage() * 2 / (ms / 1000) / 1e12, t.get("achieved_tflops").asDouble(), 1e-4);
        assertTrue(Double.isFinite(t.get("loss_last").asDouble()));
        assertTrue(t.at("/memory/java_heap_peak_bytes").asLong() > 0);
        JsonNode s = j.get("sampling");
        assertEquals(2, s.get("ddim_steps").asInt());
        assertTrue(s.at("/ms_per_run/median").asDouble() > 0 && s.at("/ms_per_model_eval/median").asDouble() > 0);
        assertTrue(j.get("note").asText().contains("DDIM-2 at batch 2"), "the CPU run says its sampling is reduced");
        assertTrue(r.err().contains("backend: cpu"), r.err());
    }

    @Test
    void tableAndErrors() {
        Result r = run(QUICK);
        assertEquals(0, r.code(), r.err());
        System.out.println(r.out());
        for (String k : new String[] {"ms per step", "images/s", "achieved TFLOP/s", "peak Java heap", "ms per model eval"}) {
            assertTrue(r.out().contains(k), k);
        }
        assertEquals(2, run("bench", "--device", "cpu", "--model", "nope").code());
        assertEquals(2, run("bench", "--device", "cpu", "--batch-size", "0").code());
        assertEquals(2, run("bench", "--device", "cpu", "--model", "tiny", "--image-size", "15").code());
        assertEquals(2, run("bench", "--device", "cpu", "--no-training", "--no-sampling").code());
        Result seed = run("bench", "--device", "cpu", "--model", "seed", "--dump", "unused-dir-not-written");
        assertEquals(2, seed.code());
        assertTrue(seed.err().contains("UNet preset"), seed.err());
    }

    /** The options that replaced the -D switches: set, validated, and named in the settings the JSON reports. */
    @Test
    void backendAndModelOptionsAreSettingsOfTheRun() throws Exception {
        int threads = io.github.diffusion4j.backend.cpu.Parallel.threads();
        try {
            List<String> args = new ArrayList<>(List.of(QUICK));
            args.addAll(List.of("--threads", "1", "--unet-split-concat", "--no-training", "--json"));
            Result r = run(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            JsonNode j = new ObjectMapper().readTree(r.out());
            assertEquals(1, j.at("/settings/threads").asInt());
            assertTrue(j.at("/settings/unet_split_concat").asBoolean());
            assertTrue(j.get("device").asText().contains("1 threads"), j.get("device").asText());
            assertTrue(j.at("/sampling/ms_per_run/median").asDouble() > 0);
        } finally {
            io.github.diffusion4j.backend.cpu.Parallel.setThreads(threads);
        }
        Result noSplit = run(withJson("--no-training"));
        assertEquals(0, noSplit.code(), noSplit.err());
        assertTrue(!new ObjectMapper().readTree(noSplit.out()).at("/settings/unet_split_concat").asBoolean());

        Result badTf32 = run("bench", "--device", "cpu", "--tf32", "yes");
        assertEquals(2, badTf32.code());
        assertTrue(badTf32.err().contains("--tf32 must be default, on or off, got 'yes'"), badTf32.err());
        Result badThreads = run("bench", "--device", "cpu", "--threads", "0");
        assertEquals(2, badThreads.code());
        assertTrue(badThreads.err().contains("--threads must be >= 1, got 0"), badThreads.err());
        // accepted on the CPU too (they only change a CUDA backend)
        assertEquals(0, run(withJson("--no-training", "--tf32", "off", "--no-cudnn-deterministic", "--sync-launches",
                "--trace-syncs")).code());
        String help = run("bench", "--help").out();
        for (String o : new String[] {"--tf32", "--[no-]cudnn-deterministic", "--sync-launches", "--trace-syncs", "--threads",
                "--unet-split-concat"}) {
            assertTrue(help.contains(o), o + " in bench --help:\n" + help);
        }
    }

    private static String[] withJson(String... extra) {
        List<String> args = new ArrayList<>(List.of(QUICK));
        args.addAll(List.of(extra));
        args.add("--json");
        return args.toArray(String[]::new);
    }

    @Test
    void dumpHoldsTheBatchOutputAndEveryGradient(@TempDir Path dir) throws Exception {
        Result r = run("bench", "--device", "cpu", "--dump", dir.toString(), "--classes", "3", "--batch-size", "3");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("parity dump: "), r.out());
        Model m = Presets.create("tiny", 3, 16, 3, 0f);
        SafeTensors.Contents weights = SafeTensors.read(dir.resolve("model.safetensors"));
        SafeTensors.Contents batch = SafeTensors.read(dir.resolve("batch.safetensors"));
        assertEquals(m.params().params().size(), weights.tensors().size());
        for (Param p : m.params().params()) {
            assertArrayEquals(p.shape().dims(), weights.tensors().get(p.name()).shape(), p.name());
            for (String prefix : new String[] {"grad.", "after.", "ema."}) {
                assertNotNull(batch.tensors().get(prefix + p.name()), prefix + p.name());
            }
        }
        // the perturbation made the zero-initialised output layer non-zero, so gradients flow everywhere
        assertTrue(absMax(weights.tensors().get("conv_out.weight").data()) > 0);
        assertTrue(absMax(batch.tensors().get("grad.time_embed.fc1.weight").data()) > 0);
        assertTrue(absMax(batch.tensors().get("grad.label_embed.weight").data()) > 0);
        // the dumped loss is the weighted MSE of the dumped output
        float[] out = batch.tensors().get("output").data(), target = batch.tensors().get("target").data();
        float[] w = batch.tensors().get("weights").data();
        int per = out.length / w.length;
        double loss = 0;
        for (int n = 0; n < w.length; n++) {
            double s = 0;
            for (int i = n * per; i < (n + 1) * per; i++) s += (double) (out[i] - target[i]) * (out[i] - target[i]);
            loss += w[n] * s / per;
        }
        assertEquals(loss / w.length, batch.tensors().get("loss").data()[0], 1e-6);
        JsonNode cfg = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        assertEquals("diffusion4j-parity-dump", cfg.get("format").asText());
        assertEquals(3, cfg.at("/config/num_classes").asInt());
        assertEquals(0.0, cfg.at("/config/dropout").asDouble());
        assertTrue(Files.isRegularFile(dir.resolve("checksums.json")));

        // the twin's NumPy checks (reader, names, forward, update), when python3 with NumPy is installed
        String py = python("import numpy");
        assumeTrue(py != null, "python3 with NumPy not found: bench/pytorch/check_reader.py not run");
        Proc check = exec(py, "bench/pytorch/check_reader.py", dir.toString());
        System.out.println(check.output());
        assertEquals(0, check.code(), check.output());
        assertTrue(check.output().contains("all checks passed"));
    }

    @Test
    void pytorchParityOnTheCpuWhenTorchIsInstalled(@TempDir Path dir) throws Exception {
        String py = python("import torch, numpy");
        assumeTrue(py != null, "no python3 with PyTorch: parity.py not run (it runs on the GPU machine)");
        assertEquals(0, run("bench", "--device", "cpu", "--dump", dir.toString(), "--classes", "2").code());
        Proc parity = exec(py, "bench/pytorch/parity.py", dir.toString(), "--device", "cpu", "--quiet");
        System.out.println(parity.output());
        assertEquals(0, parity.code(), parity.output());
        assertTrue(parity.output().contains("PARITY PASS"));
    }

    @Test
    void theTwinsPresetsAreOurs() throws Exception {
        String py = python("import sys");
        assumeTrue(py != null, "python3 not found");
        Proc p = exec(py, "-c", "import json, sys; sys.path.insert(0, 'bench/pytorch'); import unet_config; "
                + "print(json.dumps(unet_config.PRESETS))");
        assertEquals(0, p.code(), p.output());
        JsonNode twin = new ObjectMapper().readTree(p.output().substring(p.output().indexOf('{')));
        List<String> ours = new ArrayList<>(io.github.diffusion4j.nn.Presets.NAMES);
        ours.remove("seed"); // not a UNet: the twin does not model it
        List<String> theirs = new ArrayList<>();
        twin.fieldNames().forEachRemaining(theirs::add);
        assertEquals(ours, theirs, "preset names");
        for (String name : ours) {
            io.github.diffusion4j.nn.UNetConfig c = io.github.diffusion4j.nn.Presets.unetConfig(name);
            JsonNode t = twin.get(name);
            assertEquals(c.imageSize(), t.get("image_size").asInt(), name);
            assertEquals(c.baseChannels(), t.get("base_channels").asInt(), name);
            assertEquals(Arrays.toString(c.channelMult()), t.get("channel_mult").toString().replace(",", ", "), name);
            assertEquals(c.numResBlocks(), t.get("num_res_blocks").asInt(), name);
            assertEquals(Arrays.toString(c.attnResolutions()), t.get("attn_resolutions").toString().replace(",", ", "), name);
            assertEquals(c.dropout(), t.get("dropout").asDouble(), 1e-6, name);
            assertEquals(c.groups(), t.get("groups").asInt(), name);
            assertEquals(c.heads(), t.get("heads").asInt(), name);
        }
    }

    @Test
    void everyPythonFileOfTheTwinCompiles() throws Exception {
        String py = python("import sys");
        assumeTrue(py != null, "python3 not found");
        List<String> cmd = new ArrayList<>(List.of(py, "-c",
                "import sys\nfor f in sys.argv[1:]:\n    compile(open(f).read(), f, 'exec')\nprint(len(sys.argv) - 1, 'files compile')"));
        try (var files = Files.list(Path.of("bench/pytorch"))) {
            files.filter(f -> f.toString().endsWith(".py")).sorted().forEach(f -> cmd.add(f.toString()));
        }
        assertTrue(cmd.size() >= 8, "the twin's scripts are there: " + cmd);
        Proc p = exec(cmd.toArray(String[]::new));
        assertEquals(0, p.code(), p.output());
    }

    /**
     * bench/compare.py and bench/profile-diff.py on committed GPU runs: the ratio and the per-operation change they
     * print are the ones computed here from the same JSON.
     */
    @Test
    void theResultScriptsReadCommittedRuns() throws Exception {
        String py = python("import json");
        assumeTrue(py != null, "python3 not found");
        ObjectMapper om = new ObjectMapper();
        Path h200 = Path.of("bench/results/gpu-2026-11-27-h200-stop12");
        double ours = om.readTree(h200.resolve("d4j-train.json").toFile()).at("/training/ms_per_step/median").asDouble();
        double eager = Double.NaN;
        for (String line : Files.readAllLines(h200.resolve("pytorch-eager.txt"))) {
            if (!line.startsWith("speed-json ")) continue;
            JsonNode j = om.readTree(line.substring("speed-json ".length()));
            if (j.get("variant").asText().equals("eager")) eager = j.at("/training/ms_per_step/median").asDouble();
        }
        Proc compare = exec(py, "bench/compare.py", h200.toString());
        assertEquals(0, compare.code(), compare.output());
        String row = compare.output().lines().filter(l -> l.startsWith("| training ms/step |")).findFirst().orElse("");
        assertTrue(row.contains(String.format(java.util.Locale.ROOT, "| %.2fx |", eager / ours)),
                "compare.py's training ratio, expected " + eager / ours + ": " + row);

        Path a = Path.of("bench/results/gpu-2026-11-27-h100-stop12"), b = Path.of("bench/results/gpu-2026-11-27-h100-stop12b");
        double before = 0, after = 0;
        for (JsonNode r : om.readTree(a.resolve("d4j-sample.json").toFile()).at("/sampling/profile_one_model_eval")) {
            if (r.get("op").asText().equals("d4j_group_norm_forward")) before = r.get("ms").asDouble();
        }
        for (JsonNode r : om.readTree(b.resolve("d4j-sample.json").toFile()).at("/sampling/profile_one_model_eval")) {
            if (r.get("op").asText().equals("d4j_group_norm_forward")) after = r.get("ms").asDouble();
        }
        Proc diff = exec(py, "bench/profile-diff.py", a.toString(), b.toString(), "--top", "3");
        assertEquals(0, diff.code(), diff.output());
        String eval = diff.output().substring(diff.output().indexOf("### model evaluation"));
        String first = eval.lines().filter(l -> l.startsWith("| ") && !l.startsWith("| operation")).findFirst().orElse("");
        assertTrue(first.startsWith("| d4j_group_norm_forward |")
                        && first.endsWith(String.format(java.util.Locale.ROOT, "| %+.3f |", after - before)),
                "the largest change per evaluation, expected d4j_group_norm_forward " + (after - before) + ": " + first);
    }

    private static double absMax(float[] a) {
        double m = 0;
        for (float v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    record Proc(int code, String output) {}

    /** The first of python3 (PATH) and /usr/bin/python3 that can run {@code imports}, or null. */
    static String python(String imports) {
        for (String py : new String[] {"python3", "/usr/bin/python3"}) {
            try {
                if (exec(py, "-c", imports).code() == 0) return py;
            } catch (IOException | InterruptedException e) {
                // not installed
            }
        }
        return null;
    }

    static Proc exec(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return new Proc(-1, "timed out: " + String.join(" ", cmd));
        }
        return new Proc(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
