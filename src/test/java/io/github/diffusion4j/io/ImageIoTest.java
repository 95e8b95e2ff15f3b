package io.github.diffusion4j.io;

import io.github.diffusion4j.data.DatasetException;
import io.github.diffusion4j.data.ShapesDataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Node;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ImageIoTest {
    static { System.setProperty("java.awt.headless", "true"); }

    @TempDir Path dir;

    @Test void rgbGridLayoutAndPixelValues() throws IOException {
        // 5 images of 3x2x3 (h=2, w=3): image k has red = -1 + k*0.5, green = pixel index ramp, blue = -1
        int n = 5, c = 3, h = 2, w = 3;
        float[] b = new float[n * c * h * w];
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < h * w; i++) {
                b[k * 18 + i] = -1 + k * 0.5f;
                b[k * 18 + 6 + i] = -1 + i * 0.4f;
                b[k * 18 + 12 + i] = -1;
            }
        }
        Path f = dir.resolve("grid.png");
        ImageIo.writeGrid(f, b, n, c, h, w, ImageIo.Layout.DEFAULT.withScale(2));
        BufferedImage img = ImageIO.read(f.toFile());
        // 3 columns, 2 rows; cells 6x4 at scale 2; padding 2
        assertEquals(3 * 6 + 4 * 2, img.getWidth());
        assertEquals(2 * 4 + 3 * 2, img.getHeight());
        assertEquals(0x808080, img.getRGB(0, 0) & 0xFFFFFF, "padding colour");
        for (int k = 0; k < n; k++) {
            int gx = 2 + (k % 3) * 8, gy = 2 + (k / 3) * 6;
            for (int y = 0; y < 4; y++) for (int x = 0; x < 6; x++) {
                int i = (y / 2) * 3 + x / 2;
                int rgb = img.getRGB(gx + x, gy + y);
                assertEquals(ImageIo.toByte(-1 + k * 0.5f), (rgb >> 16) & 0xFF);
                assertEquals(ImageIo.toByte(-1 + i * 0.4f), (rgb >> 8) & 0xFF);
                assertEquals(0, rgb & 0xFF);
            }
        }
        // the empty sixth cell is background
        assertEquals(0x808080, img.getRGB(2 + 2 * 8 + 1, 2 + 6 + 1) & 0xFFFFFF);
        assertEquals(0, ImageIo.toByte(-1.5f));
        assertEquals(255, ImageIo.toByte(1f));
        assertEquals(128, ImageIo.toByte(0f));
    }

    @Test void greyscaleGridKeepsLevels() throws IOException {
        float[] b = {-1, 0, 1, 0.5f};
        Path f = dir.resolve("g.png");
        ImageIo.writeGrid(f, b, 4, 1, 1, 1, new ImageIo.Layout(1, 0x000000, 1, 0));
        BufferedImage img = ImageIO.read(f.toFile());
        assertEquals(5, img.getWidth());
        assertEquals(5, img.getHeight());
        assertEquals(1, img.getRaster().getNumBands());
        assertEquals(0, img.getRaster().getSample(1, 1, 0));
        assertEquals(128, img.getRaster().getSample(3, 1, 0));
        assertEquals(255, img.getRaster().getSample(1, 3, 0));
        assertEquals(191, img.getRaster().getSample(3, 3, 0));
        // round trip through readImage
        float[] back = ImageIo.readImage(f, 5, 1);
        assertEquals(-1f, back[6], 1e-6f);
        assertEquals(1f, back[16], 1e-6f);
    }

    @Test void writeEachAndReadBack() throws IOException {
        ShapesDataset ds = new ShapesDataset(3, 16, 2);
        float[] batch = new float[3 * ds.imageFloats()];
        for (int i = 0; i < 3; i++) ds.image(i, batch, i * ds.imageFloats());
        List<Path> files = ImageIo.writeEach(dir.resolve("out"), "sample", batch, 3, 3, 16, 16, 1);
        assertEquals(dir.resolve("out/sample-0002.png"), files.get(2));
        float[] back = ImageIo.readImage(files.get(1), 16, 3);
        for (int j = 0; j < back.length; j++) assertEquals(batch[ds.imageFloats() + j], back[j], 1 / 127.5f + 1e-6f);
        DatasetException e = assertThrows(DatasetException.class, () -> ImageIo.readImage(dir.resolve("none.png"), 16, 3));
        assertTrue(e.getMessage().contains("none.png"));
    }

    @Test void maskIsWhiteToGenerate() throws IOException {
        BufferedImage m = new BufferedImage(8, 4, BufferedImage.TYPE_INT_RGB); // black, right half white
        for (int y = 0; y < 4; y++) for (int x = 4; x < 8; x++) m.setRGB(x, y, 0xFFFFFF);
        Path f = dir.resolve("mask.png");
        ImageIO.write(m, "png", f.toFile());
        float[] mask = ImageIo.readMask(f, 4); // 8x4 -> centre crop 4x4 of 8x4 scaled: columns 2..5
        assertEquals(16, mask.length);
        for (int y = 0; y < 4; y++) {
            assertArrayEquals(new float[] {0, 0, 1, 1}, java.util.Arrays.copyOfRange(mask, y * 4, y * 4 + 4));
        }
    }

    @Test void stripWithColumnLabels() throws IOException {
        int rows = 2, cols = 4, s = 8;
        float[] data = new float[rows * cols * 3 * s * s];
        for (int k = 0; k < rows * cols; k++) java.util.Arrays.fill(data, k * 3 * s * s, (k + 1) * 3 * s * s, -1 + k * 0.25f);
        Path f = dir.resolve("strip.png");
        ImageIo.writeStrip(f, data, rows, cols, 3, s, s, List.of("t=0", "t=10", "t=100", "t=1000"), ImageIo.Layout.DEFAULT.withScale(4).withBackground(0xFFFFFF));
        BufferedImage img = ImageIO.read(f.toFile());
        int cells = cols * 32 + 5 * 2;
        assertEquals(cells, img.getWidth());
        int band = img.getHeight() - (rows * 32 + 3 * 2);
        assertTrue(band > 8, "label band above the images");
        // some dark label pixels in the band, the band is otherwise white
        int dark = 0;
        for (int y = 0; y < band; y++) for (int x = 0; x < img.getWidth(); x++) if ((img.getRGB(x, y) & 0xFF) < 128) dark++;
        assertTrue(dark > 10, "labels drawn");
        // cell (1, 2) holds image 6
        int v = ImageIo.toByte(-1 + 6 * 0.25f);
        assertEquals(v, img.getRGB(2 + 2 * 34 + 10, band + 2 + 34 + 10) & 0xFF);
    }

    @Test void gifHasAllFramesLoopsAndDelays() throws IOException {
        List<float[]> frames = new ArrayList<>();
        for (int t = 0; t < 6; t++) {
            float[] b = new float[4 * 3 * 8 * 8];
            java.util.Arrays.fill(b, -1 + t * 0.3f);
            frames.add(b);
        }
        Path f = dir.resolve("traj.gif");
        ImageIo.writeGifGrids(f, frames, 4, 3, 8, 8, ImageIo.Layout.DEFAULT.withScale(2), 80, 1000);
        ImageReader reader = ImageIO.getImageReadersByFormatName("gif").next();
        try (ImageInputStream in = ImageIO.createImageInputStream(f.toFile())) {
            reader.setInput(in);
            assertEquals(6, reader.getNumImages(true));
            BufferedImage first = reader.read(0);
            assertEquals(2 * 16 + 3 * 2, first.getWidth());
            IIOMetadata m0 = reader.getImageMetadata(0);
            Node root = m0.getAsTree("javax_imageio_gif_image_1.0");
            assertEquals("8", attr(root, "GraphicControlExtension", "delayTime"));
            assertEquals("NETSCAPE", attr(root, "ApplicationExtension", "applicationID"));
            Node last = reader.getImageMetadata(5).getAsTree("javax_imageio_gif_image_1.0");
            assertEquals("100", attr(last, "GraphicControlExtension", "delayTime"));
            // frame 3's pixels are the value drawn
            int expect = ImageIo.toByte(-1 + 3 * 0.3f);
            int px = reader.read(3).getRGB(4, 4) & 0xFF;
            assertEquals(expect, px, 4);
        } finally {
            reader.dispose();
        }
    }

    static String attr(Node root, String element, String attribute) {
        for (Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n.getNodeName().equals(element)) return n.getAttributes().getNamedItem(attribute).getNodeValue();
            String inner = n.hasChildNodes() ? attr(n, element, attribute) : null;
            if (inner != null) return inner;
        }
        return null;
    }

    @Test void shapesGridForVisualInspection() throws IOException {
        ShapesDataset ds = new ShapesDataset(64, 32, 0);
        float[] b = new float[64 * ds.imageFloats()];
        for (int i = 0; i < 64; i++) ds.image(i, b, i * ds.imageFloats());
        Path f = Path.of(System.getProperty("java.io.tmpdir"), "diffusion4j-shapes-grid.png");
        ImageIo.writeGrid(f, b, 64, 3, 32, 32, 2);
        BufferedImage img = ImageIO.read(f.toFile());
        assertEquals(8 * 64 + 9 * 2, img.getWidth());
        assertTrue(Files.size(f) > 1000);
    }
}
