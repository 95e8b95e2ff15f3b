package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.cuda.CudaAvailability;
import io.github.diffusion4j.io.SafeTensors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The command line on the GPU, end to end, against the same commands on the CPU: {@code train --device cuda}
 * (data, noise, loss, AdamW, EMA, checkpoints written from device memory), {@code train --resume} on the GPU, and
 * {@code sample --device cuda} from a checkpoint. Tiny preset, 16x16 shapes, batch 4. Skips cleanly without a GPU.
 */
@Tag("gpu")
class CudaCliGpuTest {
    static final int STEPS = 8;

    @TempDir static Path dir;

    @BeforeAll static void gpu() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
    }

    static CliRun.Result train(Path out, String device, long steps, String... extra) {
        long t0 = System.nanoTime();
        List<String> a = new ArrayList<>(List.of("train", "--model", "tiny", "--image-size", "16", "--batch-size", "4",
                "--steps", Long.toString(steps), "--sample-count", "0", "--sample-every", "0", "--log-every", "1",
                "--checkpoint-every", "4", "--device", device, "--out", out.toString()));
        a.addAll(List.of(extra));
        CliRun.Result r = CliRun.run(a.toArray(String[]::new)).ok();
        System.out.printf("train --device %s: %.1f s%n", device, (System.nanoTime() - t0) / 1e9);
        return r;
    }

    static List<Double> losses(Path run) throws IOException {
        List<Double> l = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            int i = line.indexOf("\"loss\":");
            l.add(Double.parseDouble(line.substring(i + 7, line.indexOf(',', i))));
        }
        return l;
    }

    static Map<String, SafeTensors.Entry> weights(Path run, int step, String file) throws IOException {
        return SafeTensors.read(run.resolve(String.format("checkpoints/step-%06d/%s", step, file))).tensors();
    }

    @Test void trainingResumingAndSamplingOnTheGpuFollowTheCpu() throws IOException {
        Path cpu = dir.resolve("cpu"), gpu = dir.resolve("gpu"), resumed = dir.resolve("resumed");
        train(cpu, "cpu", STEPS);
        CliRun.Result g = train(gpu, "cuda", STEPS);
        System.out.println(g.out().lines().filter(s -> s.contains("cuda") || s.contains("GPU")).findFirst().orElse(""));

        // the same losses step by step (same data, same noise: Philox is shared, the kernels round like the CPU)
        List<Double> lc = losses(cpu), lg = losses(gpu);
        assertEquals(STEPS, lc.size());
        assertEquals(STEPS, lg.size());
        for (int s = 0; s < STEPS; s++) {
            System.out.printf("step %d loss cpu %.6f gpu %.6f%n", s + 1, lc.get(s), lg.get(s));
            assertEquals(lc.get(s), lg.get(s), 1e-3 * Math.abs(lc.get(s)) + 1e-5, "loss at step " + (s + 1));
        }
        // the weights after 8 AdamW steps: a weight whose gradient sign flipped between backends moves by 2 lr
        double worst = 0;
        for (var e : weights(cpu, STEPS, "model.safetensors").entrySet()) {
            float[] a = e.getValue().data(), b = weights(gpu, STEPS, "model.safetensors").get(e.getKey()).data();
            for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        System.out.printf("max |w_gpu - w_cpu| after %d steps: %.3e%n", STEPS, worst);
        assertTrue(worst < 1e-3, "weights differ by " + worst);

        // resume on the GPU from step 4: bitwise the uninterrupted GPU run (the GPU is deterministic)
        Files.createDirectories(resumed);
        copyTree(gpu.resolve("checkpoints/step-000004"), resumed.resolve("checkpoints/step-000004"));
        Files.writeString(resumed.resolve("checkpoints/latest"), Files.readString(gpu.resolve("checkpoints/latest"))
                .replace("step-000008", "step-000004"));
        long t0 = System.nanoTime();
        CliRun.run("train", "--resume", resumed.toString(), "--steps", Integer.toString(STEPS), "--device", "cuda").ok();
        System.out.printf("train --resume --device cuda: %.1f s%n", (System.nanoTime() - t0) / 1e9);
        for (String file : List.of("model.safetensors", "ema.safetensors")) {
            var a = weights(gpu, STEPS, file);
            var b = weights(resumed, STEPS, file);
            for (var e : a.entrySet()) {
                assertArrayEquals(e.getValue().data(), b.get(e.getKey()).data(), file + " " + e.getKey() + " after resume");
            }
        }

        // sampling on the GPU from the CPU-trained checkpoint: the same images as on the CPU, up to rounding
        Path pc = dir.resolve("cpu.png"), pg = dir.resolve("gpu.png");
        for (var run : List.of(List.of("cpu", pc.toString()), List.of("cuda", pg.toString()))) {
            t0 = System.nanoTime();
            CliRun.run("sample", "--run", cpu.toString(), "--sampler", "ddim", "--steps", "10", "--count", "4",
                    "--device", run.get(0), "--out", run.get(1)).ok();
            System.out.printf("sample --device %s: %.1f s%n", run.get(0), (System.nanoTime() - t0) / 1e9);
        }
        int worstLevel = worstPixelDifference(pc, pg);
        System.out.println("DDIM-10 samples, GPU vs CPU: worst pixel difference " + worstLevel + " of 255");
        assertTrue(worstLevel <= 2, "GPU and CPU samples differ by " + worstLevel + " levels");
    }

    /**
     * Every sampler, class-conditional guidance, img2img and inpainting on the GPU against the same command on the
     * CPU, from one class-conditional checkpoint trained on the CPU.
     */
    @Test void samplersGuidanceAndInpaintingOnTheGpuFollowTheCpu() throws IOException {
        Path run = dir.resolve("classes");
        train(run, "cpu", 6, "--classes");
        Path init = dir.resolve("init.png"), mask = dir.resolve("mask.png");
        CliRun.run("sample", "--run", run.toString(), "--sampler", "ddim", "--steps", "4", "--count", "1", "--device", "cpu",
                "--out", init.toString()).ok();
        BufferedImage m = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 16; y++) for (int x = 8; x < 16; x++) m.setRGB(x, y, 0xFFFFFF);
        ImageIO.write(m, "png", mask.toFile());
        List<List<String>> cases = List.of(
                List.of("--sampler", "ddpm", "--steps", "8"),
                List.of("--sampler", "ddpm", "--steps", "8", "--variance", "fixed_large", "--no-clip"),
                List.of("--sampler", "ddim", "--steps", "6", "--eta", "1"),
                List.of("--sampler", "dpmpp", "--steps", "5"),
                List.of("--sampler", "ddim", "--steps", "6", "--guidance", "3", "--label", "1"),
                List.of("--sampler", "ddim", "--steps", "6", "--init", init.toString(), "--strength", "0.6"),
                List.of("--sampler", "ddpm", "--steps", "8", "--init", init.toString(), "--mask", mask.toString()));
        for (List<String> c : cases) {
            Path[] out = {dir.resolve("c.png"), dir.resolve("g.png"), dir.resolve("gg.png")};
            String[] devices = {"cpu", "cuda", "cuda"};
            String graphsLine = null;
            for (int d = 0; d < 3; d++) {
                List<String> a = new ArrayList<>(List.of("sample", "--run", run.toString(), "--count", "3", "--seed", "7",
                        "--device", devices[d], "--out", out[d].toString()));
                a.addAll(c);
                if (d == 1) a.add("--no-cuda-graphs");   // d == 2: the default, CUDA graphs
                String stdout = CliRun.run(a.toArray(String[]::new)).ok().out();
                if (d == 2) graphsLine = stdout.lines().filter(l -> l.startsWith("CUDA graphs:")).findFirst().orElse("(none)");
            }
            int worst = worstPixelDifference(out[0], out[1]);
            System.out.println(String.join(" ", c) + ": worst pixel difference GPU vs CPU " + worst + " of 255; " + graphsLine);
            assertTrue(worst <= 2, String.join(" ", c) + ": GPU and CPU images differ by " + worst + " levels");
            // the forward pass replayed from a CUDA graph: the same images as the direct GPU run, to the bit
            assertEquals(0, worstPixelDifference(out[1], out[2]), String.join(" ", c) + " with CUDA graphs (the default)");
            assertTrue(graphsLine.matches("CUDA graphs: 1 recordings, [1-9][0-9]* replayed model evaluations"), graphsLine);
        }
    }

    static int worstPixelDifference(Path p1, Path p2) throws IOException {
        BufferedImage a = ImageIO.read(p1.toFile()), b = ImageIO.read(p2.toFile());
        assertEquals(a.getWidth(), b.getWidth());
        assertEquals(a.getHeight(), b.getHeight());
        int worst = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                int p = a.getRGB(x, y), q = b.getRGB(x, y);
                for (int sh = 0; sh < 24; sh += 8) worst = Math.max(worst, Math.abs(((p >> sh) & 255) - ((q >> sh) & 255)));
            }
        }
        return worst;
    }

    static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var s = Files.list(from)) {
            for (Path f : s.toList()) Files.copy(f, to.resolve(f.getFileName()));
        }
    }
}
