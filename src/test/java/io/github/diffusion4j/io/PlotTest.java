package io.github.diffusion4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class PlotTest {
    @TempDir Path dir;

    static double[] loss(int n) {
        double[] y = new double[n];
        for (int i = 0; i < n; i++) y[i] = 0.03 + 0.9 * Math.exp(-i / 300.0) + 0.02 * Math.sin(i * 0.7);
        return y;
    }

    @Test void writesAPngOfTheRequestedSizeWithSeriesColours() throws IOException {
        double[] x = new double[2000];
        for (int i = 0; i < x.length; i++) x[i] = i * 10;
        Path f = dir.resolve("loss.png");
        double[] y = loss(2000);
        double[] ema = new double[y.length];
        double e = y[0];
        for (int i = 0; i < y.length; i++) ema[i] = e = 0.98 * e + 0.02 * y[i];
        Plot.lines(f, "training loss", "step", "loss", List.of(new Plot.Series("loss", x, y), new Plot.Series("EMA", x, ema)), true, 640, 400);
        BufferedImage img = ImageIO.read(f.toFile());
        assertEquals(640, img.getWidth());
        assertEquals(400, img.getHeight());
        assertEquals(0xFFFFFF, img.getRGB(2, 2) & 0xFFFFFF, "white background");
        int blue = 0, orange = 0;
        for (int yy = 0; yy < 400; yy++) for (int xx = 0; xx < 640; xx++) {
            int p = img.getRGB(xx, yy) & 0xFFFFFF;
            if (p == Plot.COLOURS[0]) blue++;
            if (p == Plot.COLOURS[1]) orange++;
        }
        assertTrue(blue > 200 && orange > 200, "both series drawn: " + blue + ", " + orange);
        Plot.lines(dir.resolve("copy.png"), "loss", "step", "loss", List.of(new Plot.Series("loss", x, y)), true);
        Path copy = dir.resolve("copy.png");
        assertEquals(Plot.DEFAULT_WIDTH, ImageIO.read(copy.toFile()).getWidth());
        // for visual inspection
        Plot.lines(Path.of(System.getProperty("java.io.tmpdir"), "diffusion4j-plot.png"), "training loss", "step", "loss",
                List.of(new Plot.Series("loss", x, y), new Plot.Series("EMA", x, ema)), true);
    }

    @Test void linearAxisEdgeCases() throws IOException {
        Path f = dir.resolve("edge.png");
        // constant series, NaNs, a single point, empty series
        Plot.lines(f, "", "", "", List.of(Plot.Series.of("flat", new double[] {2, 2, Double.NaN, 2}),
                new Plot.Series("one", new double[] {1}, new double[] {3}), Plot.Series.of("none", new double[0])), false, 300, 200);
        assertEquals(300, ImageIO.read(f.toFile()).getWidth());
        Plot.lines(f, "empty", "x", "y", List.of(), true, 300, 200);
        assertEquals(200, ImageIO.read(f.toFile()).getHeight());
        assertThrows(IllegalArgumentException.class, () -> new Plot.Series("bad", new double[2], new double[3]));
    }

    @Test void niceTicks() {
        Plot.Axis a = Plot.Axis.linear(0.13, 0.87);
        assertEquals(0.1, a.lo, 1e-12);
        assertEquals(0.9, a.hi, 1e-12);
        assertEquals("0.3", a.label(a.ticks.get(2)));
        Plot.Axis big = Plot.Axis.linear(0, 100000);
        assertEquals("20k", big.label(20000));
        assertEquals("5k", Plot.Axis.linear(0, 20000).label(5000));
        assertEquals("500", Plot.Axis.linear(0, 2000).label(500));
        Plot.Axis log = Plot.Axis.log(Math.log10(0.004), Math.log10(0.9));
        assertEquals(-3, log.lo);
        assertEquals(0, log.hi);
        assertEquals("0.001", log.label(-3));
        assertEquals("1", log.label(0));
        Plot.Axis wide = Plot.Axis.log(-7, 2);
        assertEquals("1e-7", wide.label(-7));
        assertEquals("0.01", wide.label(-2));
    }
}
