package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Noise levels in the sigma (variance-exploding) view, where a sample is {@code x = x0 + sigma eps}: Karras et al.'s
 * grid and diffusers' conversions between a variance-preserving schedule's timesteps and sigmas.
 */
public final class Sigmas {
    private Sigmas() {}

    /** EDM's (and diffusers') rho of the Karras grid. */
    public static final double RHO = 7.0;

    /**
     * Karras et al.'s grid of n levels from sigmaMax down to sigmaMin, equally spaced in sigma^(1/rho) (EDM eq. 5;
     * diffusers' {@code _convert_to_karras} with a ramp of {@code linspace(0, 1, n)}); n = 1 gives sigmaMax.
     */
    public static double[] karras(double sigmaMin, double sigmaMax, int n, double rho) {
        if (n < 1) throw new IllegalArgumentException("a Karras grid needs at least 1 step, got " + n);
        if (!(sigmaMin > 0 && sigmaMax > sigmaMin && Double.isFinite(sigmaMax))) {
            throw new IllegalArgumentException("Karras sigmas need 0 < sigma_min < sigma_max, got " + sigmaMin + ", " + sigmaMax);
        }
        if (!(rho > 0)) throw new IllegalArgumentException("rho must be positive, got " + rho);
        double lo = Math.pow(sigmaMin, 1 / rho), hi = Math.pow(sigmaMax, 1 / rho);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            double ramp = n == 1 ? 0 : (double) i / (n - 1);
            s[i] = Math.pow(hi + ramp * (lo - hi), rho);
        }
        return s;
    }

    /** The sigmas {@code sqrt((1 - abar_t) / abar_t)} of a schedule's T timesteps, ascending with t. */
    public static double[] of(NoiseSchedule schedule) {
        double[] s = new double[schedule.numTimesteps()];
        for (int t = 0; t < s.length; t++) {
            double a = schedule.alphaBar(t);
            s[t] = a == 0 ? Double.POSITIVE_INFINITY : Math.sqrt((1 - a) / a);
        }
        return s;
    }

    /**
     * The fractional timestep of a sigma on a schedule's table (diffusers' {@code _sigma_to_t}): linear
     * interpolation of log sigma between the two neighbouring timesteps, clamped to [0, T - 1].
     *
     * @param logSigmas log of {@link #of}, ascending
     */
    public static double toTimestep(double sigma, double[] logSigmas) {
        double ls = Math.log(Math.max(sigma, 1e-10));
        int n = logSigmas.length;
        int low = 0;                                   // the last index with logSigmas[low] <= ls, at most n - 2
        for (int k = 0; k < n; k++) if (logSigmas[k] <= ls) low = k;
        low = Math.min(low, n - 2);
        double a = logSigmas[low], b = logSigmas[low + 1];
        double w = (a - ls) / (a - b);
        w = Math.max(0, Math.min(1, w));
        return (1 - w) * low + w * (low + 1);
    }

    /** The sigma of a fractional timestep: the inverse of {@link #toTimestep} inside the table. */
    public static double fromTimestep(double t, double[] logSigmas) {
        int n = logSigmas.length;
        double c = Math.max(0, Math.min(n - 1, t));
        int low = Math.min((int) Math.floor(c), n - 2);
        double w = c - low;
        return Math.exp((1 - w) * logSigmas[low] + w * logSigmas[low + 1]);
    }

    /**
     * {@code out = signal init + noise eps} with eps from Philox at (seed, offset + i): one {@link Backend#qSample}
     * pass with one-entry tables (img2img's start for the schedulers outside the variance-preserving family).
     */
    public static void noiseTo(Tensor out, Tensor init, double signal, double noise, long seed, long offset) {
        Backend b = init.backend();
        try (Tensor a = b.fromArray(new float[] {(float) signal}, 1);
             Tensor s = b.fromArray(new float[] {(float) noise}, 1);
             Tensor idx = b.zeros(Shape.of(init.dim(0)))) {
            b.qSample(out, null, init, null, idx, a, s, Backend.TARGET_EPSILON, seed, offset);
        }
    }
}
