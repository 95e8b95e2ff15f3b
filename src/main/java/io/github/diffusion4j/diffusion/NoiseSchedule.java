package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;

import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The forward-process constants of a discrete diffusion with T steps, indexed t = 0 ... T-1 as in diffusers
 * (DDPM's t = 1 ... T shifted by one): betas and every table derived from them. All tables are computed once in
 * double precision and stored as float (style of denoising-diffusion-pytorch); the double values stay available
 * through the scalar accessors, which schedulers use to form their step coefficients.
 *
 * <p>Tables ({@code abar} = alpha-bar = cumulative product of alpha = 1 - beta):
 * <ul>
 *   <li>{@code betas}, {@code alphas}, {@code alphasCumprod} (abar_t), {@code alphasCumprodPrev} (abar_{t-1},
 *       with abar_{-1} = 1)</li>
 *   <li>{@code sqrtAlphasCumprod}, {@code sqrtOneMinusAlphasCumprod}, {@code sqrtRecipAlphasCumprod} (1/sqrt(abar)),
 *       {@code sqrtRecipm1AlphasCumprod} (sqrt(1/abar - 1)), {@code logOneMinusAlphasCumprod}</li>
 *   <li>{@code posteriorVariance} of q(x_{t-1} | x_t, x_0): beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t);
 *       exactly 0 at t = 0 ("fixed small")</li>
 *   <li>{@code posteriorLogVarianceClipped}: log beta~_t with the t = 0 entry replaced by beta~_1 (the value
 *       improved-diffusion uses, since log 0 is -infinity)</li>
 *   <li>{@code fixedLargeVariance}: improved-diffusion's "fixed large" variance, [beta~_1, beta_1, ..., beta_{T-1}]</li>
 *   <li>{@code posteriorMeanCoef1} = beta_t sqrt(abar_{t-1}) / (1 - abar_t) and {@code posteriorMeanCoef2} =
 *       (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t): the posterior mean is coef1 x0 + coef2 x_t</li>
 *   <li>{@code snr} = abar / (1 - abar)</li>
 * </ul>
 */
public final class NoiseSchedule implements AutoCloseable {
    /** Improved DDPM's offset s in the cosine schedule. */
    public static final double COSINE_S = 0.008;
    /** Cap on beta for the cosine schedule. */
    public static final double MAX_BETA = 0.999;

    private final double[] betas;
    private final double[] alphaBar;
    private final float[] betasF, alphasF, alphasCumprodF, alphasCumprodPrevF, sqrtAlphasCumprodF,
            sqrtOneMinusAlphasCumprodF, sqrtRecipAlphasCumprodF, sqrtRecipm1AlphasCumprodF, logOneMinusAlphasCumprodF,
            posteriorVarianceF, posteriorLogVarianceClippedF, fixedLargeVarianceF, posteriorMeanCoef1F,
            posteriorMeanCoef2F, snrF;
    private final Map<Backend, Tensor[]> deviceTables = new IdentityHashMap<>();

    private NoiseSchedule(double[] betas) {
        int n = betas.length;
        if (n < 2) throw new IllegalArgumentException("a noise schedule needs at least 2 timesteps, got " + n);
        for (int t = 0; t < n; t++) {
            if (!(betas[t] > 0 && betas[t] <= 1)) {
                throw new IllegalArgumentException("beta_" + t + " = " + betas[t] + " is outside (0, 1]");
            }
        }
        this.betas = betas.clone();
        this.alphaBar = new double[n];
        double[] alphas = new double[n], abarPrev = new double[n], postVar = new double[n];
        double prod = 1;
        for (int t = 0; t < n; t++) {
            alphas[t] = 1 - betas[t];
            abarPrev[t] = prod;
            prod *= alphas[t];
            alphaBar[t] = prod;
        }
        betasF = new float[n];
        alphasF = new float[n];
        alphasCumprodF = new float[n];
        alphasCumprodPrevF = new float[n];
        sqrtAlphasCumprodF = new float[n];
        sqrtOneMinusAlphasCumprodF = new float[n];
        sqrtRecipAlphasCumprodF = new float[n];
        sqrtRecipm1AlphasCumprodF = new float[n];
        logOneMinusAlphasCumprodF = new float[n];
        posteriorVarianceF = new float[n];
        posteriorLogVarianceClippedF = new float[n];
        fixedLargeVarianceF = new float[n];
        posteriorMeanCoef1F = new float[n];
        posteriorMeanCoef2F = new float[n];
        snrF = new float[n];
        for (int t = 0; t < n; t++) {
            double ab = alphaBar[t], abp = abarPrev[t], b = betas[t];
            postVar[t] = b * (1 - abp) / (1 - ab);
            betasF[t] = (float) b;
            alphasF[t] = (float) alphas[t];
            alphasCumprodF[t] = (float) ab;
            alphasCumprodPrevF[t] = (float) abp;
            sqrtAlphasCumprodF[t] = (float) Math.sqrt(ab);
            sqrtOneMinusAlphasCumprodF[t] = (float) Math.sqrt(1 - ab);
            sqrtRecipAlphasCumprodF[t] = (float) (1 / Math.sqrt(ab));
            sqrtRecipm1AlphasCumprodF[t] = (float) Math.sqrt(1 / ab - 1);
            logOneMinusAlphasCumprodF[t] = (float) Math.log(1 - ab);
            posteriorVarianceF[t] = (float) postVar[t];
            posteriorMeanCoef1F[t] = (float) (b * Math.sqrt(abp) / (1 - ab));
            posteriorMeanCoef2F[t] = (float) ((1 - abp) * Math.sqrt(alphas[t]) / (1 - ab));
            snrF[t] = (float) (ab / (1 - ab));
        }
        for (int t = 0; t < n; t++) {
            posteriorLogVarianceClippedF[t] = (float) Math.log(t == 0 ? postVar[1] : postVar[t]);
            fixedLargeVarianceF[t] = (float) (t == 0 ? postVar[1] : betas[t]);
        }
    }

