package io.github.diffusion4j.data;

import io.github.diffusion4j.tensor.Philox;

import java.util.List;

/**
 * The embedded default dataset: RGB images of one filled, anti-aliased shape on a white background, generated on
 * the fly (nothing is stored) and deterministic in (seed, index).
 *
 * <ul>
 *   <li><b>Kind</b> (the label): 0 circle, 1 square (axis aligned), 2 triangle (isosceles, apex up, base width
 *       equal to its height).</li>
 *   <li><b>Colour</b>: one of {@link #PALETTE} (red, green, blue, yellow).</li>
 *   <li><b>Size</b>: the bounding box is a square of side 35-70 % of the image side; <b>position</b> uniform
 *       such that the shape lies fully inside the image. Both continuous (sub-pixel).</li>
 *   <li>Anti-aliasing by 4x4 supersampling: a pixel is {@code cov * colour + (1 - cov) * background} with
 *       {@code cov} the covered fraction of its 16 sample points.</li>
 * </ul>
 * Image {@code i} draws its five parameters from {@link Philox#uniform} at indices {@code 8i .. 8i+4} under the
 * seed, so any image can be computed without the others. {@link ShapeValidity} checks images against exactly
 * these rules.
 */
public final class ShapesDataset implements Dataset {
    /** Kinds, indexed by label. */
    public static final List<String> KINDS = List.of("circle", "square", "triangle");
    public static final int CIRCLE = 0, SQUARE = 1, TRIANGLE = 2;
    /** Colour names, indexed like {@link #PALETTE}. */
    public static final List<String> COLOUR_NAMES = List.of("red", "green", "blue", "yellow");
    /** Palette as 8-bit sRGB. */
    public static final int[][] PALETTE_RGB8 = {{220, 40, 40}, {40, 170, 70}, {40, 90, 220}, {235, 195, 30}};
    /** Background as 8-bit sRGB (white). */
    public static final int[] BACKGROUND_RGB8 = {255, 255, 255};
    /** Side of the bounding box as a fraction of the image side: [MIN_FRACTION, MAX_FRACTION). */
    public static final double MIN_FRACTION = 0.35, MAX_FRACTION = 0.70;
    /** Default number of (virtual) images. */
    public static final int DEFAULT_SIZE = 50_000;
    public static final int DEFAULT_IMAGE_SIZE = 32;

    private static final int SS = 4; // supersampling per axis

    private final int size;
    private final int imageSize;
    private final long seed;

    /** {@value #DEFAULT_SIZE} images of 32x32 under seed 0. */
    public ShapesDataset() { this(DEFAULT_SIZE, DEFAULT_IMAGE_SIZE, 0L); }

    /**
     * @param size      number of images (they are generated on demand)
     * @param imageSize side in pixels (at least 8)
     * @param seed      Philox seed; different seeds give independent datasets (e.g. train and test)
     */
    public ShapesDataset(int size, int imageSize, long seed) {
        if (size <= 0) throw new IllegalArgumentException("shapes dataset size must be positive, got " + size);
        if (imageSize < 8) throw new IllegalArgumentException("shapes image size must be at least 8, got " + imageSize);
        this.size = size;
        this.imageSize = imageSize;
        this.seed = seed;
    }

    /** Palette colour {@code k} in [-1, 1] units. */
    public static float[] palette(int k) { return signed(PALETTE_RGB8[k]); }

    /** Background colour in [-1, 1] units. */
    public static float[] background() { return signed(BACKGROUND_RGB8); }

    private static float[] signed(int[] rgb) {
        return new float[] {rgb[0] / 127.5f - 1f, rgb[1] / 127.5f - 1f, rgb[2] / 127.5f - 1f};
    }

    public long seed() { return seed; }

    @Override public String name() { return "shapes"; }

    @Override public int size() { return size; }

    @Override public int channels() { return 3; }

    @Override public int imageSize() { return imageSize; }

    @Override public int numClasses() { return KINDS.size(); }

    @Override public List<String> classNames() { return KINDS; }

    /** The random parameters of one image. {@code x0, y0, side} are in pixels (continuous). */
    public record Params(int kind, int colour, double x0, double y0, double side) {}

