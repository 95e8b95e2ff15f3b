package io.github.diffusion4j.eval;

import io.github.diffusion4j.data.DatasetException;
import io.github.diffusion4j.data.Images;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A folder of greyscale PNGs to score, as {@code sample --out-dir} writes it: every {@code *.png} in name order, and
 * optionally {@code labels.csv} ({@code file,label,class}; label −1 for none). Images must be square 28x28 (native
 * Fashion-MNIST) or 32x32 (the engine's padded size); 28x28 ones are centred on a black 32x32 canvas, as the
 * dataset does. No silent resizing: any other size, or a colour image, is refused naming the file.
 */
public record ImageSet(int count, float[] images, int[] labels, List<Path> files) {
    /** Whether any image carries a label (≥ 0). */
    public boolean labelled() {
        if (labels == null) return false;
        for (int l : labels) if (l >= 0) return true;
        return false;
    }

    public static ImageSet read(Path dir) {
        if (!Files.isDirectory(dir)) throw new DatasetException("image folder " + dir + " does not exist");
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".png"))
                    .filter(Files::isRegularFile).sorted().toList();
        } catch (IOException e) {
            throw new DatasetException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        if (files.isEmpty()) throw new DatasetException("image folder " + dir + " holds no PNG files");
        int s = FeatureNet.IMAGE_SIZE, px = s * s;
        float[] out = new float[files.size() * px];
        for (int i = 0; i < files.size(); i++) decodeInto(files.get(i), out, i * px);
        Path csv = dir.resolve("labels.csv");
        int[] labels = Files.isRegularFile(csv) ? readLabels(csv, files) : null;
        return new ImageSet(files.size(), out, labels, files);
    }

    static void decodeInto(Path file, float[] out, int off) {
        BufferedImage img = Images.decode(file);
        int w = img.getWidth(), h = img.getHeight();
        if (w != h || (w != 28 && w != 32)) {
            throw new DatasetException("image " + file + " is " + w + "x" + h + "; Fashion-MNIST features need 28x28 or 32x32 images");
        }
        boolean grey = img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        if (!grey) {
            for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) {
                int p = img.getRGB(x, y);
                int r = (p >> 16) & 0xFF, g = (p >> 8) & 0xFF, b = p & 0xFF;
                if (r != g || g != b) {
                    throw new DatasetException("image " + file + " has colour (3 channels); Fashion-MNIST features need greyscale (1 channel) images");
                }
            }
        }
        float[] p = Images.planes(img, 1);
        Images.toSigned(p);
        int s = FeatureNet.IMAGE_SIZE, pad = (s - w) / 2;
        if (pad == 0) {
            System.arraycopy(p, 0, out, off, s * s);
            return;
        }
        java.util.Arrays.fill(out, off, off + s * s, -1f);
        for (int y = 0; y < h; y++) System.arraycopy(p, y * w, out, off + (y + pad) * s + pad, w);
    }

    static int[] readLabels(Path csv, List<Path> files) {
        Map<String, Integer> byName = new HashMap<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(csv);
        } catch (IOException e) {
            throw new DatasetException("cannot read " + csv + ": " + e.getMessage(), e);
        }
        for (int i = 1; i < lines.size(); i++) { // line 0: header
            String line = lines.get(i).trim();
            if (line.isEmpty()) continue;
            String[] f = line.split(",", 3);
            if (f.length < 2) throw new DatasetException(csv + " line " + (i + 1) + ": expected file,label[,class]");
            try {
                byName.put(f[0].trim(), Integer.parseInt(f[1].trim()));
            } catch (NumberFormatException e) {
                throw new DatasetException(csv + " line " + (i + 1) + ": label '" + f[1] + "' is not an integer");
            }
        }
        int[] out = new int[files.size()];
        for (int i = 0; i < out.length; i++) out[i] = byName.getOrDefault(files.get(i).getFileName().toString(), -1);
        return out;
    }

    /**
     * The images as they read back from the 8-bit greyscale PNGs {@code sample --out-dir} writes (quantised by
     * {@code ImageIo.toByte}, read back as {@code byte / 127.5 - 1}), so that images scored in memory (in-training
     * evaluation) get exactly the numbers {@code evaluate --images} gives for the same images written out. A new array.
     */
    public static float[] asWritten(float[] images) {
        float[] out = new float[images.length];
        for (int i = 0; i < out.length; i++) {
            float v = io.github.diffusion4j.io.ImageIo.toByte(images[i]) / 127.5f - 1f;
            out[i] = v < -1f ? -1f : (v > 1f ? 1f : v);
        }
        return out;
    }

    /** Names of the files, for messages. */
    public List<String> names() {
        List<String> n = new ArrayList<>();
        for (Path p : files) n.add(p.getFileName().toString());
        return n;
    }
}
