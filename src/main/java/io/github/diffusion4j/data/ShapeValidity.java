package io.github.diffusion4j.data;

import java.util.ArrayDeque;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;

/**
 * A deterministic check that an RGB image (CHW, values in [-1, 1]) shows exactly one shape of the
 * {@link ShapesDataset}: used to measure the quality of generated samples end to end.
 *
 * <p>The checks, in order (the first that fails is reported as {@link Result#failed()}):
 * <ol>
 *   <li>{@code CHANNELS}: the image has 3 channels.</li>
 *   <li>Foreground = pixels farther than {@value #FG_DISTANCE} (Euclidean, [-1, 1] units) from the white
 *       background; 8-connected components. {@code BLANK}: no foreground. Components under
 *       {@value #NOISE_COMPONENT} of the image area count as noise; {@code SPLIT}: the largest component holds
 *       less than {@value #LARGEST_SHARE} of the non-noise foreground, or noise covers more than
 *       {@value #MAX_NOISE} of the image. {@code TOO_SMALL} / {@code TOO_LARGE}: the shape covers less than
 *       {@value #MIN_AREA} or more than {@value #MAX_AREA} of the image (the dataset spans about 6 %-49 %).</li>
 *   <li>{@code COLOUR}: the mean of the interior pixels (4-neighbours all in the shape, so anti-aliased edges do
 *       not count) is within {@value #COLOUR_TOLERANCE} of a palette colour; {@code UNIFORMITY}: at least
 *       {@value #UNIFORM_SHARE} of the interior pixels are within {@value #PIXEL_TOLERANCE} of it.</li>
 *   <li>Coverage {@code a} of each pixel near the shape = projection of (pixel - background) on
 *       (colour - background), clamped to [0, 1]. Area = sum of {@code a}; the bounding box is measured softly
 *       (width = sum over columns of the largest {@code a} in the column, height likewise), accurate to
 *       a fraction of a pixel for anti-aliased edges (it reads triangles slightly small: their corners cover
 *       little of the edge pixels, so at 32x32 triangles measure 0.51-0.58). {@code ASPECT}: width / height within
 *       1 &plusmn; {@value #ASPECT_TOLERANCE} (all dataset shapes have square boxes).</li>
 *   <li>Kind: for each kind, the ideal shape with the measured area (side {@code sqrt(area / fill_k)} with the
 *       ideal fill ratio pi/4, 1 or 1/2), centred on the coverage centroid and rendered like the dataset does,
 *       is compared with the coverage map by soft IoU; the best match gives the kind. {@code FILL}: the measured
 *       fill ratio area / (width x height) lies in that kind's band (circle [0.70, 0.90), square [0.90, 1.08],
 *       triangle [0.42, 0.70); see {@link #FILL_BANDS}). {@code TEMPLATE}: the IoU is at least
 *       {@value #MIN_IOU} (this rejects blobs that merely have a plausible fill ratio, e.g. an upside-down
 *       triangle).</li>
 * </ol>
 * On the dataset itself all images pass at 32x32 and above and more than 99 % at 16x16 (smaller sizes are not
 * supported reliably); see {@code ShapeValidityTest}.
 */
public final class ShapeValidity {
    public static final double FG_DISTANCE = 0.5;
    public static final double NOISE_COMPONENT = 0.02;
    public static final double LARGEST_SHARE = 0.90;
    public static final double MAX_NOISE = 0.05;
    public static final double MIN_AREA = 0.03;
    public static final double MAX_AREA = 0.60;
    public static final double COLOUR_TOLERANCE = 0.30;
    public static final double PIXEL_TOLERANCE = 0.35;
    public static final double UNIFORM_SHARE = 0.85;
    public static final double ASPECT_TOLERANCE = 0.20;
    public static final double MIN_IOU = 0.80;
    /** Coverage below this is treated as background noise. */
    private static final double MIN_COVERAGE = 0.15;

    /** Ideal fill ratios of circle, square, triangle (indexed by kind). */
    static final double[] FILL = {Math.PI / 4, 1.0, 0.5};
    /**
     * Accepted measured fill ratios per kind, [low, high). Disjoint bands around the ideal ratios, shifted up
     * for triangles: the soft box reads their corners short (a corner covers little of its pixel), so small
     * triangles measure up to about 0.66 at 16x16 and 0.59 at 32x32.
     */
    static final double[][] FILL_BANDS = {{0.70, 0.90}, {0.90, 1.08}, {0.42, 0.70}};

