package io.github.diffusion4j.bench;

import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.TrainingObjective;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.train.AdamW;
import io.github.diffusion4j.train.Ema;
import io.github.diffusion4j.train.TrainingStep;

/**
 * One optimizer update as the trainer performs it (one micro-batch), on a batch that stays on the device: the
 * shared {@link TrainingStep} (prepare, forward, loss, backward, gradient norm,
 * clipping folded into AdamW, EMA) with the bench's settings. What the trainer does around it (data loading with
 * its host-to-device copy, metrics, logging) is left out.
 *
 * <p>The parts can also be run one by one ({@link #forwardBackward}, {@link #update}), which the parity dump uses.
 */
public final class BenchTraining implements AutoCloseable {
    /** What one step reports. */
    public record Result(double loss, double gradNorm, float clipScale, float emaDecay, boolean skipped) {}

    private final Model model;
    private final TrainSettings settings;
    private final NoiseSchedule schedule;
    private final TrainingObjective objective;
    private final AdamW adam;
    private final Ema ema;
    private final TrainingStep step;

    /** Sets up AdamW and the EMA for an allocated model; the EMA starts from the model's current weights. */
    public BenchTraining(Model model, TrainSettings settings, long seed) {
        this.settings = settings;
        this.schedule = NoiseSchedule.of(settings.schedulerConfig());
        this.objective = TrainingObjective.builder(schedule).build();
        this.adam = new AdamW(model.params(), new AdamW.Config(settings.beta1(), settings.beta2(), settings.eps(),
                settings.weightDecay()));
        this.ema = new Ema(model.params(), settings.emaDecay(), Ema.Warmup.DDPM);
        this.step = new TrainingStep(model, objective, adam, ema, seed);
        this.model = model;
    }

    /** The whole update numbered {@code step} (from 1), on the clean batch {@code x0} (and labels or null). */
    public Result run(Tensor x0, Tensor labels, long step) {
        model.params().zeroGrad();
        double loss = forwardBackward(x0, labels, step);
        return update(loss);
    }

    /**
     * The whole update as a data-parallel rank queues it, its gradients in {@code buckets} (armed around the backward
     * pass), with marks on {@code timeline}: the start, whatever the buckets' all-reduce marks, and the end of the
     * queued update. Does not wait for the device.
     */
    public void runInBuckets(Tensor x0, Tensor labels, long step, io.github.diffusion4j.dist.GradientBuckets buckets,
                             io.github.diffusion4j.tensor.Backend.Timeline timeline) {
        model.params().zeroGrad();
        timeline.mark();
        buckets.arm();
        this.step.forwardBackward(x0, labels, step - 1);
        buckets.finish("profiled step " + step);
        this.step.update(settings.lr(), settings.gradClip(), 1);
        timeline.mark();
    }

    /**
     * The forward and backward pass of step {@code step} (gradients accumulate into the model's; zero them first).
     * Returns the loss.
     */
    public double forwardBackward(Tensor x0, Tensor labels, long step) {
        return this.step.forwardBackward(x0, labels, step - 1).loss();
    }

    /** Gradient-norm clipping, AdamW and EMA, as the trainer applies them after the backward pass. */
    public Result update(double loss) {
        TrainingStep.Update u = step.update(settings.lr(), settings.gradClip(), 1);
        return new Result(loss, u.gradNorm(), u.clipScale(), u.emaDecay(), u.skipped());
    }

    /** The prepared batch of the last forward pass (x_t, timesteps, labels, target); valid until the next one. */
    public TrainingObjective.Batch lastBatch() { return step.lastBatch(); }

    /** The model output of the last forward pass; valid until the next step begins. */
    public Tensor lastOutput() { return step.lastOutput(); }

    public Ema ema() { return ema; }

    public AdamW adam() { return adam; }

    @Override public void close() {
        objective.close();
        adam.close();
        ema.close();
        schedule.close();
    }
}
