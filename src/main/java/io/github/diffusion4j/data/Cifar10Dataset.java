package io.github.diffusion4j.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CIFAR-10, binary version ({@code cifar-10-binary.tar.gz}, unpacked): files {@code data_batch_1.bin} ...
 * {@code data_batch_5.bin} (train) and {@code test_batch.bin} (test), each a sequence of 3073-byte records:
 * one label byte (0-9), then 1024 red, 1024 green and 1024 blue bytes of a 32x32 image in row-major order.
 * Class names come from {@code batches.meta.txt} (one per line) when present, else the standard ten. The directory
 * may be the one holding the files or its parent holding {@code cifar-10-batches-bin/}.
 *
 * <p>All records are loaded into memory (150 MB for the train split). Sizes other than 32 are resampled (area
 * averaging when shrinking, bilinear when enlarging).
 */
public final class Cifar10Dataset implements Dataset {
    public static final List<String> CLASSES = List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
            "horse", "ship", "truck");
    static final int SIDE = 32, PIXELS = 3 * SIDE * SIDE, RECORD = PIXELS + 1;

    private final String name;
    private final List<String> classNames;
    private final byte[] records;
    private final int count;
    private final int imageSize;

    private Cifar10Dataset(String name, List<String> classNames, byte[] records, int count, int imageSize) {
        this.name = name;
        this.classNames = classNames;
        this.records = records;
        this.count = count;
        this.imageSize = imageSize;
    }

    /** The train (five data batches) or test split in {@code dir}. */
    public static Cifar10Dataset open(Path dir, boolean train, int imageSize) {
        if (imageSize <= 0) throw new IllegalArgumentException("image size must be positive, got " + imageSize);
        if (!Files.isDirectory(dir)) throw new DatasetException("cifar10 directory " + dir + " does not exist");
        if (!Files.exists(dir.resolve("data_batch_1.bin")) && !Files.exists(dir.resolve("test_batch.bin"))
                && Files.isDirectory(dir.resolve("cifar-10-batches-bin"))) {
            dir = dir.resolve("cifar-10-batches-bin");
        }
        List<Path> files = new ArrayList<>();
        if (train) {
            for (int i = 1; i <= 5; i++) files.add(dir.resolve("data_batch_" + i + ".bin"));
        } else {
            files.add(dir.resolve("test_batch.bin"));
        }
        long total = 0;
        for (Path f : files) {
            if (!Files.isRegularFile(f)) throw new DatasetException("missing CIFAR-10 file " + f);
            try {
                long len = Files.size(f);
                if (len == 0 || len % RECORD != 0) {
                    throw new DatasetException("CIFAR-10 file " + f + " has " + len + " bytes, not a whole number of "
                            + RECORD + "-byte records");
                }
                total += len;
            } catch (IOException e) {
                throw new DatasetException("cannot read " + f + ": " + Images.oneLine(e), e);
            }
        }
        if (total > Integer.MAX_VALUE - 16) throw new DatasetException("CIFAR-10 files in " + dir + " are too large");
        byte[] records = new byte[(int) total];
        int pos = 0;
        for (Path f : files) {
            byte[] b;
            try {
                b = Files.readAllBytes(f);
            } catch (IOException e) {
                throw new DatasetException("cannot read " + f + ": " + Images.oneLine(e), e);
            }
            for (int r = 0; r < b.length / RECORD; r++) {
                int label = b[r * RECORD] & 0xFF;
                if (label >= CLASSES.size()) {
                    throw new DatasetException("bad label " + label + " in record " + r + " of CIFAR-10 file " + f);
                }
            }
            System.arraycopy(b, 0, records, pos, b.length);
            pos += b.length;
        }
        List<String> names = readClassNames(dir.resolve("batches.meta.txt"));
        return new Cifar10Dataset("cifar10" + (train ? "/train" : "/test"), names, records, (int) (total / RECORD), imageSize);
    }

    private static List<String> readClassNames(Path meta) {
        if (!Files.isRegularFile(meta)) return CLASSES;
        List<String> names = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(meta, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) names.add(line.strip());
            }
        } catch (IOException e) {
            throw new DatasetException("cannot read " + meta + ": " + Images.oneLine(e), e);
        }
        if (names.size() != CLASSES.size()) {
            throw new DatasetException("CIFAR-10 class list " + meta + " has " + names.size() + " names, expected 10");
        }
        return List.copyOf(names);
    }

    @Override public String name() { return name; }

    @Override public int size() { return count; }

    @Override public int channels() { return 3; }

    @Override public int imageSize() { return imageSize; }

    @Override public int numClasses() { return classNames.size(); }

    @Override public List<String> classNames() { return classNames; }

    @Override public int label(int index) {
        check(index);
        return records[index * RECORD] & 0xFF;
    }

    @Override public void image(int index, float[] out, int outOffset) {
        check(index);
        int base = index * RECORD + 1;
        if (imageSize == SIDE) {
            for (int i = 0; i < PIXELS; i++) out[outOffset + i] = (records[base + i] & 0xFF) / 127.5f - 1f;
            return;
        }
        float[] src = new float[PIXELS];
        for (int i = 0; i < PIXELS; i++) src[i] = records[base + i] & 0xFF;
        float[] r = Resample.resize(src, 3, SIDE, SIDE, imageSize, imageSize);
        Images.toSigned(r);
        System.arraycopy(r, 0, out, outOffset, r.length);
    }

    private void check(int index) {
        if (index < 0 || index >= count) throw new IndexOutOfBoundsException("image " + index + " outside [0, " + count + ")");
    }
}