    /** Which check failed. */
    public enum Check { OK, CHANNELS, BLANK, SPLIT, TOO_SMALL, TOO_LARGE, COLOUR, UNIFORMITY, ASPECT, FILL, TEMPLATE }

    /**
     * Outcome for one image.
     *
     * @param valid     whether every check passed
     * @param kind      shape kind (index in {@link ShapesDataset#KINDS}) if determined, else -1
     * @param colour    palette index if determined, else -1
     * @param fillRatio measured area / bounding-box area (NaN if not measured)
     * @param iou       overlap with the ideal template (NaN if not measured)
     * @param failed    the first failed check, {@link Check#OK} if valid
     * @param reason    one human-readable line
     */
    public record Result(boolean valid, int kind, int colour, double fillRatio, double iou, Check failed, String reason) {
        static Result fail(Check check, int kind, int colour, double fill, double iou, String reason) {
            return new Result(false, kind, colour, fill, iou, check, reason);
        }
    }

    /** Totals over a batch: how many images are valid, and how the valid ones spread over kinds and colours. */
    public record Report(int total, int valid, int[] kindCounts, int[] colourCounts, Map<Check, Integer> failures) {
        public double validFraction() { return total == 0 ? 0 : valid / (double) total; }

        @Override public String toString() {
            return String.format(Locale.ROOT, "%d/%d valid (%.1f %%), kinds %s, colours %s, failures %s", valid, total,
                    100 * validFraction(), java.util.Arrays.toString(kindCounts), java.util.Arrays.toString(colourCounts), failures);
        }
    }

    private ShapeValidity() {}

    /** Checks a single CHW image stored at {@code img[0 ...]}. */
    public static Result check(float[] img, int c, int h, int w) { return check(img, 0, c, h, w); }

    /** Checks every image of an NCHW batch and summarises. */
    public static Report evaluate(float[] batch, int n, int c, int h, int w) {
        int[] kinds = new int[ShapesDataset.KINDS.size()];
        int[] colours = new int[ShapesDataset.PALETTE_RGB8.length];
        Map<Check, Integer> failures = new EnumMap<>(Check.class);
        int valid = 0;
        for (int i = 0; i < n; i++) {
            Result r = check(batch, i * c * h * w, c, h, w);
            if (r.valid()) {
                valid++;
                kinds[r.kind()]++;
                colours[r.colour()]++;
            } else {
                failures.merge(r.failed(), 1, Integer::sum);
            }
        }
        return new Report(n, valid, kinds, colours, failures);
    }

