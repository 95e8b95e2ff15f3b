package io.github.diffusion4j.cli;

import io.github.diffusion4j.diffusion.NoiseSchedule;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Draws alpha-bar(t) and log SNR(t) of a schedule side by side into a PNG (java.awt, headless). */
final class SchedulePlot {
    static final int WIDTH = 1000, HEIGHT = 440;
    private static final int MARGIN_L = 70, MARGIN_R = 20, MARGIN_T = 50, MARGIN_B = 55, GAP = 70;

    private SchedulePlot() {}

    static void write(Path file, NoiseSchedule s, String title) throws IOException {
        System.setProperty("java.awt.headless", "true");
        BufferedImage img = render(s, title);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        if (!ImageIO.write(img, "png", tmp.toFile())) throw new IOException("no PNG writer available");
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    static BufferedImage render(NoiseSchedule s, String title) {
        System.setProperty("java.awt.headless", "true");
        int t = s.numTimesteps();
        float[] ab = s.alphasCumprod(), snr = s.snr();
        double[] logSnr = new double[t];
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < t; i++) {
            logSnr[i] = Math.log(snr[i]);
            if (Double.isFinite(logSnr[i])) {
                lo = Math.min(lo, logSnr[i]);
                hi = Math.max(hi, logSnr[i]);
            }
        }
        double[] abd = new double[t];
        for (int i = 0; i < t; i++) abd[i] = ab[i];

        BufferedImage img = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, HEIGHT);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
            centered(g, "noise schedule: " + title, WIDTH / 2, 22);
            int panelW = (WIDTH - MARGIN_L * 2 - MARGIN_R - GAP) / 2 + MARGIN_L / 2;
            int x0 = MARGIN_L, x1 = MARGIN_L + panelW;
            int x2 = x1 + GAP + MARGIN_L / 2, x3 = WIDTH - MARGIN_R;
            panel(g, x0, x1, abd, 0, 1, t, "alpha_bar(t)", new Color(0x1f77b4));
            double pad = 0.05 * Math.max(1e-9, hi - lo);
            panel(g, x2, x3, logSnr, lo - pad, hi + pad, t, "log SNR(t)", new Color(0xd62728));
        } finally {
            g.dispose();
        }
        return img;
    }

    /** One panel: axes, ticks, labels and the curve (non-finite values are skipped). */
    private static void panel(Graphics2D g, int left, int right, double[] y, double yLo, double yHi, int t, String label,
                              Color color) {
        int top = MARGIN_T, bottom = HEIGHT - MARGIN_B;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        FontMetrics fm = g.getFontMetrics();
        double[] yTicks = niceTicks(yLo, yHi), xTicks = niceTicks(0, t);
        g.setStroke(new BasicStroke(1f));
        for (double yv : yTicks) {
            int py = (int) Math.round(bottom - (bottom - top) * (yv - yLo) / (yHi - yLo));
            g.setColor(new Color(0xe8e8e8));
            g.drawLine(left, py, right, py);
            g.setColor(Color.BLACK);
            g.drawLine(left - 4, py, left, py);
            String ys = format(yv, yTicks);
            g.drawString(ys, left - 7 - fm.stringWidth(ys), py + fm.getAscent() / 2 - 1);
        }
        for (double xv : xTicks) {
            int px = (int) Math.round(left + (right - left) * xv / t);
            g.setColor(new Color(0xe8e8e8));
            g.drawLine(px, top, px, bottom);
            g.setColor(Color.BLACK);
            g.drawLine(px, bottom, px, bottom + 4);
            centered(g, format(xv, xTicks), px, bottom + 6 + fm.getAscent());
        }
        g.drawRect(left, top, right - left, bottom - top);
        centered(g, "timestep t", (left + right) / 2, HEIGHT - 14);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        centered(g, label, (left + right) / 2, top - 8);
        g.setColor(color);
        g.setStroke(new BasicStroke(2f));
        Path2D.Double path = new Path2D.Double();
        boolean open = false;
        for (int i = 0; i < y.length; i++) {
            if (!Double.isFinite(y[i])) {
                open = false;
                continue;
            }
            double px = left + (right - left) * (double) i / t;
            double py = bottom - (bottom - top) * (y[i] - yLo) / (yHi - yLo);
            if (open) path.lineTo(px, py);
            else path.moveTo(px, py);
            open = true;
        }
        g.draw(path);
    }

    /** Tick values at a "nice" step (1, 2 or 5 times a power of ten) covering [lo, hi]. */
    static double[] niceTicks(double lo, double hi) {
        double raw = (hi - lo) / 5, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
        double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
        int first = (int) Math.ceil(lo / step - 1e-9), last = (int) Math.floor(hi / step + 1e-9);
        double[] ticks = new double[Math.max(0, last - first + 1)];
        for (int k = 0; k < ticks.length; k++) ticks[k] = (first + k) * step;
        return ticks;
    }

    private static String format(double v, double[] ticks) {
        double step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
        int decimals = step >= 1 ? 0 : (int) Math.ceil(-Math.log10(step) - 1e-9);
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    private static void centered(Graphics2D g, String s, int x, int baseline) {
        g.drawString(s, x - g.getFontMetrics().stringWidth(s) / 2, baseline);
    }
}
