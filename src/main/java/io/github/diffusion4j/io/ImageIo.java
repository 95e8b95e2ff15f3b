package io.github.diffusion4j.io;

import io.github.diffusion4j.data.Images;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageOutputStream;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.awt.image.WritableRaster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Image files for samples and figures. Pixel values are in [-1, 1] (CHW per image, NCHW for batches) and map to
 * 8 bits as {@code round((v + 1) * 127.5)}, clamped; 1 channel gives greyscale, 3 give RGB.
 *
 * <ul>
 *   <li>{@link #writeGrid}: a batch as a near-square grid (ceil(sqrt n) columns) with padding, like
 *       torchvision's {@code make_grid}; optional nearest-neighbour scale-up so 32x32 samples are viewable.</li>
 *   <li>{@link #writeImage}, {@link #writeEach}: single images.</li>
 *   <li>{@link #writeStrip}: rows x columns of images with optional column labels (forward-process figures,
 *       denoising trajectories).</li>
 *   <li>{@link #writeGif}: an animated GIF that loops forever.</li>
 *   <li>{@link #readImage}, {@link #readMask}: init images and inpainting masks.</li>
 * </ul>
 * PNG and GIF files are written atomically (temporary file, fsync, rename), so a viewer never sees half a file.
 */
public final class ImageIo {
    static {
        System.setProperty("java.awt.headless", "true");
        // Cache in memory, not in temporary files: a file-cached stream registers a JVM shutdown hook, which throws
        // "Shutdown in progress" when the loss plot and sample grid are written after Ctrl-C.
        ImageIO.setUseCache(false);
    }

    private ImageIo() {}

    /**
     * Layout of a grid or strip.
     *
     * @param padding    pixels between images and around the border (at the scaled size)
     * @param background RGB of the padding, e.g. {@code 0x808080}
     * @param scale      nearest-neighbour enlargement of every image (1 = none)
     * @param columns    images per row; 0 = {@code ceil(sqrt(n))}
     */
    public record Layout(int padding, int background, int scale, int columns) {
        /** 2 px grey padding, no scaling, automatic columns. */
        public static final Layout DEFAULT = new Layout(2, 0x808080, 1, 0);

        public Layout {
            if (padding < 0 || scale < 1 || columns < 0) {
                throw new IllegalArgumentException("bad layout: padding " + padding + ", scale " + scale + ", columns " + columns);
            }
        }

        public Layout withScale(int s) { return new Layout(padding, background, s, columns); }

        public Layout withColumns(int c) { return new Layout(padding, background, scale, c); }

        public Layout withPadding(int p) { return new Layout(p, background, scale, columns); }

        public Layout withBackground(int rgb) { return new Layout(padding, rgb, scale, columns); }
    }

    // ------------------------------------------------------------------ conversion

    /** 8-bit value of a [-1, 1] float. */
    public static int toByte(float v) {
        int b = Math.round((v + 1f) * 127.5f);
        return b < 0 ? 0 : (b > 255 ? 255 : b);
    }

    private static void checkChannels(int c) {
        if (c != 1 && c != 3) throw new IllegalArgumentException("images must have 1 or 3 channels, got " + c);
    }

    /** The image at {@code chw[off ...]} as a BufferedImage, enlarged {@code scale} times (nearest). */
    public static BufferedImage toImage(float[] chw, int off, int c, int h, int w, int scale) {
        return grid(chw, off, 1, c, h, w, new Layout(0, 0, scale, 1));
    }

    /** A batch as a grid image (see {@link Layout}). */
    public static BufferedImage grid(float[] batch, int n, int c, int h, int w, Layout layout) {
        return grid(batch, 0, n, c, h, w, layout);
    }

    private static BufferedImage grid(float[] batch, int off, int n, int c, int h, int w, Layout l) {
        checkChannels(c);
        if (n <= 0) throw new IllegalArgumentException("no images to draw");
        if (batch.length < off + (long) n * c * h * w) {
            throw new IllegalArgumentException("batch has " + batch.length + " floats, " + n + "x" + c + "x" + h + "x" + w + " needs more");
        }
        int cols = l.columns() > 0 ? Math.min(l.columns(), n) : (int) Math.ceil(Math.sqrt(n));
        int rows = (n + cols - 1) / cols;
        int ch = h * l.scale(), cw = w * l.scale(), p = l.padding();
        int gw = cols * cw + (cols + 1) * p, gh = rows * ch + (rows + 1) * p;
        BufferedImage img = new BufferedImage(gw, gh, c == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
        WritableRaster r = img.getRaster();
        int bg = l.background();
        int[] bgPix = c == 1
                ? new int[] {(int) Math.round(0.299 * ((bg >> 16) & 0xFF) + 0.587 * ((bg >> 8) & 0xFF) + 0.114 * (bg & 0xFF))}
                : new int[] {(bg >> 16) & 0xFF, (bg >> 8) & 0xFF, bg & 0xFF};
        int bands = c == 1 ? 1 : 3;
        int[] row = new int[gw * bands];
        for (int x = 0; x < gw; x++) System.arraycopy(bgPix, 0, row, x * bands, bands);
        for (int y = 0; y < gh; y++) r.setPixels(0, y, gw, 1, row);
        int[] pix = new int[bands];
        int hw = h * w;
        for (int k = 0; k < n; k++) {
            int gx = p + (k % cols) * (cw + p), gy = p + (k / cols) * (ch + p);
            int base = off + k * c * hw;
            for (int y = 0; y < ch; y++) {
                int sy = y / l.scale();
                for (int x = 0; x < cw; x++) {
                    int sx = x / l.scale();
                    for (int b = 0; b < bands; b++) pix[b] = toByte(batch[base + b * hw + sy * w + sx]);
                    r.setPixel(gx + x, gy + y, pix);
                }
            }
        }
        return img;
    }

    /** Writes a batch {@code [n, c, h, w]} as a PNG grid with the default layout and the given scale. */
    public static void writeGrid(Path file, float[] batch, int n, int c, int h, int w, int scale) throws IOException {
        writePng(file, grid(batch, n, c, h, w, Layout.DEFAULT.withScale(scale)));
    }

    /** Writes a batch {@code [n, c, h, w]} as a PNG grid. */
    public static void writeGrid(Path file, float[] batch, int n, int c, int h, int w, Layout layout) throws IOException {
        writePng(file, grid(batch, n, c, h, w, layout));
    }

    /** Writes one CHW image as a PNG. */
    public static void writeImage(Path file, float[] chw, int c, int h, int w, int scale) throws IOException {
        writePng(file, toImage(chw, 0, c, h, w, scale));
    }

    /** Writes each image of a batch to {@code dir/<prefix>-0000.png}, ... and returns the paths. */
    public static List<Path> writeEach(Path dir, String prefix, float[] batch, int n, int c, int h, int w, int scale) throws IOException {
        Files.createDirectories(dir);
        List<Path> out = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            Path f = dir.resolve(String.format("%s-%04d.png", prefix, k));
            writePng(f, toImage(batch, k * c * h * w, c, h, w, scale));
            out.add(f);
        }
        return out;
    }

    /** Writes any image as PNG, atomically. */
    public static void writePng(Path file, BufferedImage img) throws IOException {
        AtomicFiles.writeStream(file, out -> {
            if (!ImageIO.write(img, "png", out)) throw new IOException("no PNG writer available");
        });
    }

    // ------------------------------------------------------------------ strips

    /**
     * Images in {@code rows x cols} cells (image {@code (r, j)} at index {@code r * cols + j} of {@code data},
     * CHW each), with optional labels above the columns (e.g. {@code t=0}, {@code t=250}) and to the left of the
     * rows. Always RGB. The label font shrinks (down to 8 px) to fit a cell.
     */
    public static BufferedImage strip(float[] data, int rows, int cols, int c, int h, int w,
                                      List<String> columnLabels, List<String> rowLabels, Layout layout) {
        checkChannels(c);
        if (columnLabels != null && !columnLabels.isEmpty() && columnLabels.size() != cols) {
            throw new IllegalArgumentException(columnLabels.size() + " column labels for " + cols + " columns");
        }
        if (rowLabels != null && !rowLabels.isEmpty() && rowLabels.size() != rows) {
            throw new IllegalArgumentException(rowLabels.size() + " row labels for " + rows + " rows");
        }
        BufferedImage cells = grid(data, 0, rows * cols, c, h, w, layout.withColumns(cols));
        boolean colText = columnLabels != null && !columnLabels.isEmpty();
        boolean rowText = rowLabels != null && !rowLabels.isEmpty();
        int cw = w * layout.scale(), p = layout.padding();
        float size = Math.max(8f, Math.min(14f, cw / 4f));
        BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D pg = probe.createGraphics();
        Text.setup(pg);
        pg.setFont(Text.font(Font.PLAIN, size));
        if (colText) {
            for (String s : columnLabels) {
                while (size > 8f && Text.width(pg, s) > cw + p) {
                    size -= 1f;
                    pg.setFont(Text.font(Font.PLAIN, size));
                }
            }
        }
        int rowLabelWidth = 0;
        if (rowText) for (String s : rowLabels) rowLabelWidth = Math.max(rowLabelWidth, Text.width(pg, s) + 6);
        int band = colText ? Math.round(size * 1.6f) : 0;
        pg.dispose();
        BufferedImage out = new BufferedImage(cells.getWidth() + rowLabelWidth, cells.getHeight() + band, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        Text.setup(g);
        g.setColor(new Color(layout.background()));
        g.fillRect(0, 0, out.getWidth(), out.getHeight());
        g.drawImage(cells, rowLabelWidth, band, null);
        g.setFont(Text.font(Font.PLAIN, size));
        Color ink = luminance(layout.background()) > 0.5 ? Color.BLACK : Color.WHITE;
        g.setColor(ink);
        if (colText) {
            for (int j = 0; j < cols; j++) {
                String s = columnLabels.get(j);
                float cx = rowLabelWidth + p + j * (cw + p) + cw / 2f;
                Text.draw(g, s, cx - Text.width(g, s) / 2f, band - size * 0.45f);
            }
        }
        if (rowText) {
            int chh = h * layout.scale();
            for (int r = 0; r < rows; r++) {
                float cy = band + p + r * (chh + p) + chh / 2f + Text.ascent(g) / 2f;
                Text.draw(g, rowLabels.get(r), 3, cy);
            }
        }
        g.dispose();
        return out;
    }

    /** Writes {@link #strip} as PNG. */
    public static void writeStrip(Path file, float[] data, int rows, int cols, int c, int h, int w,
                                  List<String> columnLabels, Layout layout) throws IOException {
        writePng(file, strip(data, rows, cols, c, h, w, columnLabels, null, layout));
    }

    private static double luminance(int rgb) {
        return (0.299 * ((rgb >> 16) & 0xFF) + 0.587 * ((rgb >> 8) & 0xFF) + 0.114 * (rgb & 0xFF)) / 255.0;
    }

    // ------------------------------------------------------------------ GIF

    /**
     * Writes an animated GIF that loops forever ({@code NETSCAPE2.0} extension); each frame shows for
     * {@code delayMs} (GIF resolution 10 ms), the last for {@code lastDelayMs} (e.g. longer, to hold the result).
     * Frames are quantised to 256 colours by the JDK's GIF writer.
     */
    public static void writeGif(Path file, List<BufferedImage> frames, int delayMs, int lastDelayMs) throws IOException {
        if (frames.isEmpty()) throw new IllegalArgumentException("a GIF needs at least one frame");
        Iterator<ImageWriter> it = ImageIO.getImageWritersByFormatName("gif");
        if (!it.hasNext()) throw new IOException("no GIF writer available");
        ImageWriter writer = it.next();
        try {
            AtomicFiles.writeStream(file, out -> {
                try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
                    writer.setOutput(ios);
                    ImageWriteParam param = writer.getDefaultWriteParam();
                    writer.prepareWriteSequence(null);
                    for (int i = 0; i < frames.size(); i++) {
                        BufferedImage f = rgb(frames.get(i));
                        int delay = i == frames.size() - 1 ? lastDelayMs : delayMs;
                        IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(f), param);
                        gifFrameMetadata(meta, delay, i == 0);
                        writer.writeToSequence(new IIOImage(f, null, meta), param);
                    }
                    writer.endWriteSequence();
                }
            });
        } finally {
            writer.dispose();
        }
    }

    /** Frames given as batches: each {@code float[n*c*h*w]} becomes one grid frame. */
    public static void writeGifGrids(Path file, List<float[]> batches, int n, int c, int h, int w, Layout layout,
                                     int delayMs, int lastDelayMs) throws IOException {
        List<BufferedImage> frames = new ArrayList<>();
        for (float[] b : batches) frames.add(grid(b, n, c, h, w, layout));
        writeGif(file, frames, delayMs, lastDelayMs);
    }

    private static BufferedImage rgb(BufferedImage img) {
        if (img.getType() == BufferedImage.TYPE_INT_RGB) return img;
        BufferedImage out = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
        if (img.getType() == BufferedImage.TYPE_BYTE_GRAY) { // copy grey levels as stored (no gamma conversion)
            int[] v = img.getRaster().getPixels(0, 0, img.getWidth(), img.getHeight(), (int[]) null);
            int[] rgb = new int[v.length];
            for (int i = 0; i < v.length; i++) rgb[i] = (v[i] << 16) | (v[i] << 8) | v[i];
            out.setRGB(0, 0, img.getWidth(), img.getHeight(), rgb, 0, img.getWidth());
            return out;
        }
        Graphics2D g = out.createGraphics();
        g.drawImage(img, 0, 0, null);
        g.dispose();
        return out;
    }

    private static void gifFrameMetadata(IIOMetadata meta, int delayMs, boolean first) throws IOException {
        String format = meta.getNativeMetadataFormatName(); // javax_imageio_gif_image_1.0
        IIOMetadataNode root = (IIOMetadataNode) meta.getAsTree(format);
        IIOMetadataNode gce = child(root, "GraphicControlExtension");
        gce.setAttribute("disposalMethod", "none");
        gce.setAttribute("userInputFlag", "FALSE");
        gce.setAttribute("transparentColorFlag", "FALSE");
        gce.setAttribute("delayTime", Integer.toString(Math.max(0, Math.round(delayMs / 10f))));
        gce.setAttribute("transparentColorIndex", "0");
        if (first) {
            IIOMetadataNode apps = child(root, "ApplicationExtensions");
            IIOMetadataNode app = new IIOMetadataNode("ApplicationExtension");
            app.setAttribute("applicationID", "NETSCAPE");
            app.setAttribute("authenticationCode", "2.0");
            app.setUserObject(new byte[] {1, 0, 0}); // sub-block 1: loop count 0 = forever
            apps.appendChild(app);
        }
        meta.setFromTree(format, root);
    }

    private static IIOMetadataNode child(IIOMetadataNode root, String name) {
        for (int i = 0; i < root.getLength(); i++) {
            if (root.item(i).getNodeName().equalsIgnoreCase(name)) return (IIOMetadataNode) root.item(i);
        }
        IIOMetadataNode n = new IIOMetadataNode(name);
        root.appendChild(n);
        return n;
    }

    // ------------------------------------------------------------------ reading

    /**
     * Reads a PNG/JPEG/BMP/GIF as a {@code channels x size x size} image in [-1, 1]: shorter side scaled to
     * {@code size}, centre cropped (see {@code data.Images} for greyscale and alpha handling).
     *
     * @throws io.github.diffusion4j.data.DatasetException naming the file if it is missing or not an image
     */
    public static float[] readImage(Path file, int size, int channels) {
        return Images.load(file, size, channels);
    }

    /**
     * Reads an inpainting mask as {@code size x size} values in {0, 1} (the {@code [1, 1, H, W]} tensor's data),
     * following the diffusers convention: <b>white (1) marks the region to generate</b>, black (0) the region
     * kept from the init image. The file is resized and centre-cropped like {@link #readImage}, converted to grey
     * (transparent = white) and thresholded at mid-grey.
     */
    public static float[] readMask(Path file, int size) {
        float[] grey = Images.load(file, size, 1);
        for (int i = 0; i < grey.length; i++) grey[i] = grey[i] >= 0f ? 1f : 0f;
        return grey;
    }
}
