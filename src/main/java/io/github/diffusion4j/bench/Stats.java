package io.github.diffusion4j.bench;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** Summary of repeated timings: the median is the figure reported, min and max show the spread. */
public record Stats(double median, double min, double max, double[] samples) {

    public static Stats of(double[] samples) {
        if (samples.length == 0) throw new IllegalArgumentException("no samples");
        double[] s = samples.clone();
        Arrays.sort(s);
        int n = s.length;
        double median = (n & 1) == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
        return new Stats(median, s[0], s[n - 1], samples.clone());
    }

    /** {"median": .., "min": .., "max": .., "n": .., "samples": [..]} with values rounded to 1e-4. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("median", round(median));
        m.put("min", round(min));
        m.put("max", round(max));
        m.put("n", samples.length);
        double[] r = new double[samples.length];
        for (int i = 0; i < r.length; i++) r[i] = round(samples[i]);
        m.put("samples", r);
        return m;
    }

    static double round(double v) {
        return Double.isFinite(v) ? Math.round(v * 1e4) / 1e4 : v;
    }
}
