package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Heun's second-order method on the flow-matching ODE, as diffusers' {@code FlowMatchHeunDiscreteScheduler} (without
 * churn): per interval an Euler predictor {@code x' = x + h v(x, sigma)} and a corrector with the mean of the two
 * velocities, {@code x_next = x + h (v(x, sigma) + v(x', sigma_next)) / 2}; the last interval, to sigma = 0, is Euler
 * alone. n steps take 2n - 1 model evaluations, and {@link #timesteps()} lists them: diffusers' interleaved grid
 * {@code [t_0, t_1, t_1, ..., t_{n-1}, t_{n-1}]}.
 *
 * <p>Each evaluation is one fused {@link Backend#diffusionStep}: the predictor writes x' and keeps v in the scheduler's
 * buffer (as the step's "x0" output, coefficient 1 on the model output); the corrector writes
 * {@code x' + h/2 v' - h/2 v}, which is the update above without keeping x.
 */
public final class FlowMatchHeunScheduler extends FlowMatchScheduler {
    private int[] codes;
    private Tensor velocity;        // v of the last predictor
    private int next;               // the evaluation expected next; -1: any step's predictor

    public FlowMatchHeunScheduler(int numTrainTimesteps, double shift) {
        super(numTrainTimesteps, shift);
        setTimesteps(Math.min(numTrainTimesteps, 50));
    }

    @Override public void setTimesteps(int n) {
        levels = grid(n);
        int evals = 2 * n - 1;
        codes = new int[evals];
        for (int k = 0; k < evals; k++) codes[k] = evals - 1 - k;
        reset();
    }

    @Override public void reset() { next = -1; }

    @Override public int numInferenceSteps() { return levels.length - 1; }

    @Override public int order() { return 2; }

    @Override public int[] timesteps() { return codes.clone(); }

    private int evaluation(int code) {
        int k = codes.length - 1 - code;
        if (code < 0 || k < 0) throw new IllegalArgumentException("timestep " + code + " is not an evaluation of the grid");
        return k;
    }

    /** Evaluation k: even k = predictor at levels[k/2]; odd k = corrector at levels[(k+1)/2]. */
    private double levelOf(int k) { return levels[(k + 1) / 2]; }

    @Override public float modelTimestep(int t) { return (float) (levelOf(evaluation(t)) * numTrain); }

    @Override public void step(Tensor prevSample, Tensor predX0, Tensor modelOutput, int t, Tensor sample, NoiseStream rng) {
        if (!modelOutput.shape().equals(sample.shape())) {
            throw new IllegalArgumentException("model output " + modelOutput.shape() + " for sample " + sample.shape());
        }
        int k = evaluation(t);
        if (next < 0 ? k % 2 == 1 : k != next) {   // a trajectory starts at a predictor (img2img: at a later step)
            throw new IllegalArgumentException("Heun expected evaluation " + (next < 0 ? "of a step's start" : String.valueOf(next))
                    + " of " + codes.length + " but got " + k + "; steps must follow timesteps() in order (call reset() to start over)");
        }
        Backend b = sample.backend();
        int i = k / 2;   // the interval [levels[i], levels[i + 1]]
        double s = levels[i], sn = levels[i + 1], h = sn - s;
        if (k % 2 == 0) {
            boolean last = i == levels.length - 2;   // to sigma = 0: Euler alone
            if (!last) {
                if (velocity == null || !velocity.shape().equals(sample.shape()) || velocity.backend() != b) {
                    if (velocity != null) velocity.close();
                    velocity = b.empty(sample.shape());
                }
                // x' = x + h v, and v kept (the "x0" output with coefficient 1 on the model output)
                b.diffusionStep(prevSample, velocity, sample, modelOutput, null,
                        StepCoefficients.of(0, 1, false, 1, 0, 1, h, 0, 0), 0, 0);
                // the x0 estimate x - sigma v = x' - sigma_next v (x may have been overwritten by x')
                if (predX0 != null) b.axpby(predX0, 1f, prevSample, (float) -sn, velocity);
            } else {
                b.diffusionStep(prevSample, predX0, sample, modelOutput, null,
                        StepCoefficients.of(1, -s, false, 1, 0, 1, h, 0, 0), 0, 0);
            }
        } else {
            // x_next = x' + h/2 v' - h/2 v; its x0 estimate x' - sigma_next v'
            b.diffusionStep(prevSample, predX0, sample, modelOutput, velocity,
                    StepCoefficients.of(1, -sn, false, 1, 0, 1, 0.5 * h, -0.5 * h, 0), 0, 0);
        }
        next = k + 1;
    }

    @Override public double[] outputLevels(int t) {
        int k = evaluation(t);
        double s = k % 2 == 0 ? levels[k / 2 + 1] : levels[(k + 1) / 2];
        return new double[] {1 - s, s};
    }

    @Override public void noiseTo(Tensor out, Tensor init, int t, long seed, long offset) {
        noiseAt(out, init, levelOf(evaluation(t)), seed, offset);
    }

    @Override public void close() {
        if (velocity != null) {
            velocity.close();
            velocity = null;
        }
    }
}
