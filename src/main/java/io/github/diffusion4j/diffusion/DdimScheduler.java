package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;

/**
 * DDIM (Song et al. 2021, eq. 12) with eta in [0, 1], following diffusers' {@code DDIMScheduler.step}:
 * <pre>
 *   t'    = t - T / n          (integer division; for custom timesteps: the next grid timestep, -1 after the last)
 *   abar' = abar_t' if t' &gt;= 0, else 1 if set_alpha_to_one, else abar_0
 *   x0^, eps^ from the model output (eps^ from the unclipped x0^ unless use_clipped_model_output)
 *   x0^ clamped to [-r, r] if clip_sample
 *   sigma^2 = eta^2 (1 - abar') / (1 - abar_t) (1 - abar_t / abar')
 *   x_t'  = sqrt(abar') x0^ + sqrt(1 - abar' - sigma^2) eps^ + sigma z
 * </pre>
 * With eta = 0 the update is deterministic (no noise is drawn).
 */
public final class DdimScheduler extends AbstractScheduler {
    private final double finalAlphaCumprod;

    public DdimScheduler(SchedulerConfig config) {
        super(config);
        this.finalAlphaCumprod = config.setAlphaToOne() ? 1.0 : schedule.alphaBar(0);
    }

    /** The timestep the step at t lands on (negative after the last). */
    public int previousTimestep(int t) {
        if (t < 0 || t >= numTrain) throw new IllegalArgumentException("timestep " + t + " outside [0, " + numTrain + ")");
        return customTimesteps ? nextInGrid(t) : t - numTrain / timesteps.length;
    }

    private double alphaBarOrFinal(int t) {
        return t >= 0 ? schedule.alphaBar(t) : finalAlphaCumprod;
    }

    /** The fused-step coefficients at t. */
    public StepCoefficients coefficients(int t) {
        int prevT = previousTimestep(t);
        double a = schedule.alphaBar(t), ap = alphaBarOrFinal(prevT);
        double beta = 1 - a, sa = Math.sqrt(a), sb = Math.sqrt(beta);
        double[] x0c = x0Coefficients(a, t);
        // eps^ as an affine map of (sample, model output), from the unclipped x0^
        double epsS, epsM;
        switch (config.predictionType()) {
            case EPSILON -> { epsS = 0; epsM = 1; }
            case SAMPLE -> { epsS = 1 / sb; epsM = -sa / sb; }
            default -> { epsS = sb; epsM = sa; }
        }
        double variance = (1 - ap) / (1 - a) * (1 - a / ap);
        double std = config.eta() * Math.sqrt(Math.max(variance, 0));
        double dir = Math.sqrt(Math.max(1 - ap - std * std, 0));
        double coefX0 = Math.sqrt(ap), coefS, coefM;
        if (config.useClippedModelOutput()) {
            // eps^ = (x_t - sqrt(abar) x0^_clipped) / sqrt(1 - abar)
            coefX0 -= dir * sa / sb;
            coefS = dir / sb;
            coefM = 0;
        } else {
            coefS = dir * epsS;
            coefM = dir * epsM;
        }
        return StepCoefficients.of(x0c[0], x0c[1], config.clipSample(), config.clipSampleRange(),
                coefX0, coefS, coefM, 0, config.eta() > 0 ? std : 0);
    }

    @Override public void step(Tensor prevSample, Tensor predX0, Tensor modelOutput, int t, Tensor sample,
                               NoiseStream rng) {
        checkSameShape(modelOutput, sample, "model output");
        StepCoefficients k = coefficients(t);
        long offset = k.drawsNoise() ? noiseOffset(rng, sample) : 0;
        long seed = rng == null ? 0 : rng.seed();
        fusedStep(prevSample, predX0, sample, modelOutput, null, k, seed, offset);
    }

    @Override public double outputAlphaBar(int t) {
        return alphaBarOrFinal(previousTimestep(t));
    }
}
