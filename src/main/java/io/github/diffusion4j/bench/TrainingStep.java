package io.github.diffusion4j.bench;

import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.TrainingObjective;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.train.AdamW;
import io.github.diffusion4j.train.Ema;

/**
 * One optimizer update exactly as {@code Trainer.trainStep} performs it (one micro-batch): zero the gradients,
 * {@link Backend#beginStep()}, {@link TrainingObjective#prepare} (timesteps, noise, q(x_t | x_0) and the target),
 * the model's forward pass in training mode, {@link TrainingObjective#loss} (weighted MSE and its gradient), the
 * backward pass, the global gradient norm (a device reduction read by the host), clipping folded into
 * {@link AdamW#update}, then {@link Ema#update}. What the trainer does around it (data loading with its host to
 * device copy, metrics, logging) is left out: the batch stays on the device.
 *
 * <p>The parts can also be run one by one ({@link #forwardBackward}, {@link #update}), which the parity dump uses.
 */
public final class TrainingStep implements AutoCloseable {
    /** What one step reports. */
    public record Result(double loss, double gradNorm, float clipScale, float emaDecay, boolean skipped) {}

    private final Backend backend;
    private final Model model;
    private final TrainSettings settings;
    private final NoiseSchedule schedule;
    private final TrainingObjective objective;
    private final AdamW adam;
    private final Ema ema;
    private final long seed;
    private TrainingObjective.Batch lastBatch;
    private Tensor lastOutput;
    private double lastLoss;

    /** Sets up AdamW and the EMA for an allocated model; the EMA starts from the model's current weights. */
    public TrainingStep(Model model, TrainSettings settings, long seed) {
        this.backend = model.params().backend();
        this.model = model;
        this.settings = settings;
        this.seed = seed;
        this.schedule = NoiseSchedule.of(settings.schedulerConfig());
        this.objective = TrainingObjective.builder(schedule).build();
        this.adam = new AdamW(model.params(), new AdamW.Config(settings.beta1(), settings.beta2(), settings.eps(),
                settings.weightDecay()));
        this.ema = new Ema(model.params(), settings.emaDecay(), Ema.Warmup.DDPM);
    }

    /** The whole update numbered {@code step} (from 1), on the clean batch {@code x0} (and labels or null). */
    public Result run(Tensor x0, Tensor labels, long step) {
        model.params().zeroGrad();
        double loss = forwardBackward(x0, labels, step);
        return update(loss);
    }

    /**
     * The forward and backward pass of step {@code step} (gradients accumulate into the model's; zero them first).
     * Returns the loss.
     */
    public double forwardBackward(Tensor x0, Tensor labels, long step) {
        backend.beginStep();
        long micro = step - 1;
        lastBatch = objective.prepare(x0, labels, seed, micro);
        lastOutput = model.forward(Ctx.training(backend, dropoutSeed(seed, micro)), lastBatch.xt(),
                lastBatch.timesteps(), lastBatch.labels());
        TrainingObjective.LossResult lr = objective.loss(lastBatch, lastOutput);
        model.backward(lr.dOut());
        lastLoss = lr.loss();
        return lastLoss;
    }

    /** Gradient-norm clipping, AdamW and EMA, as the trainer applies them after the backward pass. */
    public Result update(double loss) {
        double gradNorm = Math.sqrt(backend.sumSquares(model.params().grads()));
        if (!Double.isFinite(loss) || !Double.isFinite(gradNorm)) return new Result(loss, gradNorm, 0f, 0f, true);
        float clip = settings.gradClip() > 0 && gradNorm > settings.gradClip() ? (float) (settings.gradClip() / gradNorm) : 1f;
        adam.update(settings.lr(), clip);
        float decay = ema.update(adam.step());
        return new Result(loss, gradNorm, clip, decay, false);
    }

    /** The prepared batch of the last forward pass (x_t, timesteps, labels, target); valid until the next one. */
    public TrainingObjective.Batch lastBatch() { return lastBatch; }

    /** The model output of the last forward pass; valid until the next step begins. */
    public Tensor lastOutput() { return lastOutput; }

    public Ema ema() { return ema; }

    public AdamW adam() { return adam; }

    /** The same mixing of (seed, micro-step) as the trainer's dropout seed. */
    static long dropoutSeed(long seed, long m) {
        long z = seed ^ (0x9E3779B97F4A7C15L * (m + 1));
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override public void close() {
        objective.close();
        adam.close();
        ema.close();
        schedule.close();
    }
}