    // ------------------------------------------------------------------ construction

    /** The schedule of a scheduler configuration (betas, optionally rescaled to zero terminal SNR). */
    public static NoiseSchedule of(SchedulerConfig c) {
        double[] b = c.trainedBetas() != null ? c.trainedBetas()
                : betas(c.betaSchedule(), c.numTrainTimesteps(), c.betaStart(), c.betaEnd());
        if (c.rescaleBetasZeroSnr()) b = rescaleZeroTerminalSnr(b);
        return new NoiseSchedule(b);
    }

    /** A schedule of the given kind, T steps, betas from betaStart to betaEnd (ignored by the cosine schedule). */
    public static NoiseSchedule create(BetaSchedule kind, int numTrainTimesteps, double betaStart, double betaEnd,
                                       boolean rescaleZeroTerminalSnr) {
        double[] b = betas(kind, numTrainTimesteps, betaStart, betaEnd);
        return new NoiseSchedule(rescaleZeroTerminalSnr ? rescaleZeroTerminalSnr(b) : b);
    }

    /** Ho et al.'s schedule: linear betas 1e-4 ... 0.02 over T = 1000 steps. */
    public static NoiseSchedule linear() {
        return create(BetaSchedule.LINEAR, 1000, 1e-4, 0.02, false);
    }

    /** A schedule from explicit betas (diffusers' {@code trained_betas}). */
    public static NoiseSchedule fromBetas(double[] betas) {
        return new NoiseSchedule(betas);
    }

    /** The betas of a schedule kind, in double precision. */
    public static double[] betas(BetaSchedule kind, int t, double betaStart, double betaEnd) {
        if (t < 2) throw new IllegalArgumentException("num_train_timesteps must be at least 2, got " + t);
        if (kind != BetaSchedule.SQUAREDCOS_CAP_V2) {
            if (!(betaStart > 0 && betaEnd > 0 && betaStart <= 1 && betaEnd <= 1)) {
                throw new IllegalArgumentException("beta_start and beta_end must be in (0, 1], got " + betaStart
                        + " and " + betaEnd);
            }
        }
        double[] b = new double[t];
        switch (kind) {
            case LINEAR -> {
                for (int i = 0; i < t; i++) b[i] = betaStart + (betaEnd - betaStart) * i / (t - 1);
            }
            case SCALED_LINEAR -> {
                double s0 = Math.sqrt(betaStart), s1 = Math.sqrt(betaEnd);
                for (int i = 0; i < t; i++) {
                    double s = s0 + (s1 - s0) * i / (t - 1);
                    b[i] = s * s;
                }
            }
            case SIGMOID -> {
                for (int i = 0; i < t; i++) {
                    double x = -6 + 12.0 * i / (t - 1);
                    b[i] = 1 / (1 + Math.exp(-x)) * (betaEnd - betaStart) + betaStart;
                }
            }
            case SQUAREDCOS_CAP_V2 -> {
                for (int i = 0; i < t; i++) {
                    double t1 = (double) i / t, t2 = (double) (i + 1) / t;
                    b[i] = Math.min(1 - cosineAlphaBar(t2) / cosineAlphaBar(t1), MAX_BETA);
                }
            }
        }
        return b;
    }

