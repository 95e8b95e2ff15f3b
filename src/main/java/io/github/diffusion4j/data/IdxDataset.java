package io.github.diffusion4j.data;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * MNIST-style datasets in the IDX format (MNIST, Fashion-MNIST): greyscale, labelled, loaded eagerly into memory
 * (60 000 images of 28x28 are 47 MB as bytes).
 *
 * <p><b>Files.</b> In the dataset directory, split {@code train} reads {@code train-images-idx3-ubyte} and
 * {@code train-labels-idx1-ubyte}, split {@code test} reads {@code t10k-...}; each may also be spelled with a dot
 * ({@code train-images.idx3-ubyte}) and may be gzipped (a {@code .gz} suffix, recognised by content). The IDX
 * header is checked: magic {@code 0x00000803} (unsigned bytes, 3 dimensions) for images and {@code 0x00000801}
 * for labels, big-endian sizes, exact file length, equal counts, labels below the number of classes.
 *
 * <p><b>Sizes.</b> Pixel 0 (black, the background) maps to -1 and 255 to 1. For an image size between the native
 * side {@code n} (28) and {@code n + 4} (32) the image is centred on a background canvas: 32 adds 2 pixels on
 * each side, the usual choice for U-Nets that halve the resolution several times. Any other size resamples the
 * {@code (n+4)}-canvas (area averaging when shrinking, bilinear when enlarging), so 16 and 64 frame the digit
 * exactly like 32 does.
 */
public final class IdxDataset implements Dataset {
    /** Fashion-MNIST labels, in label order. */
    public static final List<String> FASHION_CLASSES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");
    /** MNIST labels. */
    public static final List<String> DIGITS = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
    /** Where the Debian package {@code dataset-fashion-mnist} installs Fashion-MNIST. */
    public static final Path FASHION_MNIST_DIR = Path.of("/usr/share/datasets/fashion-mnist");

    private static final int PAD = 4;

    private final String name;
    private final List<String> classNames;
    private final byte[] pixels;
    private final byte[] labels;
    private final int count, rows, cols, imageSize;

    private IdxDataset(String name, List<String> classNames, byte[] pixels, byte[] labels, int count, int rows,
                       int cols, int imageSize) {
        this.name = name;
        this.classNames = List.copyOf(classNames);
        this.pixels = pixels;
        this.labels = labels;
        this.count = count;
        this.rows = rows;
        this.cols = cols;
        this.imageSize = imageSize;
    }

    /** Fashion-MNIST from {@code dir} (e.g. {@link #FASHION_MNIST_DIR}). */
    public static IdxDataset fashionMnist(Path dir, boolean train, int imageSize) {
        return open(dir, train, imageSize, "fashion-mnist", FASHION_CLASSES);
    }

    /** MNIST digits from {@code dir}. */
    public static IdxDataset mnist(Path dir, boolean train, int imageSize) {
        return open(dir, train, imageSize, "mnist", DIGITS);
    }

    /** The train ({@code train-*}) or test ({@code t10k-*}) split of the IDX files in {@code dir}. */
    public static IdxDataset open(Path dir, boolean train, int imageSize, String name, List<String> classNames) {
        if (!Files.isDirectory(dir)) throw new DatasetException(name + " directory " + dir + " does not exist");
        String prefix = train ? "train" : "t10k";
        Path images = find(dir, prefix, "images", "idx3-ubyte");
        Path labels = find(dir, prefix, "labels", "idx1-ubyte");
        return fromFiles(images, labels, imageSize, name + (train ? "/train" : "/test"), classNames);
    }

    /** Reads an explicit pair of IDX files. */
    public static IdxDataset fromFiles(Path imagesFile, Path labelsFile, int imageSize, String name, List<String> classNames) {
        if (imageSize <= 0) throw new IllegalArgumentException("image size must be positive, got " + imageSize);
        byte[] img = readAll(imagesFile);
        byte[] lab = readAll(labelsFile);
        checkMagic(imagesFile, img, 3, "image");
        checkMagic(labelsFile, lab, 1, "label");
        int n = be32(img, 4), rows = be32(img, 8), cols = be32(img, 12);
        if (n < 0 || rows <= 0 || cols <= 0) {
            throw new DatasetException("bad dimensions " + n + "x" + rows + "x" + cols + " in IDX file " + imagesFile);
        }
        checkLength(imagesFile, img.length, 16 + (long) n * rows * cols);
        int nl = be32(lab, 4);
        if (nl < 0) throw new DatasetException("bad label count " + nl + " in IDX file " + labelsFile);
        checkLength(labelsFile, lab.length, 8L + nl);
        if (n != nl) {
            throw new DatasetException("image and label counts differ: " + imagesFile + " has " + n + " images but "
                    + labelsFile + " has " + nl + " labels");
        }
        byte[] pixels = new byte[n * rows * cols];
        System.arraycopy(img, 16, pixels, 0, pixels.length);
        byte[] labels = new byte[n];
        System.arraycopy(lab, 8, labels, 0, n);
        for (int i = 0; i < n; i++) {
            int l = labels[i] & 0xFF;
            if (l >= classNames.size()) {
                throw new DatasetException("label " + l + " of item " + i + " in " + labelsFile + " is not below "
                        + classNames.size() + " classes");
            }
        }
        return new IdxDataset(name, classNames, pixels, labels, n, rows, cols, imageSize);
    }

