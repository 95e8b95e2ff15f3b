package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", algorithm 2): the multistep second-order solver of the
 * diffusion ODE in data-prediction form, as diffusers' {@code DPMSolverMultistepScheduler} with
 * {@code algorithm_type="dpmsolver++"}, {@code solver_type="midpoint"}.
 *
 * <p>With sigma_k = sqrt((1 - abar_k) / abar_k) at the grid timesteps (plus a final sigma of 0, or of timestep 0 with
 * final_sigmas_type "sigma_min"), alpha = 1 / sqrt(sigma^2 + 1), s = sigma alpha, lambda = log(alpha / s), and
 * m_i = x0^ predicted at step i (no clipping, as in diffusers):
 * <pre>
 *   h = lambda_{i+1} - lambda_i
 *   first order:  x_{i+1} = (s_{i+1} / s_i) x_i - alpha_{i+1} (e^{-h} - 1) m_i
 *   second order: r = (lambda_i - lambda_{i-1}) / h,  D = (1 + 1/(2r)) m_i - 1/(2r) m_{i-1}
 *                 x_{i+1} = (s_{i+1} / s_i) x_i - alpha_{i+1} (e^{-h} - 1) D
 * </pre>
 * The first step is first order (no history yet), and so is the last when the final sigma is 0, or when
 * {@code lower_order_final} is set and there are fewer than 15 steps. The solver keeps the previous x0^ on the
 * backend; it is deterministic (no noise).
 *
 * <p>{@code algorithm_type="sde-dpmsolver++"} ({@link SchedulerConfig#sde}; Lu et al. 2022, section 5) solves the
 * SDE instead and draws noise z every step: {@code x_{i+1} = (s_{i+1} / s_i) e^{-h} x_i + alpha_{i+1} (1 - e^{-2h}) D
 * + s_{i+1} sqrt(1 - e^{-2h}) z}, with D as above.
 *
 * <p>{@code use_karras_sigmas} ({@link SchedulerConfig#useKarrasSigmas}): the sigmas are Karras et al.'s n levels
 * between sigma(0) and sigma(T - 1) ({@link Sigmas#karras}), the timesteps {@link Sigmas#toTimestep} of them, rounded
 * except on the cosine schedule (as diffusers), where the model gets the fractional ones ({@link #modelTimestep});
 * rounded timesteps may repeat near sigma_min, and the steps then follow the grid by position.
 *
 * <p>{@code lambda_min_clipped} ({@link SchedulerConfig#lambdaMinClipped}) starts the spaced grid below the last
 * timesteps whose lambda is under it, as diffusers does: on the cosine schedule the last four of 1,000 have alpha
 * from 0.0047 down to 4.9e-5, where an epsilon model's x0^ = (x - sigma eps^) / alpha multiplies its error by up to
 * 20,000 (v and sample predictions do not divide by alpha).
 */
public final class DpmSolverMultistepScheduler extends AbstractScheduler {
    private double[] sigmas;
    /** The model's timestep of each grid step (fractional for Karras sigmas on the cosine schedule). */
    private float[] modelTimesteps;
    private int stepIndex = -1;
    private int lowerOrderNums;
    private Tensor history, current;

    public DpmSolverMultistepScheduler(SchedulerConfig config) {
        super(config);
        if (config.clipSample()) {
            throw new IllegalArgumentException("DPM-Solver++ does not clip x0: set clip_sample to false (start from "
                    + "DpmSolverMultistepScheduler.defaults())");
        }
        setGrid(timesteps);                        // all T timesteps until setTimesteps is called
    }

    /** diffusers' recommended {@code lambda_min_clipped} for the cosine ({@code squaredcos_cap_v2}) schedule. */
    public static final double COSINE_LAMBDA_MIN_CLIPPED = -5.1;

    /**
     * The {@code lambda_min_clipped} a sampler takes when its configuration sets none (-inf): -5.1 for an epsilon
     * model on the cosine schedule, which otherwise starts where x0^ = (x - sigma eps^) / alpha has alpha = 4.9e-5;
     * -inf (no clipping) for every other schedule or prediction, which never divide by so small an alpha.
     */
    public static double lambdaMinClippedFor(SchedulerConfig c) {
        if (c.lambdaMinClipped() != Double.NEGATIVE_INFINITY) return c.lambdaMinClipped();
        return c.betaSchedule() == BetaSchedule.SQUAREDCOS_CAP_V2 && c.predictionType() == PredictionType.EPSILON
                && c.trainedBetas() == null ? COSINE_LAMBDA_MIN_CLIPPED : Double.NEGATIVE_INFINITY;
    }

    /** diffusers' DPMSolverMultistepScheduler defaults: linspace spacing, no clipping, order 2, lower_order_final. */
    public static SchedulerConfig.Builder defaults() {
        return SchedulerConfig.builder().timestepSpacing(TimestepSpacing.LINSPACE).clipSample(false);
    }

    @Override public void setTimesteps(int numInferenceSteps) {
        customTimesteps = false;
        if (!config.useKarrasSigmas()) {
            setGrid(Timesteps.dpmSolver(config.timestepSpacing(), numTrain, numInferenceSteps, config.stepsOffset(),
                    numTrain - clippedTimesteps()));
            return;
        }
        if (numInferenceSteps < 1 || numInferenceSteps > numTrain) {
            throw new IllegalArgumentException("inference steps " + numInferenceSteps + " outside 1.." + numTrain);
        }
        double[] table = new double[numTrain];
        double[] logSigmas = new double[numTrain];
        for (int t = 0; t < numTrain; t++) {
            table[t] = sigmaOf(schedule.alphaBar(t));
            logSigmas[t] = Math.log(table[t]);
        }
        double[] levels = Sigmas.karras(table[0], table[numTrain - 1], numInferenceSteps, Sigmas.RHO);
        boolean round = config.betaSchedule() != BetaSchedule.SQUAREDCOS_CAP_V2;
        int[] ts = new int[levels.length];
        float[] mt = new float[levels.length];
        for (int k = 0; k < levels.length; k++) {
            double t = Sigmas.toTimestep(levels[k], logSigmas);
            ts[k] = (int) Math.round(t);
            mt[k] = round ? ts[k] : (float) t;
        }
        setGrid(ts, levels, mt);
    }

    /**
     * How many of the last training timesteps {@code lambda_min_clipped} keeps off the grid: those whose
     * lambda = log(alpha) - log(sigma) is below it (diffusers' {@code clipped_idx}, a search in the ascending lambdas).
     */
    int clippedTimesteps() {
        double min = config.lambdaMinClipped();
        if (min == Double.NEGATIVE_INFINITY) return 0;
        int clipped = 0;
        while (clipped < numTrain && lambdaAt(numTrain - 1 - clipped) < min) clipped++;
        if (clipped == numTrain) {
            throw new IllegalArgumentException("lambda_min_clipped " + min + " removes every timestep (the largest lambda is "
                    + lambdaAt(0) + ")");
        }
        return clipped;
    }

    /** lambda = log(alpha / sigma) of training timestep t, from abar as it is (-inf where abar = 0). */
    private double lambdaAt(int t) {
        double abar = schedule.alphaBar(t);
        return 0.5 * Math.log(abar) - 0.5 * Math.log1p(-abar);
    }

    @Override public void setTimesteps(int[] custom) {
        if (config.useKarrasSigmas()) {
            throw new IllegalArgumentException("explicit timesteps cannot be combined with use_karras_sigmas (as in diffusers)");
        }
        if (custom == null) throw new IllegalArgumentException("timesteps must not be null");
        int[] ts = custom.clone();
        Timesteps.validate(ts, numTrain, "custom timesteps");
        setGrid(ts);
        customTimesteps = true;
    }

    private void setGrid(int[] ts) {
        double[] levels = new double[ts.length];
        float[] mt = new float[ts.length];
        for (int k = 0; k < ts.length; k++) {
            levels[k] = sigmaOf(schedule.alphaBar(ts[k]));
            mt[k] = ts[k];
        }
        setGrid(ts, levels, mt);
    }

    private void setGrid(int[] ts, double[] levels, float[] mt) {
        timesteps = ts;
        modelTimesteps = mt;
        sigmas = new double[ts.length + 1];
        System.arraycopy(levels, 0, sigmas, 0, ts.length);
        sigmas[ts.length] = config.finalSigmaZero() ? 0.0 : sigmaOf(schedule.alphaBar(0));
        reset();
    }

    /**
     * The grid position of t: the step about to run (or, with {@code after}, the one just run) when it has this
     * timestep, which tells repeated timesteps apart; else the first with it.
     */
    private int position(int t, boolean after) {
        int k = after ? stepIndex - 1 : stepIndex;
        if (k >= 0 && k < timesteps.length && timesteps[k] == t) return k;
        return indexOf(t);
    }

    @Override public float modelTimestep(int t) { return modelTimesteps[position(t, false)]; }

    /**
     * sigma = sqrt((1 - abar) / abar); abar = 0 (zero terminal SNR) is replaced by 2^-24 as diffusers does, which
     * keeps the first step finite.
     */
    private static double sigmaOf(double abar) {
        double a = abar == 0 ? 0x1p-24 : abar;
        return Math.sqrt((1 - a) / a);
    }

    @Override public void reset() {
        stepIndex = -1;
        lowerOrderNums = 0;
    }

    /** The sigmas of the grid (n + 1 values, the last is the final sigma), a copy. */
    public double[] sigmas() { return sigmas.clone(); }

    /**
     * The fused-step coefficients of step {@code index} of the grid, with {@code secondOrder} selecting the 2M
     * update (which reads the previous x0^ with coefficient d).
     */
    public StepCoefficients coefficients(int index, boolean secondOrder) {
        double sigS = sigmas[index], sigT = sigmas[index + 1];
        double alphaS = 1 / Math.sqrt(sigS * sigS + 1), sS = sigS * alphaS;
        double alphaT = 1 / Math.sqrt(sigT * sigT + 1), sT = sigT * alphaT;
        double abar = alphaS * alphaS;
        double[] x0c = x0Coefficients(abar, timesteps[index]);
        double ratio, expm1;                       // s_t / s_s and e^{-h} - 1
        if (sigT == 0) {
            ratio = 0;
            expm1 = -1;
        } else {
            double h = lambda(alphaT, sT) - lambda(alphaS, sS);
            ratio = sT / sS;
            expm1 = Math.expm1(-h);
        }
        double phi = -alphaT * expm1;              // the coefficient of D
        double noise = 0;
        if (config.sde() && sigT != 0) {
            // SDE: (s_t / s_s) e^{-h} x + alpha_t (1 - e^{-2h}) D + s_t sqrt(1 - e^{-2h}) z
            double h = lambda(alphaT, sT) - lambda(alphaS, sS);
            double em2 = -Math.expm1(-2 * h);
            ratio *= Math.exp(-h);
            phi = alphaT * em2;
            noise = sT * Math.sqrt(em2);
        }
        if (!secondOrder) {
            return StepCoefficients.of(x0c[0], x0c[1], false, 1, phi, ratio, 0, 0, noise);
        }
        double sigP = sigmas[index - 1];
        double alphaP = 1 / Math.sqrt(sigP * sigP + 1), sP = sigP * alphaP;
        double lambdaS = lambda(alphaS, sS);
        double h = lambda(alphaT, sT) - lambdaS, h0 = lambdaS - lambda(alphaP, sP);
        double r0 = h0 / h;
        return StepCoefficients.of(x0c[0], x0c[1], false, 1, phi * (1 + 0.5 / r0), ratio, 0, -phi * 0.5 / r0, noise);
    }

    private static double lambda(double alpha, double s) {
        return Math.log(alpha) - Math.log(s);
    }

    /** Whether step {@code index} of the grid uses the second-order update, given how many steps came before. */
    private boolean secondOrder(int index, int previousSteps) {
        int n = timesteps.length;
        boolean lowerOrderFinal = index == n - 1
                && ((config.lowerOrderFinal() && n < 15) || config.finalSigmaZero());
        return config.solverOrder() == 2 && previousSteps >= 1 && !lowerOrderFinal;
    }

    @Override public void step(Tensor prevSample, Tensor predX0, Tensor modelOutput, int t, Tensor sample,
                               NoiseStream rng) {
        checkSameShape(modelOutput, sample, "model output");
        if (stepIndex < 0) {
            stepIndex = indexOf(t);
        } else if (stepIndex >= timesteps.length || timesteps[stepIndex] != t) {
            throw new IllegalArgumentException("DPM-Solver++ expected timestep "
                    + (stepIndex < timesteps.length ? String.valueOf(timesteps[stepIndex]) : "(none: the grid is done)")
                    + " but got " + t + "; steps must follow timesteps() in order (call reset() to start over)");
        }
        boolean second = secondOrder(stepIndex, lowerOrderNums);
        StepCoefficients k = coefficients(stepIndex, second);
        ensureBuffers(sample.backend(), sample.shape());
        Backend b = sample.backend();
        long offset = 0;
        if (k.drawsNoise()) offset = noiseOffset(rng, sample);
        fusedStep(prevSample, current, sample, modelOutput, second ? history : null, k, rng == null ? 0 : rng.seed(), offset);
        if (predX0 != null) b.copy(predX0, current);
        Tensor tmp = history;
        history = current;
        current = tmp;
        if (lowerOrderNums < config.solverOrder()) lowerOrderNums++;
        stepIndex++;
    }

    private void ensureBuffers(Backend b, Shape shape) {
        if (history == null || !history.shape().equals(shape) || history.backend() != b) {
            if (history != null) {
                history.close();
                current.close();
            }
            if (lowerOrderNums > 0) {
                throw new IllegalArgumentException("sample shape changed to " + shape + " in the middle of a trajectory");
            }
            history = b.zeros(shape);
            current = b.zeros(shape);
        }
    }

    @Override public void close() {
        if (history != null) {
            history.close();
            current.close();
            history = current = null;
        }
        super.close();
    }

    @Override public double outputAlphaBar(int t) {
        double s = sigmas[position(t, true) + 1];
        return 1 / (s * s + 1);
    }
}
