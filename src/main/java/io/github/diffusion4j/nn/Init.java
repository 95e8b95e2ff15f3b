package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;

/**
 * Parameter initialisers. Random ones draw from Philox so that a seed gives the same model everywhere.
 * The default for weights is the DDPM reference code's {@code variance_scaling(scale, 'fan_avg', 'uniform')}:
 * U(-l, l) with l = sqrt(3 scale / ((fan_in + fan_out) / 2)); a scale of 0 means zero-initialised.
 */
@FunctionalInterface
public interface Init {
    /** Fills {@code out[0 .. shape.numel())} for a parameter of this shape, using Philox indices from {@code base}. */
    void fill(float[] out, Shape shape, long seed, long base);

    static Init constant(float v) {
        return (out, shape, seed, base) -> java.util.Arrays.fill(out, 0, shape.size(), v);
    }

    Init ZEROS = constant(0f);
    Init ONES = constant(1f);

    static Init uniform(double limit) {
        return (out, shape, seed, base) -> {
            int n = shape.size();
            Philox.fillUniform(out, 0, seed, base, 0, n);
            for (int i = 0; i < n; i++) out[i] = (float) ((2.0 * out[i] - 1.0) * limit);
        };
    }

    static Init normal(double std) {
        return (out, shape, seed, base) -> {
            int n = shape.size();
            Philox.fillNormal(out, 0, seed, base, 0, n);
            for (int i = 0; i < n; i++) out[i] = (float) (out[i] * std);
        };
    }

    /** Fan-in of a weight shape as PyTorch computes it: dim 1 times the receptive field (dims 2..). */
    static int fanIn(Shape s) {
        return s.rank() < 2 ? s.dim(0) : s.dim(1) * s.sizeFrom(2);
    }

    /** Fan-out: dim 0 times the receptive field. */
    static int fanOut(Shape s) {
        return s.rank() < 2 ? s.dim(0) : s.dim(0) * s.sizeFrom(2);
    }

    /** DDPM's default_init(scale): variance scaling, fan_avg, uniform. scale 0 gives zeros. */
    static Init fanAvgUniform(double scale) {
        if (scale == 0) return ZEROS;
        return (out, shape, seed, base) -> {
            double fanAvg = (fanIn(shape) + fanOut(shape)) / 2.0;
            uniform(Math.sqrt(3.0 * scale / fanAvg)).fill(out, shape, seed, base);
        };
    }

    /** The DDPM default for weights. */
    Init DEFAULT = fanAvgUniform(1.0);
}