    private static Path find(Path dir, String prefix, String what, String ext) {
        List<Path> tried = new ArrayList<>();
        for (String sep : new String[] {"-", "."}) {
            for (String gz : new String[] {"", ".gz"}) {
                Path p = dir.resolve(prefix + "-" + what + sep + ext + gz);
                if (Files.isRegularFile(p)) return p;
                tried.add(p.getFileName());
            }
        }
        throw new DatasetException("missing IDX file " + dir.resolve(prefix + "-" + what + "-" + ext + "[.gz]")
                + " (also tried " + tried.get(2) + ")");
    }

    /** Reads a whole file, gunzipping it if it starts with the gzip magic bytes. */
    static byte[] readAll(Path file) {
        if (!Files.isRegularFile(file)) throw new DatasetException("missing file " + file);
        try {
            byte[] raw = Files.readAllBytes(file);
            if (raw.length >= 2 && (raw[0] & 0xFF) == 0x1F && (raw[1] & 0xFF) == 0x8B) {
                try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw), 1 << 16)) {
                    return in.readAllBytes();
                } catch (EOFException e) {
                    throw new DatasetException("truncated gzip file " + file, e);
                } catch (ZipException e) {
                    throw new DatasetException("corrupt gzip file " + file + ": " + Images.oneLine(e), e);
                }
            }
            return raw;
        } catch (IOException e) {
            throw new DatasetException("cannot read " + file + ": " + Images.oneLine(e), e);
        }
    }

    private static void checkMagic(Path file, byte[] b, int dims, String what) {
        int expected = 0x0800 | dims;
        if (b.length >= 4 && be32(b, 0) != expected) {
            throw new DatasetException(String.format("bad magic number 0x%08x in %s (expected 0x%08x for an IDX %s file)",
                    be32(b, 0), file, expected, what));
        }
        if (b.length < 4 + 4 * dims) {
            throw new DatasetException("truncated IDX " + what + " file " + file + ": " + b.length + " bytes, too short for its header");
        }
    }

    private static void checkLength(Path file, long actual, long expected) {
        if (actual < expected) {
            throw new DatasetException("truncated IDX file " + file + ": " + actual + " bytes, header promises " + expected);
        }
        if (actual > expected) {
            throw new DatasetException("IDX file " + file + " has " + (actual - expected) + " unexpected trailing bytes");
        }
    }

    private static int be32(byte[] b, int off) {
        return ((b[off] & 0xFF) << 24) | ((b[off + 1] & 0xFF) << 16) | ((b[off + 2] & 0xFF) << 8) | (b[off + 3] & 0xFF);
    }

    @Override public String name() { return name; }

    @Override public int size() { return count; }

    @Override public int channels() { return 1; }

    @Override public int imageSize() { return imageSize; }

    @Override public int numClasses() { return classNames.size(); }

    @Override public List<String> classNames() { return classNames; }

    /** Side of the stored images (28 for MNIST). */
    public int nativeRows() { return rows; }

    public int nativeCols() { return cols; }

    @Override public int label(int index) {
        check(index);
        return labels[index] & 0xFF;
    }

    @Override public void image(int index, float[] out, int outOffset) {
        check(index);
        int base = index * rows * cols;
        int s = imageSize;
        if (s >= rows && s >= cols && s <= rows + PAD && s <= cols + PAD) {
            padInto(base, s, s, out, outOffset);
            return;
        }
        int ch = rows + PAD, cw = cols + PAD;
        float[] canvas = new float[ch * cw];
        padInto(base, ch, cw, canvas, 0);
        float[] r = Resample.resize(canvas, 1, ch, cw, s, s);
        System.arraycopy(r, 0, out, outOffset, s * s);
    }

    private void padInto(int base, int h, int w, float[] out, int off) {
        java.util.Arrays.fill(out, off, off + h * w, -1f);
        int top = (h - rows) / 2, left = (w - cols) / 2;
        for (int y = 0; y < rows; y++) {
            for (int x = 0; x < cols; x++) {
                out[off + (y + top) * w + x + left] = (pixels[base + y * cols + x] & 0xFF) / 127.5f - 1f;
            }
        }
    }

    private void check(int index) {
        if (index < 0 || index >= count) throw new IndexOutOfBoundsException("image " + index + " outside [0, " + count + ")");
    }
}
