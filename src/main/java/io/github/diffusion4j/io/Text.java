package io.github.diffusion4j.io;

import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;

/**
 * Text drawing that degrades instead of failing: a headless JRE without any font (e.g. a slim container without
 * fontconfig fonts) throws from font loading; then figures are drawn without their text.
 */
final class Text {
    private static volatile boolean broken;

    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Text() {}

    static void setup(Graphics2D g) {
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
    }

    static Font font(int style, float size) {
        return new Font(Font.SANS_SERIF, style, 1).deriveFont(size);
    }

    /** Width of {@code s} in the current font (an estimate if fonts are unavailable). */
    static int width(Graphics2D g, String s) {
        if (!broken) {
            try {
                return g.getFontMetrics().stringWidth(s);
            } catch (Throwable t) {
                broken = true;
            }
        }
        return Math.round(s.length() * g.getFont().getSize2D() * 0.6f);
    }

    /** Ascent of the current font (an estimate if fonts are unavailable). */
    static int ascent(Graphics2D g) {
        if (!broken) {
            try {
                FontMetrics fm = g.getFontMetrics();
                return fm.getAscent();
            } catch (Throwable t) {
                broken = true;
            }
        }
        return Math.round(g.getFont().getSize2D() * 0.8f);
    }

    /** Draws {@code s} with its baseline at {@code (x, y)}; silently skipped if fonts are unavailable. */
    static void draw(Graphics2D g, String s, float x, float y) {
        if (broken) return;
        try {
            g.drawString(s, x, y);
        } catch (Throwable t) {
            broken = true;
        }
    }
}
