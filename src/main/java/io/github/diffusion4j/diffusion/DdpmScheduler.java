package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Ancestral sampling of DDPM (Ho et al. 2020), with the respacing of Improved DDPM (Nichol &amp; Dhariwal 2021):
 * for a grid t &gt; t' (t' = the next grid timestep, -1 after the last; abar_{-1} = 1),
 * <pre>
 *   x0^   = x0 from the model output (epsilon / sample / v), clamped to [-r, r] if clip_sample
 *   beta' = 1 - abar_t / abar_t'                                       (the respaced beta)
 *   mean  = sqrt(abar_t') beta' / (1 - abar_t) x0^ + sqrt(1 - beta') (1 - abar_t') / (1 - abar_t) x_t
 *   x_t'  = mean + sigma z,  z ~ N(0, I), only when t &gt; 0
 *   sigma^2 = max((1 - abar_t') / (1 - abar_t) beta', 1e-20)   (fixed_small: the posterior variance)
 *           = beta'                                           (fixed_large)
 * </pre>
 * which is diffusers' {@code DDPMScheduler.step} (the posterior q(x_t' | x_t, x0^), i.e. {@link #pMeanVariance}).
 */
public final class DdpmScheduler extends AbstractScheduler {

    public DdpmScheduler(SchedulerConfig config) { super(config); }

    /** Ho et al.'s setup: linear betas 1e-4 ... 0.02, T = 1000, epsilon prediction, fixed-small variance, clipping. */
    public DdpmScheduler() { this(SchedulerConfig.builder().build()); }

    /**
     * The coefficients of p(x_t' | x_t) at grid timestep t (the posterior mean as an affine map of x0^ and x_t,
     * and the standard deviation), as the fused step uses them.
     */
    public StepCoefficients pMeanVariance(int t) {
        int prevT = nextInGrid(t);
        double a = schedule.alphaBar(t), ap = schedule.alphaBar(prevT);
        double curAlpha = a / ap, curBeta = 1 - curAlpha;
        double[] x0c = x0Coefficients(a, t);
        double coefX0 = Math.sqrt(ap) * curBeta / (1 - a);
        double coefXt = Math.sqrt(curAlpha) * (1 - ap) / (1 - a);
        double sigma = 0;
        if (t > 0) {
            double small = Math.max((1 - ap) / (1 - a) * curBeta, 1e-20);
            sigma = switch (config.varianceType()) {
                case FIXED_SMALL -> Math.sqrt(small);
                case FIXED_SMALL_LOG -> Math.exp(0.5 * Math.log(small));
                case FIXED_LARGE -> Math.sqrt(curBeta);
            };
        }
        return StepCoefficients.of(x0c[0], x0c[1], config.clipSample(), config.clipSampleRange(),
                coefX0, coefXt, 0, 0, sigma);
    }

    @Override public void step(Tensor prevSample, Tensor predX0, Tensor modelOutput, int t, Tensor sample,
                               NoiseStream rng) {
        checkSameShape(modelOutput, sample, "model output");
        StepCoefficients k = pMeanVariance(t);
        long offset = k.sigma() != 0f ? noiseOffset(rng, sample) : 0;
        long seed = rng == null ? 0 : rng.seed();
        fusedStep(prevSample, predX0, sample, modelOutput, null, k, seed, offset);
    }

    @Override public double outputAlphaBar(int t) {
        return schedule.alphaBar(nextInGrid(t));
    }
}
