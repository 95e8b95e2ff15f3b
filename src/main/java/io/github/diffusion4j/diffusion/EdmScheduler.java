package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;

/**
 * EDM's sampler (Karras et al. 2022, algorithm 2; k-diffusion's {@code sample_heun} / {@code sample_euler}) in the
 * sigma view {@code x = x0 + sigma eps}, over any {@link SigmaParameterization}: EDM-preconditioned models and, as
 * diffusers' {@code HeunDiscreteScheduler} / {@code EulerDiscreteScheduler}, models trained on a variance-preserving
 * schedule. With the ODE {@code dx/dsigma = d = (x - D(x; sigma)) / sigma} and levels sigma_0 > ... > sigma_{n-1} >
 * sigma_n = 0, step i:
 * <pre>
 *   gamma_i = S_tmin <= sigma_i <= S_tmax ? min(S_churn / n, sqrt(2) - 1) : 0,   sigma^_i = (1 + gamma_i) sigma_i
 *   x^ = x_i + S_noise sqrt(sigma^_i^2 - sigma_i^2) z                              (churn: fresh noise)
 *   d  = (x^ - D(x^; sigma^_i)) / sigma^_i,   x_{i+1} = x^ + (sigma_{i+1} - sigma^_i) d            (Euler)
 *   Heun, where sigma_{i+1} > 0:  d' = (x_{i+1} - D(x_{i+1}; sigma_{i+1})) / sigma_{i+1},
 *                                 x_{i+1} = x^ + (sigma_{i+1} - sigma^_i) (d + d') / 2
 * </pre>
 * Every model evaluation is one fused {@link Backend#diffusionStep}; the churn noise of step i + 1 is drawn by the
 * step that lands on sigma_{i+1} (so it comes before the model sees the sample, as in EDM, not after as in
 * diffusers' Euler churn), and that of step 0 is folded into the initial noise ({@link #initNoiseSigma}). The Heun
 * predictor keeps d in a buffer (the step's "x0" output with d's coefficients); the corrector writes
 * {@code x' + h/2 d' - h/2 d} with h = sigma_{i+1} - sigma^_i, which is the update above without keeping x^.
 *
 * <p>{@link #timesteps()} are step codes, one per model evaluation (descending integers): Heun takes 2n - 1 for n
 * steps (the last interval, to sigma = 0, is Euler), Euler n. {@link #modelTimestep} gives the model's timestep
 * input; {@link #scaleModelInput} multiplies by the input scale into a buffer of the scheduler.
 */
public final class EdmScheduler implements Scheduler {

    /** EDM's stochastic sampling settings (S_churn, S_tmin, S_tmax, S_noise); {@link #NONE}: deterministic. */
    public record Churn(double sChurn, double sTmin, double sTmax, double sNoise) {
        public static final Churn NONE = new Churn(0, 0, Double.POSITIVE_INFINITY, 1);

        public Churn {
            if (!(sChurn >= 0 && Double.isFinite(sChurn))) throw new IllegalArgumentException("s_churn must be >= 0, got " + sChurn);
            if (!(sTmin >= 0 && sTmax >= sTmin)) throw new IllegalArgumentException("need 0 <= s_tmin <= s_tmax, got " + sTmin + ", " + sTmax);
            if (!(sNoise > 0 && Double.isFinite(sNoise))) throw new IllegalArgumentException("s_noise must be positive, got " + sNoise);
        }

        /** gamma_i of a level among n steps. */
        double gamma(double sigma, int n) {
            return sigma >= sTmin && sigma <= sTmax ? Math.min(sChurn / n, Math.sqrt(2) - 1) : 0;
        }
    }

    private static final int EULER = 0, PREDICTOR = 1, CORRECTOR = 2;

    private final SigmaParameterization param;
    private final boolean heun;
    private final Churn churn;
    private final SchedulerConfig config;
    private final double rho;
    private final boolean karras;
    private double[] sigmas, sigmaHat;           // n + 1 levels (the last 0), and the churned level of each step
    private double[] evalSigma;
    private float[] evalTimestep;
    private int[] evalKind, evalStep;
    private int next;                            // the evaluation expected next; -1: any step's first
    private Tensor derivative, scaled;

    /**
     * @param heun   Heun's 2nd-order method (else Euler's)
     * @param karras Karras et al.'s levels between the parameterisation's sigma_min and sigma_max (rho = 7); else,
     *               for a {@link VpSigmaParameterization}, the sigmas of diffusers' linspace timesteps
     */
    public EdmScheduler(SigmaParameterization param, boolean heun, boolean karras, Churn churn, int numTrainTimesteps) {
        if (param == null || churn == null) throw new IllegalArgumentException("parameterisation and churn must be set");
        if (!karras && !(param instanceof VpSigmaParameterization)) {
            throw new IllegalArgumentException("an EDM-preconditioned model samples on Karras sigmas");
        }
        this.param = param;
        this.heun = heun;
        this.karras = karras;
        this.churn = churn;
        this.rho = Sigmas.RHO;
        this.config = SchedulerConfig.builder().numTrainTimesteps(numTrainTimesteps).clipSample(false).build();
        setTimesteps(Math.min(numTrainTimesteps, heun ? 18 : 50));
    }

