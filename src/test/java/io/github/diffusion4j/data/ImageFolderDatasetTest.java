package io.github.diffusion4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class ImageFolderDatasetTest {
    static { System.setProperty("java.awt.headless", "true"); }

    @TempDir Path dir;

    static void solid(Path file, int w, int h, int rgb, String format, int type) throws IOException {
        BufferedImage img = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, rgb);
        Files.createDirectories(file.getParent());
        assertTrue(ImageIO.write(img, format, file.toFile()));
    }

    @Test void subFoldersAreSortedClassLabels() throws IOException {
        solid(dir.resolve("dogs/a.png"), 40, 20, 0x0000FF, "png", BufferedImage.TYPE_INT_RGB);
        solid(dir.resolve("cats/b.png"), 20, 20, 0xFF0000, "png", BufferedImage.TYPE_INT_RGB);
        solid(dir.resolve("cats/nested/c.jpg"), 64, 64, 0x00FF00, "jpg", BufferedImage.TYPE_INT_RGB);
        Files.writeString(dir.resolve("cats/notes.txt"), "ignored");
        solid(dir.resolve(".hidden/x.png"), 8, 8, 0, "png", BufferedImage.TYPE_INT_RGB);
        ImageFolderDataset ds = ImageFolderDataset.open(dir, 16);
        assertTrue(ds.eager());
        assertEquals(3, ds.size());
        assertEquals(java.util.List.of("cats", "dogs"), ds.classNames());
        assertEquals(2, ds.numClasses());
        assertEquals(0, ds.label(0));
        assertEquals(0, ds.label(1));
        assertEquals(1, ds.label(2));
        assertTrue(ds.file(0).endsWith("cats/b.png"));
        float[] red = ds.image(0);
        assertEquals(3 * 256, red.length);
        assertEquals(1f, red[0], 1e-6f);
        assertEquals(-1f, red[256], 1e-6f);
        float[] blue = ds.image(2); // 40x20 -> 32x16 -> crop 16x16
        assertEquals(1f, blue[2 * 256 + 100], 1e-6f);
        float[] green = ds.image(1); // jpeg: close to pure green
        assertEquals(1f, green[256 + 50], 0.05f);
    }

    @Test void flatFolderIsUnlabelledAndGreyAlphaHandled() throws IOException {
        BufferedImage grey = new BufferedImage(10, 10, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 10; y++) for (int x = 0; x < 10; x++) grey.getRaster().setSample(x, y, 0, 128);
        ImageIO.write(grey, "png", dir.resolve("g.png").toFile());
        BufferedImage t = new BufferedImage(10, 10, BufferedImage.TYPE_INT_ARGB); // fully transparent -> white
        ImageIO.write(t, "png", dir.resolve("t.png").toFile());
        ImageFolderDataset ds = new ImageFolderDataset(dir, 10, 0); // lazy
        assertFalse(ds.eager());
        assertEquals(0, ds.numClasses());
        assertEquals(-1, ds.label(0));
        float[] g = ds.image(0);
        for (int c = 0; c < 3; c++) assertEquals(128 / 127.5f - 1f, g[c * 100 + 55], 1e-6f); // grey read as stored
        float[] w = ds.image(1);
        for (float v : w) assertEquals(1f, v, 1e-6f);
    }

    @Test void corruptImageNamesTheFile() throws IOException {
        solid(dir.resolve("a/ok.png"), 8, 8, 0xFFFFFF, "png", BufferedImage.TYPE_INT_RGB);
        Path bad = dir.resolve("a/broken.png");
        Files.write(bad, new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13, 'I', 'H'});
        DatasetException e = assertThrows(DatasetException.class, () -> ImageFolderDataset.open(dir, 8));
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
        // lazily: reported when read
        ImageFolderDataset lazy = new ImageFolderDataset(dir, 8, 0);
        e = assertThrows(DatasetException.class, () -> lazy.image(0));
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
        Files.writeString(bad, "not an image at all");
        e = assertThrows(DatasetException.class, () -> ImageFolderDataset.open(dir, 8));
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
    }

    @Test void emptyOrMissingFolderIsAnError() throws IOException {
        assertThrows(DatasetException.class, () -> ImageFolderDataset.open(dir.resolve("missing"), 8));
        DatasetException e = assertThrows(DatasetException.class, () -> ImageFolderDataset.open(dir, 8));
        assertTrue(e.getMessage().contains("no images"), e.getMessage());
        solid(dir.resolve("cls/a.png"), 8, 8, 0, "png", BufferedImage.TYPE_INT_RGB);
        solid(dir.resolve("stray.png"), 8, 8, 0, "png", BufferedImage.TYPE_INT_RGB);
        e = assertThrows(DatasetException.class, () -> ImageFolderDataset.open(dir, 8));
        assertTrue(e.getMessage().contains("stray.png"), e.getMessage());
    }
}
