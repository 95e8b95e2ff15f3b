package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Tensor;

/**
 * The sampling side of flow matching / rectified flow (Lipman et al. 2023, Liu et al. 2022): a sample at noise
 * level sigma in [0, 1] is {@code x = (1 - sigma) x0 + sigma eps}, the model predicts the velocity
 * {@code v = eps - x0}, and sampling integrates dx/dsigma = v from sigma = 1 (pure noise) to 0. The sigma tables
 * follow diffusers' {@code FlowMatchEulerDiscreteScheduler} / {@code FlowMatchHeunDiscreteScheduler} (config names
 * {@code num_train_timesteps}, {@code shift}): training sigmas {@code s = (T, T-1, ..., 1) / T} shifted by
 * {@code shift s / (1 + (shift - 1) s)}; an inference grid of n steps is {@code linspace(sigma_max, sigma_min, n)}
 * (the shifted training extremes) shifted once more, then a final 0; the model's timestep input is
 * {@code sigma * T}.
 *
 * <p>The grid's {@link #timesteps()} are step codes (descending integers, one per model evaluation), because the
 * {@link Scheduler} contract has integer timesteps; {@link #modelTimestep} gives the model's fractional timestep
 * and {@link #sigmas()} the levels.
 */
public abstract class FlowMatchScheduler implements Scheduler {
    protected final int numTrain;
    protected final double shift;
    private final SchedulerConfig config;
    /** The shifted training sigmas, T of them from 1 down to shift(1 / T). */
    protected final double[] trainSigmas;
    /** The levels of the n inference steps, then 0 (n + 1 values). */
    protected double[] levels;

    protected FlowMatchScheduler(int numTrainTimesteps, double shift) {
        if (numTrainTimesteps < 1) throw new IllegalArgumentException("num_train_timesteps must be >= 1");
        if (!(shift > 0 && Double.isFinite(shift))) throw new IllegalArgumentException("shift must be positive, got " + shift);
        this.numTrain = numTrainTimesteps;
        this.shift = shift;
        this.config = SchedulerConfig.builder().numTrainTimesteps(numTrainTimesteps).clipSample(false).build();
        this.trainSigmas = trainingSigmas(numTrainTimesteps, shift);
    }

    /** The shifted training sigmas: {@code shift(k / T)} for k = T ... 1. */
    public static double[] trainingSigmas(int numTrain, double shift) {
        double[] s = new double[numTrain];
        for (int i = 0; i < numTrain; i++) s[i] = shifted((double) (numTrain - i) / numTrain, shift);
        return s;
    }

    /** The timestep shift of SD3: {@code shift s / (1 + (shift - 1) s)} (1: none). */
    public static double shifted(double s, double shift) {
        return shift * s / (1 + (shift - 1) * s);
    }

    /** The n inference levels and the final 0, as diffusers' set_timesteps computes them. */
    protected double[] grid(int n) {
        if (n < 1 || n > numTrain) {
            throw new IllegalArgumentException("inference steps " + n + " outside 1.." + numTrain);
        }
        double max = trainSigmas[0], min = trainSigmas[numTrain - 1];
        double[] g = new double[n + 1];
        for (int i = 0; i < n; i++) {
            double lin = n == 1 ? max : max + (min - max) * i / (n - 1);
            g[i] = shifted(lin, shift);
        }
        g[n] = 0;
        return g;
    }

    public double shift() { return shift; }

    /** The levels of the current grid (n + 1 values, the last 0), a copy. */
    public double[] sigmas() { return levels.clone(); }

    /** Only {@code num_train_timesteps} of it applies: flow matching has no beta schedule. */
    @Override public SchedulerConfig config() { return config; }

    @Override public NoiseSchedule schedule() {
        throw new UnsupportedOperationException("flow matching has no variance-preserving noise schedule (betas, alpha_bar)");
    }

    @Override public void setTimesteps(int[] timesteps) {
        throw new UnsupportedOperationException("flow-matching schedulers take a number of steps, not explicit timesteps");
    }

    @Override public double outputAlphaBar(int t) {
        throw new UnsupportedOperationException("flow matching is not variance-preserving: use outputLevels");
    }

    /** Flow matching's forward process at level sigma: {@code (1 - sigma) init + sigma eps}. */
    protected static void noiseAt(Tensor out, Tensor init, double sigma, long seed, long offset) {
        Sigmas.noiseTo(out, init, 1 - sigma, sigma, seed, offset);
    }

    @Override public void close() {}
}