    public boolean heun() { return heun; }

    public Churn churn() { return churn; }

    @Override public SchedulerConfig config() { return config; }

    @Override public NoiseSchedule schedule() {
        throw new UnsupportedOperationException("the sigma-space sampler keeps no variance-preserving schedule");
    }

    @Override public void setTimesteps(int n) {
        if (n < 1 || n > config.numTrainTimesteps()) {
            throw new IllegalArgumentException("inference steps " + n + " outside 1.." + config.numTrainTimesteps());
        }
        double[] levels;
        float[] ts;
        if (karras) {
            levels = Sigmas.karras(param.sigmaMin(), param.sigmaMax(), n, rho);
            ts = new float[n];
            for (int i = 0; i < n; i++) ts[i] = param.modelTimestep(levels[i]);
        } else {
            // diffusers' linspace timesteps, their sigmas by linear interpolation of the table
            double[] logS = ((VpSigmaParameterization) param).logSigmas();
            int T = logS.length;
            levels = new double[n];
            ts = new float[n];
            for (int i = 0; i < n; i++) {
                double t = n == 1 ? T - 1 : (T - 1) * (1 - (double) i / (n - 1));
                int lo = Math.min((int) Math.floor(t), T - 2);
                double w = t - lo;
                levels[i] = (1 - w) * Math.exp(logS[lo]) + w * Math.exp(logS[lo + 1]);
                ts[i] = (float) t;
            }
        }
        setLevels(levels, ts);
    }

    /** Uses explicit levels (descending, positive) with the model's timestep of each; a final 0 is appended. */
    public void setSigmas(double[] levels) {
        float[] ts = new float[levels.length];
        for (int i = 0; i < levels.length; i++) {
            if (!(levels[i] > 0) || (i > 0 && !(levels[i] < levels[i - 1]))) {
                throw new IllegalArgumentException("sigmas must be positive and strictly descending");
            }
            ts[i] = param.modelTimestep(levels[i]);
        }
        setLevels(levels, ts);
    }

    private void setLevels(double[] levels, float[] ts) {
        int n = levels.length;
        sigmas = new double[n + 1];
        System.arraycopy(levels, 0, sigmas, 0, n);
        sigmaHat = new double[n];
        for (int i = 0; i < n; i++) sigmaHat[i] = sigmas[i] * (1 + churn.gamma(sigmas[i], n));
        int evals = heun ? 2 * n - 1 : n;
        evalSigma = new double[evals];
        evalTimestep = new float[evals];
        evalKind = new int[evals];
        evalStep = new int[evals];
        int k = 0;
        for (int i = 0; i < n; i++) {
            boolean churned = sigmaHat[i] != sigmas[i];
            evalSigma[k] = sigmaHat[i];
            evalTimestep[k] = churned ? param.modelTimestep(sigmaHat[i]) : ts[i];
            evalStep[k] = i;
            evalKind[k++] = heun && i < n - 1 ? PREDICTOR : EULER;
            if (heun && i < n - 1) {
                evalSigma[k] = sigmas[i + 1];
                evalTimestep[k] = ts[i + 1];
                evalStep[k] = i;
                evalKind[k++] = CORRECTOR;
            }
        }
        reset();
    }

    @Override public void setTimesteps(int[] timesteps) {
        throw new UnsupportedOperationException("the sigma-space sampler takes a number of steps or explicit sigmas");
    }

    /** The levels of the grid (n + 1 values, the last 0), a copy. */
    public double[] sigmas() { return sigmas.clone(); }

    /** The churned level sigma^_i of each step (equal to sigma_i without churn), a copy. */
    public double[] churnedSigmas() { return sigmaHat.clone(); }

    @Override public int[] timesteps() {
        int[] c = new int[evalSigma.length];
        for (int k = 0; k < c.length; k++) c[k] = c.length - 1 - k;
        return c;
    }

    @Override public int numInferenceSteps() { return sigmaHat.length; }

    @Override public int order() { return heun ? 2 : 1; }

    @Override public void reset() { next = -1; }

    private int evaluation(int code) {
        int k = evalSigma.length - 1 - code;
        if (code < 0 || k < 0) throw new IllegalArgumentException("timestep " + code + " is not an evaluation of the grid");
        return k;
    }

    /** The standard deviation of the sample at the start of step i: sigma_i plus its churn noise. */
    private double startLevel(int i) {
        double s = sigmas[i], h = sigmaHat[i], sn = churn.sNoise();
        return Math.sqrt(s * s + sn * sn * (h * h - s * s));
    }

    /** sigma_0 with the first step's churn folded in (EDM starts from sigma_0 z and then churns). */
    @Override public float initNoiseSigma() { return (float) startLevel(0); }