    /** Parameters of image {@code index}. */
    public Params params(int index) {
        checkIndex(index);
        long g = 8L * index;
        float[] u = new float[5];
        Philox.fillUniform(u, 0, seed, g, 0, 5);
        int kind = Math.min(2, (int) (u[0] * 3));
        int colour = Math.min(PALETTE_RGB8.length - 1, (int) (u[1] * PALETTE_RGB8.length));
        double side = (MIN_FRACTION + (MAX_FRACTION - MIN_FRACTION) * u[2]) * imageSize;
        double x0 = u[3] * (imageSize - side);
        double y0 = u[4] * (imageSize - side);
        return new Params(kind, colour, x0, y0, side);
    }

    @Override public int label(int index) { return params(index).kind(); }

    @Override public void image(int index, float[] out, int outOffset) {
        Params p = params(index);
        render(p.kind(), palette(p.colour()), background(), p.x0(), p.y0(), p.side(), imageSize, imageSize, out, outOffset);
    }

    /**
     * Renders one anti-aliased shape whose bounding box is {@code [x0, x0+side) x [y0, y0+side)} into a CHW RGB
     * image of {@code h x w} (background elsewhere). Also used by {@link ShapeValidity} to build templates.
     */
    public static void render(int kind, float[] colour, float[] bg, double x0, double y0, double side,
                              int h, int w, float[] out, int off) {
        int hw = h * w;
        float[] cov = new float[hw];
        coverage(kind, x0, y0, side, side, h, w, cov);
        for (int i = 0; i < hw; i++) {
            float a = cov[i];
            for (int c = 0; c < 3; c++) out[off + c * hw + i] = a * colour[c] + (1 - a) * bg[c];
        }
    }

    /**
     * Fraction of each pixel covered by the shape with bounding box {@code [x0, x0+bw) x [y0, y0+bh)}
     * (4x4 supersampling); {@code cov} has {@code h * w} entries and is fully overwritten.
     */
    public static void coverage(int kind, double x0, double y0, double bw, double bh, int h, int w, float[] cov) {
        java.util.Arrays.fill(cov, 0, h * w, 0f);
        int xa = Math.max(0, (int) Math.floor(x0)), xb = Math.min(w - 1, (int) Math.ceil(x0 + bw));
        int ya = Math.max(0, (int) Math.floor(y0)), yb = Math.min(h - 1, (int) Math.ceil(y0 + bh));
        double cx = x0 + bw / 2, cy = y0 + bh / 2;
        for (int py = ya; py <= yb; py++) {
            for (int px = xa; px <= xb; px++) {
                // shapes are convex: a pixel whose four corners are inside is fully covered (the same value the
                // supersampling would give, only faster)
                if (inside(kind, px, py, x0, y0, bw, bh, cx, cy) && inside(kind, px + 1, py, x0, y0, bw, bh, cx, cy)
                        && inside(kind, px, py + 1, x0, y0, bw, bh, cx, cy) && inside(kind, px + 1, py + 1, x0, y0, bw, bh, cx, cy)) {
                    cov[py * w + px] = 1f;
                    continue;
                }
                int n = 0;
                for (int sy = 0; sy < SS; sy++) {
                    double y = py + (sy + 0.5) / SS;
                    for (int sx = 0; sx < SS; sx++) {
                        double x = px + (sx + 0.5) / SS;
                        if (inside(kind, x, y, x0, y0, bw, bh, cx, cy)) n++;
                    }
                }
                cov[py * w + px] = n / (float) (SS * SS);
            }
        }
    }

    private static boolean inside(int kind, double x, double y, double x0, double y0, double bw, double bh,
                                  double cx, double cy) {
        if (x < x0 || x >= x0 + bw || y < y0 || y >= y0 + bh) return false;
        switch (kind) {
            case SQUARE:
                return true;
            case CIRCLE: {
                double dx = (x - cx) / (bw / 2), dy = (y - cy) / (bh / 2);
                return dx * dx + dy * dy <= 1.0;
            }
            case TRIANGLE: {
                // apex at (cx, y0), base from (x0, y0+bh) to (x0+bw, y0+bh)
                double depth = (y - y0) / bh;
                return Math.abs(x - cx) <= depth * bw / 2;
            }
            default:
                throw new IllegalArgumentException("unknown shape kind " + kind);
        }
    }

    private void checkIndex(int index) {
        if (index < 0 || index >= size) throw new IndexOutOfBoundsException("image " + index + " outside [0, " + size + ")");
    }
}
