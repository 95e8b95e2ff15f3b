package io.github.diffusion4j.data;

import javax.imageio.ImageIO;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Decoding of image files (PNG, JPEG, BMP, GIF through {@link ImageIO}) into planar float images, shared by
 * {@link ImageFolderDataset} and {@code io.ImageIo}.
 *
 * <p>Conventions: greyscale files are read from their raster directly (Java's {@code getRGB} would apply a
 * linear-to-sRGB conversion to {@code TYPE_BYTE_GRAY}); transparent pixels are composited over <b>white</b>;
 * a 3-channel request of a greyscale file repeats the grey plane, a 1-channel request of a colour file takes
 * the Rec. 601 luma {@code 0.299 R + 0.587 G + 0.114 B}.
 */
public final class Images {
    private Images() {}

    /** The most pixels a decoded image may have (8192 x 8192; datasets here are 28 to 1024 pixels wide). */
    public static final long MAX_PIXELS = 1L << 26;

    static {
        System.setProperty("java.awt.headless", "true");
    }

    /** Decodes {@code file}; throws {@link DatasetException} naming the file if it is missing or not an image. */
    public static BufferedImage decode(Path file) {
        if (!Files.isRegularFile(file)) throw new DatasetException("image file " + file + " does not exist");
        BufferedImage img = null;
        try (javax.imageio.stream.ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            java.util.Iterator<javax.imageio.ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers != null && readers.hasNext()) {
                javax.imageio.ImageReader reader = readers.next();
                try {
                    reader.setInput(in, true, true);
                    // the header's size first: a file that declares more pixels than any dataset image needs (a
                    // decompression bomb) is refused before the decoder allocates them
                    long w = reader.getWidth(0), h = reader.getHeight(0);
                    if (w * h > MAX_PIXELS) {
                        throw new DatasetException(String.format(java.util.Locale.ROOT, "image %s is %dx%d: more than "
                                + "the %,d pixels an image may have here", file, w, h, MAX_PIXELS));
                    }
                    img = reader.read(0);
                } finally {
                    reader.dispose();
                }
            }
        } catch (DatasetException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new DatasetException("cannot decode image " + file + ": " + oneLine(e), e);
        }
        if (img == null) throw new DatasetException("cannot decode image " + file + ": not a supported image format");
        return img;
    }

    /**
     * The pixels of {@code img} as a planar {@code channels x h x w} float array with values in [0, 255]
     * ({@code channels} is 1 or 3; see the class comment for conversions).
     */
    public static float[] planes(BufferedImage img, int channels) {
        if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels must be 1 or 3, got " + channels);
        int w = img.getWidth(), h = img.getHeight(), hw = w * h;
        float[] out = new float[channels * hw];
        boolean gray = img.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        Raster r = img.getRaster();
        if (gray && (r.getNumBands() == 1 || r.getNumBands() == 2)) {
            boolean alpha = r.getNumBands() == 2;
            double max = (1 << img.getColorModel().getComponentSize(0)) - 1;
            double amax = alpha ? (1 << img.getColorModel().getComponentSize(1)) - 1 : 1;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    double v = r.getSample(x, y, 0) * 255.0 / max;
                    if (alpha) {
                        double a = r.getSample(x, y, 1) / amax;
                        v = v * a + 255.0 * (1 - a);
                    }
                    for (int c = 0; c < channels; c++) out[c * hw + y * w + x] = (float) v;
                }
            }
            return out;
        }
        int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
        boolean hasAlpha = img.getColorModel().hasAlpha();
        for (int i = 0; i < hw; i++) {
            int p = argb[i];
            double a = hasAlpha ? ((p >>> 24) & 0xFF) / 255.0 : 1.0;
            double rr = ((p >> 16) & 0xFF) * a + 255.0 * (1 - a);
            double gg = ((p >> 8) & 0xFF) * a + 255.0 * (1 - a);
            double bb = (p & 0xFF) * a + 255.0 * (1 - a);
            if (channels == 3) {
                out[i] = (float) rr;
                out[hw + i] = (float) gg;
                out[2 * hw + i] = (float) bb;
            } else {
                out[i] = (float) (0.299 * rr + 0.587 * gg + 0.114 * bb);
            }
        }
        return out;
    }

    /**
     * Decodes {@code file}, scales the shorter side to {@code size} (area averaging when shrinking), crops the
     * centre square and maps to [-1, 1]: a {@code channels x size x size} array.
     */
    public static float[] load(Path file, int size, int channels) {
        BufferedImage img = decode(file);
        float[] p = planes(img, channels);
        float[] out = Resample.resizeCenterCrop(p, channels, img.getHeight(), img.getWidth(), size);
        toSigned(out);
        return out;
    }

    /** Maps values in [0, 255] to [-1, 1] in place ({@code v / 127.5 - 1}, clamped). */
    public static void toSigned(float[] a) {
        for (int i = 0; i < a.length; i++) {
            float v = a[i] / 127.5f - 1f;
            a[i] = v < -1f ? -1f : (v > 1f ? 1f : v);
        }
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) m = e.getClass().getSimpleName();
        return m.replace('\n', ' ').replace('\r', ' ');
    }
}
