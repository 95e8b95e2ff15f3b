package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Tensor;

/**
 * Conversions between the three things a model may predict, at one noise level abar (x_t = sqrt(abar) x0 +
 * sqrt(1 - abar) eps, v = sqrt(abar) eps - sqrt(1 - abar) x0). Given x_t, each prediction determines the other two,
 * and every conversion is affine: {@code out = p x_t + q pred}.
 */
public final class Parameterization {
    private Parameterization() {}

    /**
     * The coefficients {p, q} with {@code to = p x_t + q from} at noise level abar.
     *
     * @throws IllegalArgumentException where the conversion is undefined (abar = 0 from epsilon, abar = 1 from x0)
     */
    public static double[] coefficients(PredictionType from, PredictionType to, double abar) {
        if (!(abar >= 0 && abar <= 1)) throw new IllegalArgumentException("alpha_bar must be in [0, 1], got " + abar);
        if (from == to) return new double[] {0, 1};
        double sa = Math.sqrt(abar), sb = Math.sqrt(1 - abar);
        double[] x0, eps;                          // each as {coefficient of x_t, coefficient of the prediction}
        switch (from) {
            case EPSILON -> {
                if (abar == 0) throw new IllegalArgumentException("x0 is undefined from epsilon where alpha_bar = 0");
                eps = new double[] {0, 1};
                x0 = new double[] {1 / sa, -sb / sa};
            }
            case SAMPLE -> {
                if (abar == 1) throw new IllegalArgumentException("epsilon is undefined from x0 where alpha_bar = 1");
                x0 = new double[] {0, 1};
                eps = new double[] {1 / sb, -sa / sb};
            }
            default -> {
                x0 = new double[] {sa, -sb};
                eps = new double[] {sb, sa};
            }
        }
        return switch (to) {
            case EPSILON -> eps;
            case SAMPLE -> x0;
            case V_PREDICTION -> new double[] {sa * eps[0] - sb * x0[0], sa * eps[1] - sb * x0[1]};
        };
    }

    /** out = the {@code to} prediction equivalent to {@code pred} (of type {@code from}) at x_t, abar (one axpby). */
    public static void convert(Tensor out, Tensor xt, Tensor pred, PredictionType from, PredictionType to, double abar) {
        double[] c = coefficients(from, to, abar);
        out.backend().axpby(out, (float) c[0], xt, (float) c[1], pred);
    }

    /** The predicted x0 from a model output at x_t, abar. */
    public static void predictX0(Tensor out, Tensor xt, Tensor modelOutput, PredictionType type, double abar) {
        convert(out, xt, modelOutput, type, PredictionType.SAMPLE, abar);
    }

    /** The predicted noise from a model output at x_t, abar. */
    public static void predictEpsilon(Tensor out, Tensor xt, Tensor modelOutput, PredictionType type, double abar) {
        convert(out, xt, modelOutput, type, PredictionType.EPSILON, abar);
    }
}
