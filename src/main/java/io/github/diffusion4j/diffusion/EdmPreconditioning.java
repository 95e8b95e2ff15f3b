package io.github.diffusion4j.diffusion;

/**
 * EDM's preconditioning (Karras et al. 2022, table 1): the network F is wrapped as
 * {@code D(x; sigma) = c_skip x + c_out F(c_in x; c_noise)} with
 * <pre>
 *   c_skip = sigma_data^2 / (sigma^2 + sigma_data^2)     c_out = sigma sigma_data / sqrt(sigma^2 + sigma_data^2)
 *   c_in   = 1 / sqrt(sigma^2 + sigma_data^2)             c_noise = ln(sigma) / 4
 * </pre>
 * so that F's input and training target both have unit variance at every level. The U-Net's timestep input is
 * {@code 1000 c_noise = 250 ln sigma}: its sinusoidal embedding (periods up to 10000, as DDPM's) then sees a range
 * like DDPM's t in [0, 1000) (ln 0.002 .. ln 80 maps to -1554 .. 1095) instead of EDM's c_noise in [-1.6, 1.1],
 * which only its fastest frequencies would resolve. Training draws ln sigma ~ N(P_mean, P_std^2).
 *
 * @param sigmaData the standard deviation of the data (0.5 for images in [-1, 1], EDM's default)
 * @param sigmaMin  the smallest sampling level (0.002)
 * @param sigmaMax  the largest sampling level (80)
 */
public record EdmPreconditioning(double sigmaData, double sigmaMin, double sigmaMax) implements SigmaParameterization {
    /** The scale from EDM's c_noise to the U-Net's timestep input. */
    public static final double NOISE_SCALE = 1000;
    public static final double DEFAULT_SIGMA_DATA = 0.5, DEFAULT_SIGMA_MIN = 0.002, DEFAULT_SIGMA_MAX = 80;
    public static final double DEFAULT_P_MEAN = -1.2, DEFAULT_P_STD = 1.2;

    public EdmPreconditioning {
        if (!(sigmaData > 0 && Double.isFinite(sigmaData))) throw new IllegalArgumentException("sigma_data must be positive, got " + sigmaData);
        if (!(sigmaMin > 0 && sigmaMax > sigmaMin && Double.isFinite(sigmaMax))) {
            throw new IllegalArgumentException("EDM needs 0 < sigma_min < sigma_max, got " + sigmaMin + ", " + sigmaMax);
        }
    }

    /** EDM's defaults with the given sigma_data. */
    public static EdmPreconditioning of(double sigmaData) {
        return new EdmPreconditioning(sigmaData, DEFAULT_SIGMA_MIN, DEFAULT_SIGMA_MAX);
    }

    public double cSkip(double sigma) { return sigmaData * sigmaData / (sigma * sigma + sigmaData * sigmaData); }

    public double cOut(double sigma) { return sigma * sigmaData / Math.sqrt(sigma * sigma + sigmaData * sigmaData); }

    public double cIn(double sigma) { return 1 / Math.sqrt(sigma * sigma + sigmaData * sigmaData); }

    public double cNoise(double sigma) { return Math.log(sigma) / 4; }

    @Override public double inputScale(double sigma) { return cIn(sigma); }

    @Override public float modelTimestep(double sigma) { return (float) (NOISE_SCALE * cNoise(sigma)); }

    @Override public double[] denoiserCoefficients(double sigma) { return new double[] {cSkip(sigma), cOut(sigma)}; }

    /**
     * The training target of F at sigma, {@code (x0 - c_skip x) / c_out} for {@code x = x0 + sigma eps}, as
     * coefficients {of x0, of eps}: {@code (sigma / sigma_data, -sigma_data) / sqrt(sigma^2 + sigma_data^2)}. EDM's
     * loss weight lambda = 1 / c_out^2 makes the loss on F unweighted.
     */
    public double[] targetCoefficients(double sigma) {
        double r = Math.sqrt(sigma * sigma + sigmaData * sigmaData);
        return new double[] {sigma / (sigmaData * r), -sigmaData / r};
    }
}
