package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.StepCoefficients;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Euler's method on the flow-matching ODE, as diffusers' {@code FlowMatchEulerDiscreteScheduler} (without churn):
 * {@code x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v}, one model evaluation per step, first order. One fused
 * {@link Backend#diffusionStep} per step (the x0 estimate {@code x - sigma v} with it).
 */
public final class FlowMatchEulerScheduler extends FlowMatchScheduler {
    private int[] codes;

    public FlowMatchEulerScheduler(int numTrainTimesteps, double shift) {
        super(numTrainTimesteps, shift);
        setTimesteps(numTrainTimesteps);
    }

    @Override public void setTimesteps(int n) {
        levels = grid(n);
        codes = new int[n];
        for (int i = 0; i < n; i++) codes[i] = n - 1 - i;
    }

    @Override public int[] timesteps() { return codes.clone(); }

    private int index(int code) {
        int i = codes.length - 1 - code;
        if (code < 0 || i < 0) throw new IllegalArgumentException("timestep " + code + " is not a step of the " + codes.length + "-step grid");
        return i;
    }

    @Override public float modelTimestep(int t) { return (float) (levels[index(t)] * numTrain); }

    @Override public void step(Tensor prevSample, Tensor predX0, Tensor modelOutput, int t, Tensor sample, NoiseStream rng) {
        if (!modelOutput.shape().equals(sample.shape())) {
            throw new IllegalArgumentException("model output " + modelOutput.shape() + " for sample " + sample.shape());
        }
        int i = index(t);
        double s = levels[i], next = levels[i + 1];
        StepCoefficients k = StepCoefficients.of(1, -s, false, 1, 0, 1, next - s, 0, 0);
        sample.backend().diffusionStep(prevSample, predX0, sample, modelOutput, null, k, 0, 0);
    }

    @Override public double[] outputLevels(int t) {
        double s = levels[index(t) + 1];
        return new double[] {1 - s, s};
    }

    @Override public void noiseTo(Tensor out, Tensor init, int t, long seed, long offset) {
        noiseAt(out, init, levels[index(t)], seed, offset);
    }
}