    /** Improved DDPM's f(u) = cos^2(((u + s) / (1 + s)) pi / 2) for u = t / T in [0, 1] (not normalised by f(0)). */
    public static double cosineAlphaBar(double u) {
        double c = Math.cos((u + COSINE_S) / (1 + COSINE_S) * Math.PI / 2);
        return c * c;
    }

    /**
     * Rescales betas to zero terminal SNR (Lin et al. 2023, algorithm 1): sqrt(abar) is shifted and scaled so that
     * its first value is kept and its last becomes exactly 0; betas are recovered from the ratios. The last beta is
     * then 1 and abar_{T-1} = 0, so epsilon-prediction cannot recover x0 at t = T-1 (use v-prediction).
     */
    public static double[] rescaleZeroTerminalSnr(double[] betas) {
        int n = betas.length;
        double[] s = new double[n];
        double prod = 1;
        for (int t = 0; t < n; t++) {
            prod *= 1 - betas[t];
            s[t] = Math.sqrt(prod);
        }
        double s0 = s[0], sT = s[n - 1];
        double[] out = new double[n];
        double prevAbar = 1;
        for (int t = 0; t < n; t++) {
            double v = (s[t] - sT) * s0 / (s0 - sT);
            double abar = t == n - 1 ? 0.0 : v * v;
            out[t] = 1 - abar / prevAbar;
            prevAbar = abar;
        }
        return out;
    }

    // ------------------------------------------------------------------ scalar access (double)

    /** T, the number of training timesteps. */
    public int numTimesteps() { return betas.length; }

    public double beta(int t) { return betas[check(t)]; }

    /** abar_t; by convention abar_{-1} = 1 (t = -1 is the clean data). */
    public double alphaBar(int t) { return t == -1 ? 1.0 : alphaBar[check(t)]; }

    /** SNR(t) = abar_t / (1 - abar_t). */
    public double snr(int t) {
        double ab = alphaBar(t);
        return ab / (1 - ab);
    }

    private int check(int t) {
        if (t < 0 || t >= betas.length) {
            throw new IllegalArgumentException("timestep " + t + " outside [0, " + betas.length + ")");
        }
        return t;
    }

    // ------------------------------------------------------------------ float tables (copies)

    public float[] betas() { return betasF.clone(); }
    public float[] alphas() { return alphasF.clone(); }
    public float[] alphasCumprod() { return alphasCumprodF.clone(); }
    public float[] alphasCumprodPrev() { return alphasCumprodPrevF.clone(); }
    public float[] sqrtAlphasCumprod() { return sqrtAlphasCumprodF.clone(); }
    public float[] sqrtOneMinusAlphasCumprod() { return sqrtOneMinusAlphasCumprodF.clone(); }
    public float[] sqrtRecipAlphasCumprod() { return sqrtRecipAlphasCumprodF.clone(); }
    public float[] sqrtRecipm1AlphasCumprod() { return sqrtRecipm1AlphasCumprodF.clone(); }
    public float[] logOneMinusAlphasCumprod() { return logOneMinusAlphasCumprodF.clone(); }
    public float[] posteriorVariance() { return posteriorVarianceF.clone(); }
    public float[] posteriorLogVarianceClipped() { return posteriorLogVarianceClippedF.clone(); }
    public float[] fixedLargeVariance() { return fixedLargeVarianceF.clone(); }
    public float[] posteriorMeanCoef1() { return posteriorMeanCoef1F.clone(); }
    public float[] posteriorMeanCoef2() { return posteriorMeanCoef2F.clone(); }
    public float[] snr() { return snrF.clone(); }

    // ------------------------------------------------------------------ device tables

    /** sqrt(abar) as a [T] tensor on {@code backend} (uploaded once per backend, owned by this schedule). */
    public synchronized Tensor sqrtAlphasCumprodTensor(Backend backend) { return tables(backend)[0]; }

    /** sqrt(1 - abar) as a [T] tensor on {@code backend} (uploaded once per backend, owned by this schedule). */
    public synchronized Tensor sqrtOneMinusAlphasCumprodTensor(Backend backend) { return tables(backend)[1]; }

    private Tensor[] tables(Backend backend) {
        return deviceTables.computeIfAbsent(backend, b -> new Tensor[] {
                b.fromArray(sqrtAlphasCumprodF, sqrtAlphasCumprodF.length),
                b.fromArray(sqrtOneMinusAlphasCumprodF, sqrtOneMinusAlphasCumprodF.length)});
    }

    /** Releases the device copies of the tables. */
    @Override public synchronized void close() {
        for (Tensor[] ts : deviceTables.values()) for (Tensor t : ts) t.close();
        deviceTables.clear();
    }
}
