package io.github.diffusion4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class Cifar10DatasetTest {
    @TempDir Path dir;

    /** {@code n} records; record r has label (base + r) % 10 and byte (c, y, x) = (r + 5c + y + 2x) mod 256. */
    static byte[] batch(int n, int base) {
        byte[] b = new byte[n * 3073];
        for (int r = 0; r < n; r++) {
            b[r * 3073] = (byte) ((base + r) % 10);
            for (int c = 0; c < 3; c++) for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) {
                b[r * 3073 + 1 + c * 1024 + y * 32 + x] = (byte) (r + 5 * c + y + 2 * x);
            }
        }
        return b;
    }

    void writeAll() throws IOException {
        for (int i = 1; i <= 5; i++) Files.write(dir.resolve("data_batch_" + i + ".bin"), batch(3, i));
        Files.write(dir.resolve("test_batch.bin"), batch(2, 0));
    }

    @Test void readsSyntheticBatches() throws IOException {
        writeAll();
        Cifar10Dataset train = Cifar10Dataset.open(dir, true, 32);
        assertEquals(15, train.size());
        assertEquals(3, train.channels());
        assertEquals(Cifar10Dataset.CLASSES, train.classNames());
        // item 4 = record 1 of data_batch_2: label (2 + 1) % 10
        assertEquals(3, train.label(4));
        float[] img = train.image(4);
        assertEquals(3072, img.length);
        for (int c = 0; c < 3; c++) for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) {
            int v = (1 + 5 * c + y + 2 * x) & 0xFF;
            assertEquals(v / 127.5f - 1f, img[c * 1024 + y * 32 + x], 1e-6f);
        }
        Cifar10Dataset test = Cifar10Dataset.open(dir, false, 16);
        assertEquals(2, test.size());
        assertEquals(3 * 16 * 16, test.image(1).length);
    }

    @Test void classNamesFromMetaAndParentDirectory() throws IOException {
        Path sub = dir.resolve("cifar-10-batches-bin");
        Files.createDirectories(sub);
        Files.write(sub.resolve("test_batch.bin"), batch(1, 0));
        Files.writeString(sub.resolve("batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n");
        Cifar10Dataset test = Cifar10Dataset.open(dir, false, 32);
        assertEquals("j", test.classNames().get(9));
    }

    @Test void wrongSizesAndLabelsNameTheFile() throws IOException {
        writeAll();
        Path f = dir.resolve("data_batch_3.bin");
        Files.write(f, Arrays.copyOf(batch(3, 0), 3 * 3073 - 5));
        DatasetException e = assertThrows(DatasetException.class, () -> Cifar10Dataset.open(dir, true, 32));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("3073"), e.getMessage());
        byte[] b = batch(3, 0);
        b[2 * 3073] = 12;
        Files.write(f, b);
        e = assertThrows(DatasetException.class, () -> Cifar10Dataset.open(dir, true, 32));
        assertTrue(e.getMessage().contains("bad label 12 in record 2") && e.getMessage().contains(f.toString()), e.getMessage());
        Files.delete(f);
        e = assertThrows(DatasetException.class, () -> Cifar10Dataset.open(dir, true, 32));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
    }
}