    /** Checks the CHW image stored at {@code img[off ...]}. */
    public static Result check(float[] img, int off, int c, int h, int w) {
        double nan = Double.NaN;
        if (c != 3) return Result.fail(Check.CHANNELS, -1, -1, nan, nan, "expected 3 channels, got " + c);
        int hw = h * w;
        float[] bg = ShapesDataset.background();

        // 1. foreground mask and 8-connected components
        boolean[] fg = new boolean[hw];
        int fgCount = 0;
        for (int i = 0; i < hw; i++) {
            double d = 0;
            for (int ch = 0; ch < 3; ch++) {
                double v = img[off + ch * hw + i] - bg[ch];
                d += v * v;
            }
            if (Math.sqrt(d) > FG_DISTANCE) {
                fg[i] = true;
                fgCount++;
            }
        }
        if (fgCount == 0) return Result.fail(Check.BLANK, -1, -1, nan, nan, "blank image: no foreground pixels");
        int[] comp = new int[hw];
        java.util.Arrays.fill(comp, -1);
        int ncomp = 0, largest = -1, largestSize = 0, significant = 0;
        int minComp = (int) Math.ceil(NOISE_COMPONENT * hw);
        ArrayDeque<Integer> queue = new ArrayDeque<>();
        for (int s = 0; s < hw; s++) {
            if (!fg[s] || comp[s] >= 0) continue;
            int id = ncomp++, size = 0;
            comp[s] = id;
            queue.add(s);
            while (!queue.isEmpty()) {
                int p = queue.poll();
                size++;
                int py = p / w, px = p % w;
                for (int dy = -1; dy <= 1; dy++) {
                    for (int dx = -1; dx <= 1; dx++) {
                        int y = py + dy, x = px + dx;
                        if (y < 0 || y >= h || x < 0 || x >= w) continue;
                        int q = y * w + x;
                        if (fg[q] && comp[q] < 0) {
                            comp[q] = id;
                            queue.add(q);
                        }
                    }
                }
            }
            if (size >= minComp) significant += size;
            if (size > largestSize) {
                largestSize = size;
                largest = id;
            }
        }
        if (fgCount - significant > MAX_NOISE * hw) {
            return Result.fail(Check.SPLIT, -1, -1, nan, nan, String.format(Locale.ROOT,
                    "scattered foreground: %.1f %% of the image in %d small regions", 100.0 * (fgCount - significant) / hw, ncomp));
        }
        if (largestSize < MIN_AREA * hw) {
            return Result.fail(Check.TOO_SMALL, -1, -1, nan, nan, String.format(Locale.ROOT,
                    "largest region covers only %.1f %% of the image", 100.0 * largestSize / hw));
        }
        if (largestSize < LARGEST_SHARE * significant) {
            return Result.fail(Check.SPLIT, -1, -1, nan, nan, String.format(Locale.ROOT,
                    "more than one shape: the largest region holds %.0f %% of the foreground", 100.0 * largestSize / significant));
        }
        if (largestSize > MAX_AREA * hw) {
            return Result.fail(Check.TOO_LARGE, -1, -1, nan, nan, String.format(Locale.ROOT,
                    "foreground covers %.0f %% of the image", 100.0 * largestSize / hw));
        }

        // 2. colour of the interior
        // (all pixels of the region if it is too thin to have an interior)
        boolean useInterior = hasInterior(comp, largest, h, w);
        double[] mean = new double[3];
        int core = 0;
        for (int i = 0; i < hw; i++) {
            if (comp[i] != largest || (useInterior && !interior(comp, largest, i, h, w))) continue;
            core++;
            for (int ch = 0; ch < 3; ch++) mean[ch] += img[off + ch * hw + i];
        }
        for (int ch = 0; ch < 3; ch++) mean[ch] /= core;
        int colour = -1;
        double best = Double.MAX_VALUE;
        for (int k = 0; k < ShapesDataset.PALETTE_RGB8.length; k++) {
            double d = dist(mean, ShapesDataset.palette(k));
            if (d < best) {
                best = d;
                colour = k;
            }
        }
        if (best > COLOUR_TOLERANCE) {
            return Result.fail(Check.COLOUR, -1, -1, nan, nan, String.format(Locale.ROOT,
                    "mean colour (%.2f, %.2f, %.2f) is not a palette colour (nearest %s at distance %.2f)",
                    mean[0], mean[1], mean[2], ShapesDataset.COLOUR_NAMES.get(colour), best));
        }
        float[] col = ShapesDataset.palette(colour);
        int near = 0;
        for (int i = 0; i < hw; i++) {
            if (comp[i] != largest || (useInterior && !interior(comp, largest, i, h, w))) continue;
            double d = 0;
            for (int ch = 0; ch < 3; ch++) {
                double v = img[off + ch * hw + i] - col[ch];
                d += v * v;
            }
            if (Math.sqrt(d) <= PIXEL_TOLERANCE) near++;
        }
        if (near < UNIFORM_SHARE * core) {
            return Result.fail(Check.UNIFORMITY, -1, colour, nan, nan, String.format(Locale.ROOT,
                    "not uniformly coloured: only %.0f %% of the interior is %s", 100.0 * near / core,
                    ShapesDataset.COLOUR_NAMES.get(colour)));
        }

        // 3. coverage map on the region dilated by one pixel
        double[] cb = new double[3];
        double cb2 = 0;
        for (int ch = 0; ch < 3; ch++) {
            cb[ch] = col[ch] - bg[ch];
            cb2 += cb[ch] * cb[ch];
        }
        float[] alpha = new float[hw];
        int minX = w, maxX = -1, minY = h, maxY = -1;
        for (int i = 0; i < hw; i++) {
            if (!nearRegion(comp, largest, i, h, w)) continue;
            double dot = 0;
            for (int ch = 0; ch < 3; ch++) dot += (img[off + ch * hw + i] - bg[ch]) * cb[ch];
            double a = Math.max(0, Math.min(1, dot / cb2));
            if (a < MIN_COVERAGE) continue;
            alpha[i] = (float) a;
            int y = i / w, x = i % w;
            minX = Math.min(minX, x);
            maxX = Math.max(maxX, x);
            minY = Math.min(minY, y);
            maxY = Math.max(maxY, y);
        }
        double area = 0, mx = 0, my = 0, bw = 0, bh = 0;
        for (int y = minY; y <= maxY; y++) {
            double rowMax = 0;
            for (int x = minX; x <= maxX; x++) {
                double a = alpha[y * w + x];
                area += a;
                mx += a * (x + 0.5);
                my += a * (y + 0.5);
                rowMax = Math.max(rowMax, a);
            }
            bh += rowMax;
        }
        for (int x = minX; x <= maxX; x++) {
            double colMax = 0;
            for (int y = minY; y <= maxY; y++) colMax = Math.max(colMax, alpha[y * w + x]);
            bw += colMax;
        }
        mx /= area;
        my /= area;
        double fill = area / (bw * bh);
        double aspect = bw / bh;
        if (Math.abs(aspect - 1) > ASPECT_TOLERANCE) {
            return Result.fail(Check.ASPECT, -1, colour, fill, nan, String.format(Locale.ROOT,
                    "bounding box %.1f x %.1f is not square", bw, bh));
        }
        // 4. the kind whose ideal shape, with the measured area (side sqrt(area / fill_k)) and centroid, overlaps
        //    the coverage map best
        int kind = -1;
        double iou = -1;
        float[] tmpl = new float[hw];
        for (int k = 0; k < FILL.length; k++) {
            double side = Math.sqrt(area / FILL[k]);
            double x0 = mx - side / 2;
            double y0 = k == ShapesDataset.TRIANGLE ? my - 2 * side / 3 : my - side / 2;
            ShapesDataset.coverage(k, x0, y0, side, side, h, w, tmpl);
            double inter = 0, union = 0;
            for (int i = 0; i < hw; i++) {
                inter += Math.min(alpha[i], tmpl[i]);
                union += Math.max(alpha[i], tmpl[i]);
            }
            double o = inter / union;
            if (o > iou) {
                iou = o;
                kind = k;
            }
        }
        if (fill < FILL_BANDS[kind][0] || fill >= FILL_BANDS[kind][1]) {
            return Result.fail(Check.FILL, kind, colour, fill, iou, String.format(Locale.ROOT,
                    "fill ratio %.3f does not match a %s (%.3f)", fill, ShapesDataset.KINDS.get(kind), FILL[kind]));
        }
        String kindName = ShapesDataset.KINDS.get(kind);
        if (iou < MIN_IOU) {
            return Result.fail(Check.TEMPLATE, kind, colour, fill, iou, String.format(Locale.ROOT,
                    "region does not look like a %s (overlap %.2f with the ideal shape)", kindName, iou));
        }
        return new Result(true, kind, colour, fill, iou, Check.OK, String.format(Locale.ROOT,
                "%s %s (fill %.3f, overlap %.2f)", ShapesDataset.COLOUR_NAMES.get(colour), kindName, fill, iou));
    }

    private static boolean interior(int[] comp, int id, int i, int h, int w) {
        int y = i / w, x = i % w;
        return y > 0 && y < h - 1 && x > 0 && x < w - 1
                && comp[i - 1] == id && comp[i + 1] == id && comp[i - w] == id && comp[i + w] == id;
    }

    private static boolean hasInterior(int[] comp, int id, int h, int w) {
        for (int i = 0; i < comp.length; i++) if (comp[i] == id && interior(comp, id, i, h, w)) return true;
        return false;
    }

    private static boolean nearRegion(int[] comp, int id, int i, int h, int w) {
        int py = i / w, px = i % w;
        for (int dy = -1; dy <= 1; dy++) {
            for (int dx = -1; dx <= 1; dx++) {
                int y = py + dy, x = px + dx;
                if (y >= 0 && y < h && x >= 0 && x < w && comp[y * w + x] == id) return true;
            }
        }
        return false;
    }

    private static double dist(double[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < 3; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
        return Math.sqrt(s);
    }
}