    @Override public float modelTimestep(int t) { return evalTimestep[evaluation(t)]; }

    @Override public Tensor scaleModelInput(Tensor sample, int t) {
        double c = param.inputScale(evalSigma[evaluation(t)]);
        if (c == 1) return sample;
        Backend b = sample.backend();
        if (scaled == null || !scaled.shape().equals(sample.shape()) || scaled.backend() != b) {
            if (scaled != null) scaled.close();
            scaled = b.empty(sample.shape());
        }
        b.scale(scaled, sample, (float) c);
        return scaled;
    }

    /** The churn noise std that the step landing on sigma_{i+1} adds (0 after the last step). */
    private double churnNoise(int nextStep) {
        if (nextStep >= sigmaHat.length) return 0;
        double s = sigmas[nextStep], h = sigmaHat[nextStep];
        return churn.sNoise() * Math.sqrt(h * h - s * s);
    }

    @Override public void step(Tensor prevSample, Tensor predX0, Tensor modelOutput, int t, Tensor sample, NoiseStream rng) {
        if (!modelOutput.shape().equals(sample.shape())) {
            throw new IllegalArgumentException("model output " + modelOutput.shape() + " for sample " + sample.shape());
        }
        int k = evaluation(t);
        if (next < 0 ? evalKind[k] == CORRECTOR : k != next) {
            throw new IllegalArgumentException("expected evaluation " + (next < 0 ? "of a step's start" : String.valueOf(next))
                    + " of " + evalSigma.length + " but got " + k + "; steps must follow timesteps() in order (call reset() to start over)");
        }
        Backend b = sample.backend();
        int i = evalStep[k];
        double s = sigmaHat[i], sn = sigmas[i + 1], h = sn - s;
        double[] pq = param.denoiserCoefficients(evalSigma[k]);
        switch (evalKind[k]) {
            case EULER -> {
                // x_{i+1} = x + h (x - D) / s = (1 + h/s) x - (h/s) D, then the next step's churn
                double noise = churnNoise(i + 1);
                long offset = noise != 0 ? noiseOffset(rng, sample) : 0;
                b.diffusionStep(prevSample, predX0, sample, modelOutput, null,
                        StepCoefficients.of(pq[0], pq[1], false, 1, -h / s, 1 + h / s, 0, 0, noise),
                        rng == null ? 0 : rng.seed(), offset);
            }
            case PREDICTOR -> {
                if (derivative == null || !derivative.shape().equals(sample.shape()) || derivative.backend() != b) {
                    if (derivative != null) derivative.close();
                    derivative = b.empty(sample.shape());
                }
                // d = ((1 - p) x - q F) / s kept as the "x0" output; x' = x + h d
                b.diffusionStep(prevSample, derivative, sample, modelOutput, null,
                        StepCoefficients.of((1 - pq[0]) / s, -pq[1] / s, false, 1, h, 1, 0, 0, 0), 0, 0);
                // the x0 estimate x - s d = x' - sigma_{i+1} d (x may have been overwritten by x')
                if (predX0 != null) b.axpby(predX0, 1f, prevSample, (float) -sn, derivative);
            }
            default -> {
                // x_{i+1} = x' + h/2 d' - h/2 d = (1 + h/(2 sn)) x' - h/(2 sn) D' - h/2 d, then the next step's churn
                double noise = churnNoise(i + 1);
                long offset = noise != 0 ? noiseOffset(rng, sample) : 0;
                b.diffusionStep(prevSample, predX0, sample, modelOutput, derivative,
                        StepCoefficients.of(pq[0], pq[1], false, 1, -h / (2 * sn), 1 + h / (2 * sn), 0, -h / 2, noise),
                        rng == null ? 0 : rng.seed(), offset);
            }
        }
        next = k + 1;
    }

    private static long noiseOffset(NoiseStream rng, Tensor sample) {
        if (rng == null) throw new IllegalArgumentException("stochastic sampling (s_churn > 0) draws noise: pass a NoiseStream");
        return rng.take(sample.numel());
    }

    @Override public double outputAlphaBar(int t) {
        throw new UnsupportedOperationException("the sigma-space sampler is not variance-preserving: use outputLevels");
    }

    @Override public double[] outputLevels(int t) {
        int k = evaluation(t);
        int i = evalStep[k];
        double level = evalKind[k] == PREDICTOR ? sigmas[i + 1] : i + 1 < sigmaHat.length ? startLevel(i + 1) : 0;
        return new double[] {1, level};
    }

    @Override public void noiseTo(Tensor out, Tensor init, int t, long seed, long offset) {
        int k = evaluation(t);
        if (evalKind[k] == CORRECTOR) throw new IllegalArgumentException("img2img starts at a step, not at a Heun corrector");
        Sigmas.noiseTo(out, init, 1, startLevel(evalStep[k]), seed, offset);
    }

    @Override public void close() {
        for (Tensor x : new Tensor[] {derivative, scaled}) if (x != null) x.close();
        derivative = scaled = null;
    }
}
