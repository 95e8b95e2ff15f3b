package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Tensor;

/** Shared state of the schedulers: configuration, schedule, the inference grid and coefficient helpers. */
abstract class AbstractScheduler implements Scheduler {
    protected final SchedulerConfig config;
    protected final NoiseSchedule schedule;
    protected final int numTrain;
    protected int[] timesteps;
    /** True when the grid came from {@link #setTimesteps(int[])}. */
    protected boolean customTimesteps;

    AbstractScheduler(SchedulerConfig config) {
        this.config = config;
        this.schedule = NoiseSchedule.of(config);
        this.numTrain = config.numTrainTimesteps();
        this.timesteps = new int[numTrain];
        for (int k = 0; k < numTrain; k++) timesteps[k] = numTrain - 1 - k;
    }

    @Override public SchedulerConfig config() { return config; }

    @Override public NoiseSchedule schedule() { return schedule; }

    @Override public void setTimesteps(int numInferenceSteps) {
        timesteps = Timesteps.spaced(config.timestepSpacing(), numTrain, numInferenceSteps, config.stepsOffset());
        customTimesteps = false;
        reset();
    }

    @Override public void setTimesteps(int[] custom) {
        if (custom == null) throw new IllegalArgumentException("timesteps must not be null");
        int[] ts = custom.clone();
        Timesteps.validate(ts, numTrain, "custom timesteps");
        timesteps = ts;
        customTimesteps = true;
        reset();
    }

    @Override public int[] timesteps() { return timesteps.clone(); }

    @Override public int numInferenceSteps() { return timesteps.length; }

    /** Position of t in the grid. */
    protected int indexOf(int t) {
        for (int k = 0; k < timesteps.length; k++) if (timesteps[k] == t) return k;
        throw new IllegalArgumentException("timestep " + t + " is not one of the scheduler's " + timesteps.length
                + " inference timesteps (call setTimesteps first)");
    }

    /** The timestep after t in the grid, or -1 after the last (DDPM's previous_timestep for a grid). */
    protected int nextInGrid(int t) {
        int k = indexOf(t);
        return k == timesteps.length - 1 ? -1 : timesteps[k + 1];
    }

    /**
     * The coefficients (of sample, of model output) that give x0 from a model output of the configured prediction
     * type at a noise level abar: epsilon: ((1/sqrt(abar)), -sqrt(1-abar)/sqrt(abar)); sample: (0, 1);
     * v: (sqrt(abar), -sqrt(1-abar)).
     */
    protected double[] x0Coefficients(double abar, int t) {
        double sa = Math.sqrt(abar), sb = Math.sqrt(1 - abar);
        return switch (config.predictionType()) {
            case EPSILON -> {
                if (abar == 0) {
                    throw new IllegalStateException("epsilon prediction cannot recover x0 at timestep " + t
                            + " where alpha_bar = 0 (zero terminal SNR); use v_prediction or sample");
                }
                yield new double[] {1 / sa, -sb / sa};
            }
            case SAMPLE -> new double[] {0, 1};
            case V_PREDICTION -> new double[] {sa, -sb};
        };
    }

    protected static void checkSameShape(Tensor a, Tensor b, String what) {
        if (!a.shape().equals(b.shape())) {
            throw new IllegalArgumentException(what + " shape " + a.shape() + " differs from sample shape " + b.shape());
        }
    }

    protected static long noiseOffset(NoiseStream rng, Tensor sample) {
        if (rng == null) {
            throw new IllegalArgumentException("this step draws noise: pass a NoiseStream");
        }
        return rng.take(sample.numel());
    }
}
