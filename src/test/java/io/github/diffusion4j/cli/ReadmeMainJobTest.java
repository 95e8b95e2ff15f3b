package io.github.diffusion4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.diffusion4j.train.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The README's main job, shortened: {@code train} with its defaults (shapes data, 32x32, preset small) for 2 steps,
 * then {@code sample} from the run with every output and every sampler, img2img and inpainting.
 */
class ReadmeMainJobTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static BufferedImage read(Path png) throws IOException {
        assertTrue(Files.isRegularFile(png), png + " exists");
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img, png + " is an image");
        return img;
    }

    static int gifFrames(Path gif) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(gif.toFile())) {
            ImageReader r = ImageIO.getImageReadersByFormatName("gif").next();
            r.setInput(in);
            int n = r.getNumImages(true);
            r.dispose();
            return n;
        }
    }

    @Test
    void trainThenSample(@TempDir Path tmp) throws IOException {
        Path run = tmp.resolve("run");
        CliRun.Result t = CliRun.run("train", "--steps", "2", "--sample-count", "4", "--sample-steps", "2", "--batch-size", "4",
                "--out", run.toString()).ok();
        assertTrue(t.out().contains("training: small"), t.describe());
        assertTrue(t.out().contains("on shapes 3x32x32"), t.describe());
        assertTrue(t.out().contains("done: 2 steps"), t.describe());
        assertFalse(t.out().contains("NaN"), "no NaN in the progress lines: " + t.describe());
        assertTrue(t.err().isEmpty(), t.describe());

        // metrics.jsonl: JSON lines with the documented fields
        List<String> lines = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertFalse(lines.isEmpty());
        JsonNode last = null;
        for (String line : lines) {
            last = JSON.readTree(line);
            for (String k : List.of("step", "loss", "lr", "grad_norm", "ema_decay", "images_per_s", "elapsed_s")) {
                assertTrue(last.has(k), k + " in " + line);
                assertTrue(last.get(k).isNumber() && Double.isFinite(last.get(k).asDouble()), k + " in " + line);
            }
            assertTrue(last.has("loss_q0") || last.has("loss_q1") || last.has("loss_q2") || last.has("loss_q3"), line);
        }
        assertEquals(2, last.get("step").asLong());

        // sample grid, loss plot, checkpoint
        BufferedImage grid = read(run.resolve("samples/step-000002.png"));
        assertTrue(grid.getWidth() >= 2 * 64 && grid.getHeight() >= 2 * 64, "4 images of 32x32 at scale 2");
        read(run.resolve("loss.png"));
        Path ckpt = run.resolve("checkpoints/step-000002");
        for (String f : List.of(Checkpoint.MODEL, Checkpoint.EMA, Checkpoint.OPTIMIZER, Checkpoint.CONFIG)) {
            assertTrue(Files.size(ckpt.resolve(f)) > 0, f);
        }
        assertEquals("step-000002", Files.readString(run.resolve("checkpoints/latest")).strip());
        assertEquals("small", Checkpoint.readInfo(ckpt).config().model);

        // sample: grid, one PNG per image + labels.csv, trajectory GIF and strip
        Path g = tmp.resolve("g.png"), imgs = tmp.resolve("imgs"), gif = tmp.resolve("t.gif");
        CliRun.Result s = CliRun.run("sample", "--run", run.toString(), "--count", "4", "--steps", "2", "--out", g.toString(),
                "--out-dir", imgs.toString(), "--trajectory", gif.toString()).ok();
        assertTrue(s.err().isEmpty(), s.describe());
        read(g);
        List<String> csv = Files.readAllLines(imgs.resolve("labels.csv"));
        assertEquals(5, csv.size(), csv.toString());
        assertEquals("file,label,class", csv.get(0));
        for (int i = 0; i < 4; i++) {
            String name = String.format("sample-%04d.png", i);
            BufferedImage img = read(imgs.resolve(name));
            assertEquals(32, img.getWidth());
            assertEquals(32, img.getHeight());
            assertTrue(csv.get(i + 1).startsWith(name + ","), csv.get(i + 1));
        }
        try (var files = Files.list(imgs)) {
            assertEquals(5, files.count(), "4 PNG files and labels.csv");
        }
        assertEquals(2, gifFrames(gif), "one frame per step");
        read(tmp.resolve("t.png"));

        // the other samplers
        for (String sampler : List.of("ddpm", "dpmpp")) {
            Path out = tmp.resolve(sampler + ".png");
            CliRun.run("sample", "--run", run.toString(), "--sampler", sampler, "--steps", "3", "--count", "2",
                    "--out", out.toString()).ok();
            read(out);
        }

        // img2img and inpainting from an init image
        Path init = tmp.resolve("init.png");
        BufferedImage in = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) in.setRGB(x, y, (x * 8) << 16 | (y * 8) << 8 | ((x + y) * 4 & 0xff));
        }
        ImageIO.write(in, "png", init.toFile());
        Path i2i = tmp.resolve("i2i.png");
        CliRun.run("sample", "--run", run.toString(), "--count", "2", "--steps", "4", "--init", init.toString(),
                "--strength", "0.5", "--out", i2i.toString()).ok();
        read(i2i);

        for (boolean keepAll : new boolean[] {true, false}) {
            Path mask = tmp.resolve("mask-" + keepAll + ".png");
            BufferedImage mk = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
            if (!keepAll) for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) mk.setRGB(x, y, 0xffffff);
            ImageIO.write(mk, "png", mask.toFile());
            Path dir = tmp.resolve("inpaint-" + keepAll);
            CliRun.run("sample", "--run", run.toString(), "--count", "2", "--steps", "3", "--init", init.toString(),
                    "--mask", mask.toString(), "--strength", "1", "--out", dir.resolve("grid.png").toString(),
                    "--out-dir", dir.toString()).ok();
            int maxDiff = 0;
            for (int i = 0; i < 2; i++) {
                BufferedImage o = read(dir.resolve(String.format("sample-%04d.png", i)));
                for (int y = 0; y < 32; y++) {
                    for (int x = 0; x < 32; x++) {
                        int a = o.getRGB(x, y), b = in.getRGB(x, y);
                        for (int sh = 0; sh < 24; sh += 8) maxDiff = Math.max(maxDiff, Math.abs((a >> sh & 0xff) - (b >> sh & 0xff)));
                    }
                }
            }
            if (keepAll) assertTrue(maxDiff <= 1, "a black mask keeps the init image: max difference " + maxDiff);
            else assertTrue(maxDiff > 32, "a white mask regenerates everything: max difference " + maxDiff);
        }
    }
}
