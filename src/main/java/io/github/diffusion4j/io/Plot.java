package io.github.diffusion4j.io;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.geom.AffineTransform;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Line plots as PNG: title, axes with "nice" ticks (1, 2, 5 x 10^k) and grid lines, axis labels, optional
 * logarithmic y axis, several series with a legend. Used for the training loss curve and noise-schedule plots.
 * Non-finite points (and non-positive ones on a log axis) are skipped, breaking the line there.
 *
 * <pre>{@code
 * Plot.lines(dir.resolve("loss.png"), "training loss", "step", "loss",
 *            List.of(new Plot.Series("loss", steps, losses), new Plot.Series("EMA", steps, smooth)), true);
 * }</pre>
 */
public final class Plot {
    public static final int DEFAULT_WIDTH = 800, DEFAULT_HEIGHT = 500;
    /** Matplotlib's tab10 colours, cycled over the series. */
    static final int[] COLOURS = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

    private Plot() {}

    /** One line: {@code y[i]} against {@code x[i]}. */
    public record Series(String name, double[] x, double[] y) {
        public Series {
            if (x.length != y.length) throw new IllegalArgumentException("series " + name + ": " + x.length + " x values but " + y.length + " y values");
        }

        /** {@code y} against 0, 1, 2, ... */
        public static Series of(String name, double[] y) {
            double[] x = new double[y.length];
            for (int i = 0; i < x.length; i++) x[i] = i;
            return new Series(name, x, y);
        }
    }

    /** Writes an {@value #DEFAULT_WIDTH}x{@value #DEFAULT_HEIGHT} line plot. */
    public static void lines(Path file, String title, String xLabel, String yLabel, List<Series> series, boolean logY) throws IOException {
        lines(file, title, xLabel, yLabel, series, logY, DEFAULT_WIDTH, DEFAULT_HEIGHT);
    }

    /** Writes a line plot of the given size in pixels. */
    public static void lines(Path file, String title, String xLabel, String yLabel, List<Series> series, boolean logY,
                             int width, int height) throws IOException {
        ImageIo.writePng(file, render(title, xLabel, yLabel, series, logY, width, height));
    }

