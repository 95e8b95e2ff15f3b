package io.github.diffusion4j.train;

import io.github.diffusion4j.diffusion.TrainingObjective;
import io.github.diffusion4j.dist.BatchSlice;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.tensor.UpdateGate;

/**
 * The mechanics of one optimizer update, shared by {@link Trainer} and the {@code bench} command: per micro-batch
 * {@link Backend#beginStep()}, {@link TrainingObjective#prepare} (timesteps, noise, x_t and the target), the model's
 * forward pass in training mode, {@link TrainingObjective#loss} and the backward pass (gradients accumulate); then
 * the global gradient norm, the non-finite guard, clipping folded into {@link AdamW#update}, and {@link Ema#update}.
 * Every random draw of micro-step m is a function of (seed, m), which is what makes resumes exact. Nothing of it
 * waits for the device: the update is decided there ({@link io.github.diffusion4j.tensor.UpdateGate}), and what
 * it did comes back with the queued work, read when asked ({@link Update}).
 */
public final class TrainingStep {
    /**
     * What {@link #update} did: the gradient norm (of the averaged gradient), clip factor, EMA decay, or a skip. The
     * values come from the device with the queued work: the first accessor called waits for them.
     */
    public static final class Update {
        private final Backend.PendingCopy gate;

        Update(Backend.PendingCopy gate) { this.gate = gate; }

        public double gradNorm() { return gate.get()[UpdateGate.NORM]; }

        public float clipScale() { return gate.get()[UpdateGate.CLIP]; }

        /** The EMA decay applied (0 when skipped). */
        public float emaDecay() { return skipped() ? 0f : gate.get()[UpdateGate.EMA_DECAY]; }

        public boolean skipped() { return gate.get()[UpdateGate.SKIP] != 0f; }
    }

    private final Backend backend;
    private final Model model;
    private final TrainingObjective objective;
    private final AdamW adam;
    private final Ema ema;
    private final long seed;
    private final BatchSlice slice;
    private TrainingObjective.Batch lastBatch;
    private Tensor lastOutput;

    public TrainingStep(Model model, TrainingObjective objective, AdamW adam, Ema ema, long seed) {
        this(model, objective, adam, ema, seed, null);
    }

    /**
     * A step of one rank of a data-parallel run, which computes {@code slice} of every global batch (null: all of
     * it): its random draws are those of its samples' places in the global batch ({@link TrainingObjective#prepare},
     * {@link Ctx#training(Backend, long, BatchSlice)}).
     */
    public TrainingStep(Model model, TrainingObjective objective, AdamW adam, Ema ema, long seed, BatchSlice slice) {
        this.slice = slice;
        this.backend = model.params().backend();
        this.model = model;
        this.objective = objective;
        this.adam = adam;
        this.ema = ema;
        this.seed = seed;
    }

    /**
     * Forward and backward pass of micro-step {@code micro} (counted from 0 over the run) on the clean batch
     * {@code x0} (labels or null); the gradients accumulate into the model's, so zero them before the first
     * micro-batch of an update.
     */
    public TrainingObjective.LossResult forwardBackward(Tensor x0, Tensor labels, long micro) {
        backend.beginStep();
        lastBatch = objective.prepare(x0, labels, seed, micro, slice);
        lastOutput = model.forward(Ctx.training(backend, dropoutSeed(seed, micro), slice), lastBatch.xt(),
                lastBatch.timesteps(), lastBatch.labels());
        TrainingObjective.LossResult loss = objective.loss(lastBatch, lastOutput);
        model.backward(loss.dOut());
        return loss;
    }

    /**
     * Queues the update with the accumulated gradients of {@code microBatches} micro-batches (averaged): skipped
     * when the gradient norm is not finite (a non-finite loss makes it so: its gradient is not finite either), else
     * clipped to global norm {@code gradClip} (0: off), AdamW with learning rate {@code lr}, EMA.
     */
    public Update update(float lr, float gradClip, int microBatches) {
        adam.update(lr, adam.gateFor(gradClip, microBatches, ema));
        ema.update(adam.gate());
        return new Update(backend.toHostLater(adam.gate()));
    }

    /** The prepared batch of the last forward pass (x_t, timesteps, labels, target); valid until the next one. */
    public TrainingObjective.Batch lastBatch() { return lastBatch; }

    /** The model output of the last forward pass; valid until the next micro-step begins. */
    public Tensor lastOutput() { return lastOutput; }

    /** The dropout seed of micro-step m: a mix of the run seed and m, so that resumes redraw the same masks. */
    public static long dropoutSeed(long seed, long m) {
        long z = seed ^ (0x9E3779B97F4A7C15L * (m + 1));
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
