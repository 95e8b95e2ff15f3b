package io.github.diffusion4j.diffusion;

/**
 * How a model is called at a noise level sigma of the sigma view {@code x = x0 + sigma eps} (EDM's notation), so that
 * one sampler ({@link EdmScheduler}) serves every objective: the scale of the model's input, its timestep input, and
 * the affine map from its output F to the denoised estimate {@code D(x; sigma) = p x + q F}.
 */
public interface SigmaParameterization {

    /** The smallest level of the default grid (Karras sigma_min). */
    double sigmaMin();

    /** The largest level of the default grid (Karras sigma_max). */
    double sigmaMax();

    /** The factor on x of the model's input (EDM's c_in; 1 / sqrt(sigma^2 + 1) for a variance-preserving model). */
    double inputScale(double sigma);

    /** The model's timestep input at sigma. */
    float modelTimestep(double sigma);

    /** {p, q} with {@code D(x; sigma) = p x + q F(input)}: (c_skip, c_out) in EDM's notation. */
    double[] denoiserCoefficients(double sigma);
}