    /** Draws the plot (see {@link #lines}). */
    public static BufferedImage render(String title, String xLabel, String yLabel, List<Series> series, boolean logY,
                                       int width, int height) {
        if (width < 160 || height < 120) throw new IllegalArgumentException("plot size " + width + "x" + height + " is too small");
        // data ranges
        double xmin = Double.POSITIVE_INFINITY, xmax = Double.NEGATIVE_INFINITY;
        double ymin = Double.POSITIVE_INFINITY, ymax = Double.NEGATIVE_INFINITY;
        for (Series s : series) {
            for (int i = 0; i < s.x().length; i++) {
                if (!usable(s.x()[i], s.y()[i], logY)) continue;
                xmin = Math.min(xmin, s.x()[i]);
                xmax = Math.max(xmax, s.x()[i]);
                double y = logY ? Math.log10(s.y()[i]) : s.y()[i];
                ymin = Math.min(ymin, y);
                ymax = Math.max(ymax, y);
            }
        }
        boolean empty = xmin > xmax;
        if (empty) {
            xmin = 0;
            xmax = 1;
            ymin = 0;
            ymax = 1;
        }
        Axis ax = Axis.linear(xmin, xmax);
        Axis ay = logY ? Axis.log(ymin, ymax) : Axis.linear(ymin, ymax);

        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        Text.setup(g);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        float base = Math.max(10f, Math.min(14f, height / 40f));
        Font tickFont = Text.font(Font.PLAIN, base - 1), labelFont = Text.font(Font.PLAIN, base), titleFont = Text.font(Font.BOLD, base + 3);

        g.setFont(tickFont);
        int tickW = 0;
        for (double t : ay.ticks) tickW = Math.max(tickW, Text.width(g, ay.label(t)));
        int left = tickW + (yLabel == null || yLabel.isEmpty() ? 14 : Math.round(base * 2.4f) + 8);
        int right = 24;
        int top = title == null || title.isEmpty() ? 16 : Math.round(base * 3f);
        int bottom = Math.round(base * (xLabel == null || xLabel.isEmpty() ? 2.4f : 4f));
        int pw = width - left - right, ph = height - top - bottom;

        // grid and ticks
        g.setStroke(new BasicStroke(1f));
        for (double t : ax.ticks) {
            float px = left + (float) ((t - ax.lo) / (ax.hi - ax.lo) * pw);
            g.setColor(new Color(0xE6E6E6));
            g.drawLine(Math.round(px), top, Math.round(px), top + ph);
            g.setColor(new Color(0x444444));
            g.drawLine(Math.round(px), top + ph, Math.round(px), top + ph + 4);
            String s = ax.label(t);
            Text.draw(g, s, px - Text.width(g, s) / 2f, top + ph + 6 + Text.ascent(g));
        }
        for (double t : ay.ticks) {
            float py = top + ph - (float) ((t - ay.lo) / (ay.hi - ay.lo) * ph);
            g.setColor(new Color(0xE6E6E6));
            g.drawLine(left, Math.round(py), left + pw, Math.round(py));
            g.setColor(new Color(0x444444));
            g.drawLine(left - 4, Math.round(py), left, Math.round(py));
            String s = ay.label(t);
            Text.draw(g, s, left - 7 - Text.width(g, s), py + Text.ascent(g) / 2f - 1);
        }
        for (double t : ay.minor) {
            float py = top + ph - (float) ((t - ay.lo) / (ay.hi - ay.lo) * ph);
            g.setColor(new Color(0xF3F3F3));
            g.drawLine(left, Math.round(py), left + pw, Math.round(py));
        }
        g.setColor(new Color(0x444444));
        g.drawRect(left, top, pw, ph);

        // series
        g.setClip(left, top, pw + 1, ph + 1);
        g.setStroke(new BasicStroke(1.6f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        for (int k = 0; k < series.size(); k++) {
            Series s = series.get(k);
            Path2D.Double path = new Path2D.Double();
            boolean pen = false;
            int points = 0;
            for (int i = 0; i < s.x().length; i++) {
                if (!usable(s.x()[i], s.y()[i], logY)) {
                    pen = false;
                    continue;
                }
                double y = logY ? Math.log10(s.y()[i]) : s.y()[i];
                double px = left + (s.x()[i] - ax.lo) / (ax.hi - ax.lo) * pw;
                double py = top + ph - (y - ay.lo) / (ay.hi - ay.lo) * ph;
                if (pen) path.lineTo(px, py);
                else path.moveTo(px, py);
                pen = true;
                points++;
            }
            g.setColor(new Color(COLOURS[k % COLOURS.length]));
            g.draw(path);
            if (points == 1) { // a single point would be invisible as a path
                double[] c = new double[2];
                path.getPathIterator(null).currentSegment(c);
                g.fillOval((int) Math.round(c[0]) - 2, (int) Math.round(c[1]) - 2, 5, 5);
            }
        }
        g.setClip(null);

        // labels
        g.setColor(Color.BLACK);
        if (title != null && !title.isEmpty()) {
            g.setFont(titleFont);
            Text.draw(g, title, left + pw / 2f - Text.width(g, title) / 2f, top - base * 1.1f);
        }
        g.setFont(labelFont);
        if (xLabel != null && !xLabel.isEmpty()) {
            Text.draw(g, xLabel, left + pw / 2f - Text.width(g, xLabel) / 2f, height - base * 0.8f);
        }
        if (yLabel != null && !yLabel.isEmpty()) {
            AffineTransform saved = g.getTransform();
            g.rotate(-Math.PI / 2);
            Text.draw(g, yLabel, -(top + ph / 2f + Text.width(g, yLabel) / 2f), base * 1.4f);
            g.setTransform(saved);
        }
        if (empty) {
            String s = "no data";
            Text.draw(g, s, left + pw / 2f - Text.width(g, s) / 2f, top + ph / 2f);
        }

        // legend (top right inside the plot), when any series has a name
        List<Integer> named = new ArrayList<>();
        for (int k = 0; k < series.size(); k++) if (series.get(k).name() != null && !series.get(k).name().isEmpty()) named.add(k);
        if (!named.isEmpty()) {
            g.setFont(tickFont);
            int lineH = Math.round(base * 1.5f), textW = 0;
            for (int k : named) textW = Math.max(textW, Text.width(g, series.get(k).name()));
            int bw = textW + 44, bh = named.size() * lineH + 8;
            int bx = left + pw - bw - 8, by = top + 8;
            g.setColor(new Color(255, 255, 255, 220));
            g.fillRect(bx, by, bw, bh);
            g.setColor(new Color(0xBBBBBB));
            g.drawRect(bx, by, bw, bh);
            for (int i = 0; i < named.size(); i++) {
                int k = named.get(i);
                int cy = by + 4 + i * lineH + lineH / 2;
                g.setColor(new Color(COLOURS[k % COLOURS.length]));
                g.setStroke(new BasicStroke(2.2f));
                g.drawLine(bx + 8, cy, bx + 30, cy);
                g.setColor(Color.BLACK);
                Text.draw(g, series.get(k).name(), bx + 36, cy + Text.ascent(g) / 2f - 1);
            }
        }
        g.dispose();
        return img;
    }

    private static boolean usable(double x, double y, boolean logY) {
        return Double.isFinite(x) && Double.isFinite(y) && (!logY || y > 0);
    }

    /** An axis range [lo, hi] with labelled ticks (values in axis units: log10 for a log axis). */
    static final class Axis {
        final double lo, hi;
        final List<Double> ticks = new ArrayList<>();
        final List<Double> minor = new ArrayList<>();
        final boolean log;
        final double step;

        private Axis(double lo, double hi, boolean log, double step) {
            this.lo = lo;
            this.hi = hi;
            this.log = log;
            this.step = step;
        }

        static Axis linear(double min, double max) {
            if (max - min < 1e-12 * Math.max(1, Math.abs(max))) {
                double pad = min == 0 ? 1 : Math.abs(min) * 0.1;
                min -= pad;
                max += pad;
            }
            double step = nice((max - min) / 5, true);
            double lo = Math.floor(min / step) * step, hi = Math.ceil(max / step) * step;
            Axis a = new Axis(lo, hi, false, step);
            for (int i = 0; lo + i * step <= hi + step * 1e-9; i++) a.ticks.add(lo + i * step);
            return a;
        }

        /** {@code min, max} are log10 values. */
        static Axis log(double min, double max) {
            double lo = Math.floor(min) + 0.0, hi = Math.ceil(max) + 0.0; // + 0.0 turns -0.0 into 0.0
            if (hi <= lo) hi = lo + 1;
            int decades = (int) (hi - lo);
            int every = Math.max(1, (int) Math.ceil(decades / 8.0));
            Axis a = new Axis(lo, hi, true, 1);
            for (double e = lo; e <= hi + 1e-9; e += every) a.ticks.add(e);
            for (double e = lo; e < hi; e += 1) {
                for (int m = 2; m <= 9; m++) {
                    double v = e + Math.log10(m);
                    if (decades <= 2 && (m == 2 || m == 5)) a.ticks.add(v);
                    else a.minor.add(v);
                }
            }
            a.ticks.sort(Double::compare);
            return a;
        }

        /** 1, 2, 5 or 10 times a power of ten, near {@code x} (rounded or at least x). */
        static double nice(double x, boolean round) {
            double exp = Math.floor(Math.log10(x));
            double f = x / Math.pow(10, exp);
            double nf;
            if (round) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
            else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
            return nf * Math.pow(10, exp);
        }

        String label(double t) {
            if (log) {
                double v = Math.pow(10, t);
                double e = Math.rint(t);
                if (Math.abs(t - e) < 1e-9 && (e <= -4 || e >= 5)) return "1e" + (long) e;
                return format(v, Math.pow(10, Math.floor(t)), 0);
            }
            return format(t, step, Math.max(Math.abs(lo), Math.abs(hi)));
        }

        /**
         * Formats {@code v} with as many decimals as a tick step of {@code step} needs; on an axis reaching
         * {@code magnitude} of 10 000 (a million) or more, every tick uses the k (M) suffix.
         */
        static String format(double v, double step, double magnitude) {
            if (Math.abs(v) < step * 1e-9) return "0";
            double a = Math.abs(v);
            if (magnitude >= 1e6 && step >= 1e5) return trim(String.format(Locale.ROOT, "%.3f", v / 1e6)) + "M";
            if (magnitude >= 1e4 && step >= 1e3) return trim(String.format(Locale.ROOT, "%.3f", v / 1e3)) + "k";
            if (step >= 1) return String.format(Locale.ROOT, "%d", Math.round(v));
            if (a < 1e-4) return String.format(Locale.ROOT, "%.1e", v);
            int decimals = (int) Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
            return trim(String.format(Locale.ROOT, "%." + decimals + "f", v));
        }

        private static String trim(String s) {
            if (!s.contains(".")) return s;
            s = s.replaceAll("0+$", "");
            return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
        }
    }
}
