package io.github.diffusion4j.data;

/**
 * Separable resampling of planar (CHW) float images, used by every dataset and by image reading.
 *
 * <ul>
 *   <li><b>Downscaling</b> (an output pixel covers one or more source pixels) is an exact <em>area average</em>
 *       (box filter with fractional overlaps), which is alias-free for the integer and non-integer factors
 *       datasets need (e.g. 500x375 photos to 64x64).</li>
 *   <li><b>Upscaling</b> is bilinear with pixel-centre alignment ({@code align_corners=False} in PyTorch terms)
 *       and clamped borders.</li>
 * </ul>
 * Each axis is handled independently, so a 2:1 downscale in one direction with a 1:2 upscale in the other is
 * well defined.
 */
public final class Resample {
    private Resample() {}

    /** Resizes the whole {@code c x h x w} image to {@code c x oh x ow}. */
    public static float[] resize(float[] src, int c, int h, int w, int oh, int ow) {
        return region(src, c, h, w, 0, 0, h, w, oh, ow);
    }

    /**
     * Scales the shorter side to {@code size} (keeping the aspect ratio) and crops the centre
     * {@code size x size}: the usual preprocessing for photo folders. Computed in one pass from the centred
     * square region of the source, so no intermediate image is made.
     */
    public static float[] resizeCenterCrop(float[] src, int c, int h, int w, int size) {
        int side = Math.min(h, w);
        return region(src, c, h, w, (h - side) / 2.0, (w - side) / 2.0, side, side, size, size);
    }

    /**
     * Resamples the source rectangle starting at {@code (y0, x0)} of size {@code rh x rw} (in source pixels,
     * possibly fractional) to {@code oh x ow}.
     */
    public static float[] region(float[] src, int c, int h, int w, double y0, double x0, double rh, double rw,
                                 int oh, int ow) {
        if (src.length < c * h * w) throw new IllegalArgumentException("source has " + src.length + " floats, need " + c * h * w);
        if (oh <= 0 || ow <= 0) throw new IllegalArgumentException("output size must be positive");
        Axis ax = Axis.of(w, x0, rw, ow);
        Axis ay = Axis.of(h, y0, rh, oh);
        float[] tmp = new float[h * ow];
        float[] out = new float[c * oh * ow];
        for (int ch = 0; ch < c; ch++) {
            int base = ch * h * w;
            // rows: w -> ow
            for (int y = 0; y < h; y++) {
                int row = base + y * w;
                for (int j = 0; j < ow; j++) {
                    double s = 0;
                    for (int k = ax.start[j]; k < ax.start[j + 1]; k++) s += ax.weight[k] * src[row + ax.index[k]];
                    tmp[y * ow + j] = (float) s;
                }
            }
            // columns: h -> oh
            int ob = ch * oh * ow;
            for (int i = 0; i < oh; i++) {
                for (int j = 0; j < ow; j++) {
                    double s = 0;
                    for (int k = ay.start[i]; k < ay.start[i + 1]; k++) s += ay.weight[k] * tmp[ay.index[k] * ow + j];
                    out[ob + i * ow + j] = (float) s;
                }
            }
        }
        return out;
    }

    /** Sparse weights of one axis: output pixel j reads source pixels index[start[j] .. start[j+1]). */
    private static final class Axis {
        final int[] start;
        final int[] index;
        final double[] weight;

        private Axis(int[] start, int[] index, double[] weight) {
            this.start = start;
            this.index = index;
            this.weight = weight;
        }

        static Axis of(int srcLen, double begin, double length, int outLen) {
            double scale = length / outLen; // source pixels per output pixel
            int[] start = new int[outLen + 1];
            int cap = outLen * ((int) Math.ceil(scale) + 2);
            int[] index = new int[cap];
            double[] weight = new double[cap];
            int k = 0;
            for (int j = 0; j < outLen; j++) {
                start[j] = k;
                if (scale >= 1.0) {
                    double a = begin + j * scale, b = a + scale;
                    int i0 = (int) Math.floor(a), i1 = (int) Math.ceil(b);
                    for (int i = i0; i < i1; i++) {
                        double ov = Math.min(b, i + 1) - Math.max(a, i);
                        if (ov <= 1e-12) continue;
                        index[k] = clamp(i, srcLen);
                        weight[k++] = ov / scale;
                    }
                } else {
                    double x = begin + (j + 0.5) * scale - 0.5;
                    int i0 = (int) Math.floor(x);
                    double f = x - i0;
                    index[k] = clamp(i0, srcLen);
                    weight[k++] = 1 - f;
                    if (f > 0) {
                        index[k] = clamp(i0 + 1, srcLen);
                        weight[k++] = f;
                    }
                }
            }
            start[outLen] = k;
            return new Axis(start, index, weight);
        }

        private static int clamp(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }
    }
}
