package io.github.diffusion4j.tensor;

/**
 * The scalars of one fused sampler step, {@link Backend#diffusionStep}. Every scheduler (DDPM, DDIM,
 * DPM-Solver++) reduces its update to this form; the coefficients are computed on the host in double precision
 * and rounded to float once. Per element:
 * <pre>
 *   x0   = x0FromSample * sample + x0FromModel * modelOut
 *   x0   = clip ? min(max(x0, -clipRange), clipRange) : x0
 *   prev = a * x0 + b * sample + c * modelOut + d * prevX0 + sigma * noise
 * </pre>
 * (with a learned variance, sigma per element from the model's variance output, see {@code learnedVariance})
 *
 * @param x0FromSample coefficient of the current sample in the predicted x0
 * @param x0FromModel  coefficient of the model output in the predicted x0
 * @param clip         whether the predicted x0 is clamped to [-clipRange, clipRange] before it is used
 * @param clipRange    the clamp bound (ignored unless {@code clip})
 * @param a            coefficient of the (possibly clipped) predicted x0 in the new sample
 * @param b            coefficient of the current sample
 * @param c            coefficient of the raw model output
 * @param d            coefficient of the previous step's predicted x0 (multistep solvers; 0 otherwise)
 * @param sigma        standard deviation of the fresh Gaussian noise (0: no noise is drawn)
 * @param learnedVariance the model output holds a learned variance (improved DDPM's {@code learned_range}): it is
 *                     [N, 2P] for a sample of [N, P], the prediction in each sample's first P values and v in its
 *                     last P, and the noise's standard deviation per element is {@code exp(0.5 (lvBase + lvScale v))}
 *                     instead of {@code sigma}
 * @param lvBase       the log-variance at v = 0: (log beta_t + log beta~_t) / 2 (-inf: no noise, the last step)
 * @param lvScale      its change per unit v: (log beta_t - log beta~_t) / 2
 */
public record StepCoefficients(float x0FromSample, float x0FromModel, boolean clip, float clipRange,
                               float a, float b, float c, float d, float sigma, boolean learnedVariance,
                               float lvBase, float lvScale) {

    /** Coefficients with a fixed noise level (no learned variance). */
    public StepCoefficients(float x0FromSample, float x0FromModel, boolean clip, float clipRange, float a, float b,
                            float c, float d, float sigma) {
        this(x0FromSample, x0FromModel, clip, clipRange, a, b, c, d, sigma, false, 0f, 0f);
    }

    /** Whether the step draws noise. */
    public boolean drawsNoise() { return sigma != 0f || (learnedVariance && lvBase != Float.NEGATIVE_INFINITY); }

    /** The same coefficients with a learned variance of log-variance {@code lvBase + lvScale v} (no fixed sigma). */
    public StepCoefficients withLearnedVariance(double lvBase, double lvScale) {
        return new StepCoefficients(x0FromSample, x0FromModel, clip, clipRange, a, b, c, d, 0f, true, (float) lvBase,
                (float) lvScale);
    }

    /** The same coefficients, rounded from double. */
    public static StepCoefficients of(double x0FromSample, double x0FromModel, boolean clip, double clipRange,
                                      double a, double b, double c, double d, double sigma) {
        return new StepCoefficients((float) x0FromSample, (float) x0FromModel, clip, (float) clipRange,
                (float) a, (float) b, (float) c, (float) d, (float) sigma);
    }
}
