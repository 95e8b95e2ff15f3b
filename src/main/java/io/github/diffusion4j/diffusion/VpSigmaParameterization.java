package io.github.diffusion4j.diffusion;

/**
 * A model trained on a variance-preserving schedule, called in the sigma view as diffusers' Euler/Heun discrete
 * schedulers do: sigma = sqrt((1 - abar) / abar), the input is {@code x / sqrt(sigma^2 + 1)} (the VP sample), the
 * timestep the fractional {@link Sigmas#toTimestep}, and the denoised estimate from the prediction type
 * (epsilon: {@code x - sigma F}; v: {@code x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) F}; sample: F). The level
 * range is that of the schedule's timesteps 0 and T - 1.
 */
public final class VpSigmaParameterization implements SigmaParameterization {
    private final PredictionType prediction;
    private final double[] logSigmas;
    private final double sigmaMin, sigmaMax;

    public VpSigmaParameterization(NoiseSchedule schedule, PredictionType prediction) {
        this.prediction = prediction;
        double[] s = Sigmas.of(schedule);
        if (Double.isInfinite(s[s.length - 1])) {
            throw new IllegalArgumentException("sigma-space samplers need alpha_bar > 0 at the last timestep (the schedule "
                    + "has zero terminal SNR): use ddim or dpmpp");
        }
        this.logSigmas = new double[s.length];
        for (int t = 0; t < s.length; t++) logSigmas[t] = Math.log(s[t]);
        this.sigmaMin = s[0];
        this.sigmaMax = s[s.length - 1];
    }

    /** log sigma at every training timestep (a copy). */
    public double[] logSigmas() { return logSigmas.clone(); }

    @Override public double sigmaMin() { return sigmaMin; }

    @Override public double sigmaMax() { return sigmaMax; }

    @Override public double inputScale(double sigma) { return 1 / Math.sqrt(sigma * sigma + 1); }

    @Override public float modelTimestep(double sigma) { return (float) Sigmas.toTimestep(sigma, logSigmas); }

    @Override public double[] denoiserCoefficients(double sigma) {
        return switch (prediction) {
            case EPSILON -> new double[] {1, -sigma};
            case V_PREDICTION -> new double[] {1 / (sigma * sigma + 1), -sigma / Math.sqrt(sigma * sigma + 1)};
            case SAMPLE -> new double[] {0, 1};
        };
    }
}
