package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;

/** Shared state of the schedulers: configuration, schedule, the inference grid and coefficient helpers. */
abstract class AbstractScheduler implements Scheduler {
    protected final SchedulerConfig config;
    protected final NoiseSchedule schedule;
    protected final int numTrain;
    protected int[] timesteps;
    /** True when the grid came from {@link #setTimesteps(int[])}. */
    protected boolean customTimesteps;
    /** The thresholded x0 of a step, and a learned-variance output's halves (dynamic thresholding only). */
    private Tensor thresholded;
    private Tensor[] halves;

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

    /**
     * {@link Backend#diffusionStep}, or with the configuration's dynamic thresholding (which replaces clipping, as in
     * diffusers): x0 into a buffer ({@link Backend#axpby}), {@link Backend#dynamicThreshold} on it, then the fused
     * step reading the thresholded x0 through its prevX0 operand (coefficient {@code k.a}), or, for a multistep step
     * that already reads its history there (which has no raw model-output term), as its model output.
     */
    protected void fusedStep(Tensor prev, Tensor predX0, Tensor sample, Tensor modelOut, Tensor prevX0,
                             StepCoefficients k, long seed, long offset) {
        Backend b = sample.backend();
        if (!config.thresholding()) {
            b.diffusionStep(prev, predX0, sample, modelOut, prevX0, k, seed, offset);
            return;
        }
        if (thresholded == null || !thresholded.shape().equals(sample.shape()) || thresholded.backend() != b) {
            if (thresholded != null) thresholded.close();
            thresholded = b.empty(sample.shape());
        }
        Tensor pred = modelOut;
        if (k.learnedVariance()) {   // the prediction is the first half of a learned-variance output
            if (halves == null || !halves[0].shape().equals(sample.shape()) || halves[0].backend() != b) {
                closeHalves();
                halves = new Tensor[] {b.empty(sample.shape()), b.empty(sample.shape())};
            }
            b.splitChannels(halves, modelOut);
            pred = halves[0];
        }
        b.axpby(thresholded, k.x0FromSample(), sample, k.x0FromModel(), pred);
        b.dynamicThreshold(thresholded, (float) config.dynamicThresholdingRatio(), (float) config.sampleMaxValue());
        if (prevX0 == null) {
            b.diffusionStep(prev, null, sample, modelOut, thresholded, new StepCoefficients(k.x0FromSample(), k.x0FromModel(),
                    false, 1f, 0f, k.b(), k.c(), k.a(), k.sigma(), k.learnedVariance(), k.lvBase(), k.lvScale()), seed, offset);
            if (predX0 != null) b.copy(predX0, thresholded);
        } else {
            if (k.c() != 0f) throw new IllegalStateException("a multistep step with a model-output term cannot be thresholded");
            b.diffusionStep(prev, predX0, sample, thresholded, prevX0, new StepCoefficients(0f, 1f, false, 1f, k.a(), k.b(),
                    0f, k.d(), k.sigma()), seed, offset);
        }
    }

    /** Releases the thresholding buffers; subclasses with buffers of their own call it from close. */
    protected void closeBuffers() {
        if (thresholded != null) {
            thresholded.close();
            thresholded = null;
        }
        closeHalves();
    }

    private void closeHalves() {
        if (halves != null) for (Tensor h : halves) h.close();
        halves = null;
    }

    @Override public void close() {
        closeBuffers();
        schedule.close();
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
