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
 *   log sigma^2 = frac log beta' + (1 - frac) log sigma_small^2, frac = (v + 1) / 2   (learned_range: the model's
 *                                                     second half v, per element; learned: v = log sigma^2)
 * </pre>
 * which is diffusers' {@code DDPMScheduler.step} (the posterior q(x_t' | x_t, x0^), i.e. {@link #pMeanVariance}).
 */
public final class DdpmScheduler extends AbstractScheduler {

    public DdpmScheduler(SchedulerConfig config) { super(config); }

    @Override public boolean readsVariance() { return config.varianceType().learned(); }

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
        double sigma = 0, small = Math.max((1 - ap) / (1 - a) * curBeta, 1e-20);
        if (t > 0) {
            sigma = switch (config.varianceType()) {
                case FIXED_SMALL -> Math.sqrt(small);
                case FIXED_SMALL_LOG -> Math.exp(0.5 * Math.log(small));
                case FIXED_LARGE -> Math.sqrt(curBeta);
                case LEARNED_RANGE, LEARNED -> 0;
            };
        }
        StepCoefficients k = StepCoefficients.of(x0c[0], x0c[1], config.clipSample(), config.clipSampleRange(),
                coefX0, coefXt, 0, 0, sigma);
        if (!config.varianceType().learned()) return k;
        if (t == 0) return k.withLearnedVariance(Double.NEGATIVE_INFINITY, 0);   // no noise at the last step
        if (config.varianceType() == VarianceType.LEARNED) return k.withLearnedVariance(0, 1);
        // log var = frac max + (1 - frac) min with frac = (v + 1) / 2, i.e. (max + min) / 2 + v (max - min) / 2
        double minLog = Math.log(small), maxLog = Math.log(curBeta);
        return k.withLearnedVariance((maxLog + minLog) / 2, (maxLog - minLog) / 2);
    }

    @Override public void step(Tensor prevSample, Tensor predX0, Tensor modelOutput, int t, Tensor sample,
                               NoiseStream rng) {
        if (readsVariance()) {
            if (modelOutput.rank() < 2 || sample.rank() < 2 || modelOutput.dim(1) != 2 * sample.dim(1)) {
                throw new IllegalArgumentException("variance_type " + config.varianceType() + " needs a model with a learned "
                        + "variance (twice the sample's channels: train --learn-sigma), got " + modelOutput.shape() + " for "
                        + sample.shape());
            }
        } else {
            checkSameShape(modelOutput, sample, "model output");
        }
        StepCoefficients k = pMeanVariance(t);
        long offset = k.drawsNoise() ? noiseOffset(rng, sample) : 0;
        long seed = rng == null ? 0 : rng.seed();
        fusedStep(prevSample, predX0, sample, modelOutput, null, k, seed, offset);
    }

    @Override public double outputAlphaBar(int t) {
        return schedule.alphaBar(nextInGrid(t));
    }
}
