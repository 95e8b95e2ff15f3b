package io.github.diffusion4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertFalse;

/** Missing and corrupt datasets: exit code 2 and one line naming the directory or file, for train and data. */
class DatasetErrorsTest {

    static void png(Path file, int size, long seed) throws IOException {
        BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Random r = new Random(seed);
        for (int y = 0; y < size; y++) for (int x = 0; x < size; x++) img.setRGB(x, y, r.nextInt(1 << 24));
        ImageIO.write(img, "png", file.toFile());
    }

    static CliRun.Result train(Path dataDir, Path out) {
        return CliRun.run("train", "--data", "folder", "--data-dir", dataDir.toString(), "--model", "tiny", "--image-size", "16",
                "--batch-size", "1", "--steps", "1", "--sample-count", "0", "--device", "cpu", "--out", out.toString());
    }

    static CliRun.Result data(Path dataDir, Path out) {
        return CliRun.run("data", "--data", "folder", "--data-dir", dataDir.toString(), "--image-size", "16",
                "--out", out.resolve("data.png").toString());
    }

    @Test
    void aValidFolderTrains(@TempDir Path tmp) throws IOException {
        Path d = Files.createDirectories(tmp.resolve("ok"));
        png(d.resolve("a.png"), 24, 1);
        png(d.resolve("b.png"), 24, 2);
        train(d, tmp.resolve("run")).ok();
        data(d, tmp).ok();
    }

    @Test
    void aCorruptImageIsNamed(@TempDir Path tmp) throws IOException {
        Path valid = tmp.resolve("valid.png");
        png(valid, 64, 3);
        byte[] bytes = Files.readAllBytes(valid);
        byte[][] bad = {
                "this is not a PNG file".getBytes(),                   // garbage
                new byte[0],                                            // empty
                Arrays.copyOf(bytes, bytes.length / 2),                 // cut in the middle of the image data
                Arrays.copyOf(bytes, 40),                               // cut in the header
        };
        for (int i = 0; i < bad.length; i++) {
            Path d = Files.createDirectories(tmp.resolve("set" + i));
            Files.copy(valid, d.resolve("a-valid.png"));
            Path broken = d.resolve("b-broken" + i + ".png");
            Files.write(broken, bad[i]);
            png(d.resolve("c-valid.png"), 16, 4);
            Path out = tmp.resolve("run" + i);
            train(d, out).oneLineError(broken.toString());
            data(d, tmp).oneLineError(broken.toString());
            assertFalse(Files.exists(out.resolve("checkpoints")), "no checkpoint from a failed start");
        }
    }

    @Test
    void missingOrEmptyDatasetDirectories(@TempDir Path tmp) throws IOException {
        CliRun.Result r = CliRun.run("train", "--data", "cifar10", "--model", "tiny", "--image-size", "16", "--out",
                tmp.resolve("run").toString());
        r.oneLineError("cifar10", "director");
        CliRun.run("data", "--data", "cifar10", "--out", tmp.resolve("d.png").toString()).oneLineError("cifar10", "director");
        CliRun.run("train", "--data", "mnist", "--out", tmp.resolve("run").toString()).oneLineError("mnist", "director");
        Path nowhere = tmp.resolve("no-such-dir");
        train(nowhere, tmp.resolve("run")).oneLineError(nowhere.toString());
        data(nowhere, tmp).oneLineError(nowhere.toString());
        CliRun.run("train", "--data", "cifar10", "--data-dir", nowhere.toString(), "--out", tmp.resolve("run").toString())
                .oneLineError(nowhere.toString());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        train(empty, tmp.resolve("run")).oneLineError(empty.toString());
        data(empty, tmp).oneLineError(empty.toString());
        Path fewer = Files.createDirectories(tmp.resolve("fewer"));
        png(fewer.resolve("only.png"), 16, 5);
        CliRun.run("train", "--data", "folder", "--data-dir", fewer.toString(), "--model", "tiny", "--image-size", "16",
                "--batch-size", "4", "--steps", "1", "--sample-count", "0", "--out", tmp.resolve("run").toString())
                .oneLineError("batch size 4");
    }
}
