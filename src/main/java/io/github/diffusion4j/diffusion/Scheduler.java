package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The sampling half of the model/scheduler split (as in diffusers): it owns the noise schedule and the inference
 * timesteps and turns a model output into the next, less noisy sample. On every backend {@link #step} is one fused
 * {@link Backend#diffusionStep} pass.
 *
 * <p>Usage: {@code setTimesteps(n)}, then for each {@code t} of {@code timesteps()} in order: run the model on
 * {@code scaleModelInput(x, t)}, then {@code x = step(out, t, x, rng)}. Start from Gaussian noise times
 * {@link #initNoiseSigma()}.
 */
public interface Scheduler extends AutoCloseable {

    SchedulerConfig config();

    /** The forward-process constants (betas, abar, ...). */
    NoiseSchedule schedule();

    /**
     * Chooses {@code numInferenceSteps} timesteps by the configured {@code timestep_spacing} and resets any solver
     * state.
     *
     * @throws IllegalArgumentException when numInferenceSteps is below 1 or above num_train_timesteps
     */
    void setTimesteps(int numInferenceSteps);

    /**
     * Uses explicit timesteps (diffusers' {@code timesteps=} argument) and resets any solver state.
     *
     * @throws IllegalArgumentException when they are empty, not strictly descending or outside [0, T)
     */
    void setTimesteps(int[] timesteps);

    /** The current inference timesteps, descending (a copy). Before any setTimesteps: all T, T-1 ... 0. */
    int[] timesteps();

    /** The number of inference steps of the current grid. */
    default int numInferenceSteps() { return timesteps().length; }

    /**
     * Model evaluations per step (diffusers' {@code order}): 2 for Heun, whose {@link #timesteps()} interleave a
     * predictor and a corrector per step; img2img starts at step k, which is {@code timesteps()[k * order()]}.
     */
    default int order() { return 1; }

    /** The standard deviation of the initial noise (1 for the variance-preserving schedulers here). */
    default float initNoiseSigma() { return 1f; }

    /**
     * The model's timestep input for grid timestep {@code t}: t itself for the DDPM-family schedulers; flow matching
     * gives sigma * num_train_timesteps (fractional), as diffusers' flow-match schedulers' {@code timesteps} hold it.
     */
    default float modelTimestep(int t) { return t; }

    /**
     * Whether {@link #step} reads a learned variance: the model output then has twice the sample's channels (DDPM
     * with variance_type learned_range or learned). Otherwise a learned-variance model's output reaches the step
     * as its first half (the {@link Sampler} splits it off).
     */
    default boolean readsVariance() { return false; }

    /** Scales the model input for schedulers that need it; the identity here (diffusers' scale_model_input). */
    default Tensor scaleModelInput(Tensor sample, int t) { return sample; }

    /** Clears solver state (multistep history) so that a new trajectory can start; setTimesteps implies it. */
    default void reset() {}

    /**
     * One reverse step from timestep {@code t}: writes the previous (less noisy) sample to {@code prevSample} and,
     * when {@code predX0} is not null, the predicted clean sample. Outputs may alias {@code sample} (in-place
     * update). Noise, if the step draws any, takes {@code sample.numel()} indices from {@code rng}.
     *
     * @param modelOutput the model's prediction (of the configured prediction type) at (sample, t)
     * @param t           a timestep of the current grid
     * @param rng         the noise stream; may be null for deterministic steps (DDIM eta = 0, DPM-Solver++)
     */
    void step(Tensor prevSample, Tensor predX0, Tensor modelOutput, int t, Tensor sample, NoiseStream rng);

    /** As {@link #step(Tensor, Tensor, Tensor, int, Tensor, NoiseStream)} into new tensors. */
    default StepOutput step(Tensor modelOutput, int t, Tensor sample, NoiseStream rng) {
        Backend b = sample.backend();
        Tensor prev = b.empty(sample.shape());
        Tensor x0 = b.empty(sample.shape());
        step(prev, x0, modelOutput, t, sample, rng);
        return new StepOutput(prev, x0);
    }

    /**
     * abar of the noise level that {@link #step} at {@code t} lands on (1 for clean data). Inpainting uses it to
     * re-noise the known region to the level of the new sample.
     */
    double outputAlphaBar(int t);

    /**
     * The noise level that {@link #step} at {@code t} lands on as (signal, noise) coefficients: a sample there is
     * {@code signal * x0 + noise * eps}. Variance-preserving: (sqrt(abar), sqrt(1 - abar)) of
     * {@link #outputAlphaBar}; flow matching: (1 - sigma, sigma).
     */
    default double[] outputLevels(int t) {
        double ab = outputAlphaBar(t);
        return new double[] {Math.sqrt(ab), Math.sqrt(1 - ab)};
    }

    /**
     * Noises {@code init} to the level of grid timestep {@code t} (img2img's start): {@code out = signal * init +
     * noise * eps}, eps drawn from Philox at (seed, offset + i). The default takes the variance-preserving schedule's
     * tables.
     */
    default void noiseTo(Tensor out, Tensor init, int t, long seed, long offset) {
        Backend b = init.backend();
        try (Tensor tt = b.empty(io.github.diffusion4j.tensor.Shape.of(init.dim(0)))) {
            b.fill(tt, t);
            NoiseSchedule s = schedule();
            b.qSample(out, null, init, null, tt, s.sqrtAlphasCumprodTensor(b), s.sqrtOneMinusAlphasCumprodTensor(b),
                    Backend.TARGET_EPSILON, seed, offset);
        }
    }

    /**
     * The forward process q(x_t | x_0) with one timestep per sample (diffusers' {@code add_noise}):
     * {@code out = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise}. {@code out} may alias x0 or noise.
     *
     * @param timesteps [N] timesteps as floats, N = x0.dim(0)
     */
    default void addNoise(Tensor out, Tensor x0, Tensor noise, Tensor timesteps) {
        if (noise == null) throw new IllegalArgumentException("addNoise needs a noise tensor");
        Backend b = x0.backend();
        NoiseSchedule s = schedule();
        b.qSample(out, null, x0, noise, timesteps, s.sqrtAlphasCumprodTensor(b), s.sqrtOneMinusAlphasCumprodTensor(b),
                Backend.TARGET_EPSILON, 0, 0);
    }

    /** Releases the device copies of the schedule tables and any solver buffers. */
    @Override default void close() { schedule().close(); }

    /** {@link #addNoise(Tensor, Tensor, Tensor, Tensor)} into a new tensor. */
    default Tensor addNoise(Tensor x0, Tensor noise, Tensor timesteps) {
        Tensor out = x0.backend().empty(x0.shape());
        addNoise(out, x0, noise, timesteps);
        return out;
    }
}
