package io.github.diffusion4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class IdxDatasetTest {
    @TempDir Path dir;

    /** IDX image file bytes: n images of rows x cols, pixel (i, y, x) = (i * 7 + y * 3 + x) mod 256. */
    static byte[] images(int n, int rows, int cols) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        be32(b, 0x00000803);
        be32(b, n);
        be32(b, rows);
        be32(b, cols);
        for (int i = 0; i < n; i++) for (int y = 0; y < rows; y++) for (int x = 0; x < cols; x++) b.write((i * 7 + y * 3 + x) & 0xFF);
        return b.toByteArray();
    }

    static byte[] labels(int n) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        be32(b, 0x00000801);
        be32(b, n);
        for (int i = 0; i < n; i++) b.write(i % 10);
        return b.toByteArray();
    }

    static void be32(ByteArrayOutputStream b, int v) {
        b.write(v >>> 24);
        b.write(v >>> 16);
        b.write(v >>> 8);
        b.write(v);
    }

    static byte[] gzip(byte[] raw) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (OutputStream o = new GZIPOutputStream(b)) {
            o.write(raw);
        }
        return b.toByteArray();
    }

    @Test void readsRawFilesAtNativeSize() throws IOException {
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(5, 28, 28));
        Files.write(dir.resolve("train-labels-idx1-ubyte"), labels(5));
        IdxDataset ds = IdxDataset.fashionMnist(dir, true, 28);
        assertEquals(5, ds.size());
        assertEquals(1, ds.channels());
        assertEquals(10, ds.numClasses());
        assertEquals("Ankle boot", ds.classNames().get(9));
        assertEquals(3, ds.label(3));
        float[] img = ds.image(2);
        assertEquals(28 * 28, img.length);
        for (int y = 0; y < 28; y++) {
            for (int x = 0; x < 28; x++) {
                int v = (2 * 7 + y * 3 + x) & 0xFF;
                assertEquals(v / 127.5f - 1f, img[y * 28 + x], 1e-6f);
            }
        }
    }

    @Test void readsGzippedDotSpelledTestSplitAndPadsTo32() throws IOException {
        Files.write(dir.resolve("t10k-images.idx3-ubyte.gz"), gzip(images(3, 28, 28)));
        Files.write(dir.resolve("t10k-labels.idx1-ubyte.gz"), gzip(labels(3)));
        IdxDataset ds = IdxDataset.mnist(dir, false, 32);
        assertEquals(3, ds.size());
        assertEquals("mnist/test", ds.name());
        assertEquals("7", ds.classNames().get(7));
        float[] img = ds.image(1);
        assertEquals(32 * 32, img.length);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                boolean border = y < 2 || y >= 30 || x < 2 || x >= 30;
                float expect = border ? -1f : ((7 + (y - 2) * 3 + (x - 2)) & 0xFF) / 127.5f - 1f;
                assertEquals(expect, img[y * 32 + x], 1e-6f, "pixel " + y + "," + x);
            }
        }
    }

    @Test void otherSizesResampleThePaddedCanvas() throws IOException {
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(2, 28, 28));
        Files.write(dir.resolve("train-labels-idx1-ubyte"), labels(2));
        float[] p32 = IdxDataset.mnist(dir, true, 32).image(0);
        float[] p16 = IdxDataset.mnist(dir, true, 16).image(0);
        // 16 = exact 2x2 means of the 32 canvas
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                float m = (p32[2 * y * 32 + 2 * x] + p32[2 * y * 32 + 2 * x + 1] + p32[(2 * y + 1) * 32 + 2 * x] + p32[(2 * y + 1) * 32 + 2 * x + 1]) / 4;
                assertEquals(m, p16[y * 16 + x], 1e-5f);
            }
        }
        float[] p64 = IdxDataset.mnist(dir, true, 64).image(0);
        assertEquals(64 * 64, p64.length);
        assertEquals(-1f, p64[0], 1e-6f);
    }

    @Test void corruptFilesNameTheFile() throws IOException {
        Path img = dir.resolve("train-images-idx3-ubyte");
        Path lab = dir.resolve("train-labels-idx1-ubyte");
        // missing
        DatasetException e = assertThrows(DatasetException.class, () -> IdxDataset.mnist(dir, true, 28));
        assertTrue(e.getMessage().contains("train-images-idx3-ubyte"), e.getMessage());
        assertThrows(DatasetException.class, () -> IdxDataset.mnist(dir.resolve("nope"), true, 28));
        // bad magic
        byte[] bad = images(4, 28, 28);
        bad[3] = 0x02;
        Files.write(img, bad);
        Files.write(lab, labels(4));
        e = assertThrows(DatasetException.class, () -> IdxDataset.mnist(dir, true, 28));
        assertTrue(e.getMessage().contains("bad magic number 0x00000802") && e.getMessage().contains(img.toString()), e.getMessage());
        // truncated
        byte[] good = images(4, 28, 28);
        Files.write(img, Arrays.copyOf(good, good.length - 100));
        e = assertThrows(DatasetException.class, () -> IdxDataset.mnist(dir, true, 28));
        assertTrue(e.getMessage().startsWith("truncated IDX file " + img), e.getMessage());
        // truncated gzip
        Files.delete(img);
        byte[] gz = gzip(good);
        Files.write(dir.resolve("train-images-idx3-ubyte.gz"), Arrays.copyOf(gz, gz.length / 2));
        e = assertThrows(DatasetException.class, () -> IdxDataset.mnist(dir, true, 28));
        assertTrue(e.getMessage().contains("train-images-idx3-ubyte.gz"), e.getMessage());
        // count mismatch
        Files.write(dir.resolve("train-images-idx3-ubyte.gz"), gz);
        Files.write(lab, labels(3));
        e = assertThrows(DatasetException.class, () -> IdxDataset.mnist(dir, true, 28));
        assertTrue(e.getMessage().contains("4 images") && e.getMessage().contains("3 labels") && e.getMessage().contains(lab.toString()), e.getMessage());
        // labels file given for images
        Files.write(lab, labels(4));
        e = assertThrows(DatasetException.class,
                () -> IdxDataset.fromFiles(lab, lab, 28, "x", IdxDataset.DIGITS));
        assertTrue(e.getMessage().contains("bad magic number 0x00000801"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test void realFashionMnistWhenInstalled() {
        assumeTrue(Files.isDirectory(IdxDataset.FASHION_MNIST_DIR), "Fashion-MNIST is not installed");
        IdxDataset train = IdxDataset.fashionMnist(IdxDataset.FASHION_MNIST_DIR, true, 32);
        assertEquals(60000, train.size());
        assertEquals(10, train.numClasses());
        int[] counts = new int[10];
        for (int i = 0; i < train.size(); i++) counts[train.label(i)]++;
        for (int c : counts) assertEquals(6000, c);
        float[] img = train.image(0);
        float min = 1, max = -1;
        for (float v : img) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertEquals(-1f, min);
        assertTrue(max > 0.5f);
        IdxDataset test = IdxDataset.fashionMnist(IdxDataset.FASHION_MNIST_DIR, false, 28);
        assertEquals(10000, test.size());
        assertEquals(9, test.label(0)); // the first test image is an ankle boot
    }
}
