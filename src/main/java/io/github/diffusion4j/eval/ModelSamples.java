package io.github.diffusion4j.eval;

import io.github.diffusion4j.diffusion.DdimScheduler;
import io.github.diffusion4j.diffusion.EdmPreconditioning;
import io.github.diffusion4j.diffusion.EdmScheduler;
import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.Objective;
import io.github.diffusion4j.diffusion.VpSigmaParameterization;
import io.github.diffusion4j.diffusion.FlowMatchEulerScheduler;
import io.github.diffusion4j.diffusion.FlowMatchHeunScheduler;
import io.github.diffusion4j.diffusion.DdpmScheduler;
import io.github.diffusion4j.diffusion.DpmSolverMultistepScheduler;
import io.github.diffusion4j.diffusion.Sampler;
import io.github.diffusion4j.diffusion.Scheduler;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.diffusion.TimestepSpacing;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.train.ModelDenoiser;
import io.github.diffusion4j.train.TrainConfig;

/**
 * Draws images from a model the way {@code sample} does with its default options, so that in-training evaluation
 * and {@code evaluate --run} score the same images: the scheduler by name and the run's objective
 * ({@link #scheduler(String, Setup, int)}), batches of {@code batch} images
 * seeded {@code seed + first index}, labels {@code i % classes} for class-conditional models, classifier-free
 * guidance when the scale is not 1. The loop runs {@link Sampler} over a {@link ModelDenoiser}, as the trainer's
 * preview grids and {@code sample} do.
 */
public final class ModelSamples {
    private ModelSamples() {}

    /** {@code sample}'s default batch size. */
    public static final int DEFAULT_BATCH = 64;

    /**
     * How a run's images are drawn, besides the sampler's name and steps: the run's objective and scheduler
     * configuration, its flow shift and EDM preconditioning, and {@code sample}'s options (Karras sigmas for the
     * ddpm objective's dpmpp, dpmpp-sde, euler and heun; EDM's churn for euler and heun; DPM-Solver++'s spacing,
     * null: linspace).
     */
    public record Setup(Objective objective, SchedulerConfig base, double flowShift, EdmPreconditioning edm,
                        boolean karras, EdmScheduler.Churn churn, TimestepSpacing dpmSpacing) {
        public Setup {
            if (objective == null || base == null || edm == null || churn == null) {
                throw new IllegalArgumentException("objective, scheduler config, EDM preconditioning and churn must be set");
            }
        }

        /** A run's setup with the default options. */
        public static Setup of(TrainConfig cfg, SchedulerConfig base) {
            return new Setup(cfg.objective(), base, cfg.flowShift, EdmPreconditioning.of(cfg.edmSigmaData), false,
                    EdmScheduler.Churn.NONE, null);
        }

        /** A ddpm-objective setup on {@code base} with the default options. */
        public static Setup ddpm(SchedulerConfig base) {
            return new Setup(Objective.DDPM, base, 1, EdmPreconditioning.of(EdmPreconditioning.DEFAULT_SIGMA_DATA), false,
                    EdmScheduler.Churn.NONE, null);
        }

        public Setup withOptions(boolean karras, EdmScheduler.Churn churn, TimestepSpacing dpmSpacing) {
            return new Setup(objective, base, flowShift, edm, karras, churn, dpmSpacing);
        }

        public Setup withEdm(EdmPreconditioning edm) {
            return new Setup(objective, base, flowShift, edm, karras, churn, dpmSpacing);
        }
    }

    /**
     * Why {@code sampler} cannot draw from a run of {@code objective} (one line), or null when it can.
     */
    public static String refusal(Objective objective, String sampler) {
        if (objective.samplers().contains(sampler)) return null;
        boolean known = false;
        for (Objective o : Objective.values()) known |= o.samplers().contains(sampler);
        return (known ? "--sampler " + sampler + " does not fit this run, trained with the " + objective.cliName() + " objective"
                : "unknown sampler '" + sampler + "'") + " (choose " + String.join(", ", objective.samplers()) + ")";
    }

    /** The scheduler {@code sample --sampler name --steps steps} builds on a ddpm-objective configuration, timesteps set. */
    public static Scheduler scheduler(String name, SchedulerConfig base, int steps) {
        return scheduler(name, Setup.ddpm(base), steps);
    }

    /**
     * The scheduler of a sampler on a run (the one construction: {@code sample}, {@code evaluate --run}, the
     * trainer's previews and evaluations), timesteps set. ddpm and ddim take everything, eta and spacing included,
     * from the run's configuration; dpmpp and dpmpp-sde are diffusers' DPM-Solver++ defaults (linspace spacing unless
     * {@code dpmSpacing}) on the run's schedule and prediction type, with its dynamic thresholding and its
     * lambda_min_clipped ({@link DpmSolverMultistepScheduler#lambdaMinClippedFor}: -5.1 for epsilon on the cosine schedule); euler and heun are {@link EdmScheduler} over
     * the run's parameterisation: the variance-preserving model called in the sigma view (diffusers'
     * Euler/HeunDiscreteScheduler), EDM's preconditioning, or, for flow matching, diffusers' flow-match schedulers.
     */
    public static Scheduler scheduler(String name, Setup setup, int steps) {
        String refused = refusal(setup.objective(), name);
        if (refused != null) throw new IllegalArgumentException(refused);
        SchedulerConfig base = setup.base();
        int T = base.numTrainTimesteps();
        if (steps < 1 || steps > T) throw new IllegalArgumentException("sampling steps " + steps + " outside 1.." + T);
        boolean heun = name.equals("heun");
        Scheduler s = switch (setup.objective()) {
            case FLOW -> heun ? new FlowMatchHeunScheduler(T, setup.flowShift()) : new FlowMatchEulerScheduler(T, setup.flowShift());
            case EDM -> new EdmScheduler(setup.edm(), heun, true, setup.churn(), T);
            case DDPM -> switch (name) {
                case "ddpm" -> new DdpmScheduler(base);
                case "ddim" -> new DdimScheduler(base);
                case "dpmpp", "dpmpp-sde" -> new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults()
                        .numTrainTimesteps(T).betaSchedule(base.betaSchedule()).trainedBetas(base.trainedBetas())
                        .betaStart(base.betaStart()).betaEnd(base.betaEnd())
                        .rescaleBetasZeroSnr(base.rescaleBetasZeroSnr()).predictionType(base.predictionType())
                        .timestepSpacing(setup.dpmSpacing() == null ? TimestepSpacing.LINSPACE : setup.dpmSpacing())
                        .useKarrasSigmas(setup.karras()).sde(name.equals("dpmpp-sde")).thresholding(base.thresholding())
                        .dynamicThresholdingRatio(base.dynamicThresholdingRatio()).sampleMaxValue(base.sampleMaxValue())
                        .lambdaMinClipped(DpmSolverMultistepScheduler.lambdaMinClippedFor(base)).build());
                default -> new EdmScheduler(new VpSigmaParameterization(NoiseSchedule.of(base), base.predictionType()),
                        heun, setup.karras(), setup.churn(), T);
            };
        };
        s.setTimesteps(steps);
        return s;
    }

    /** Labels {@code i % classes} for {@code count} images (as {@code sample} without {@code --label}); null when unconditional. */
    public static int[] balancedLabels(int count, int classes) {
        if (classes <= 0) return null;
        int[] l = new int[count];
        for (int i = 0; i < count; i++) l[i] = i % classes;
        return l;
    }

    /**
     * {@code count} images [count, C, H, W] (host floats in [-1, 1]) from {@code model} on its backend; {@code labels}
     * null for an unconditional model.
     */
    public static float[] draw(Model model, Scheduler scheduler, int count, int batch, long seed, int[] labels, float guidance) {
        return draw(model, scheduler, count, batch, seed, labels, guidance, () -> false);
    }

    /** As {@link #draw(Model, Scheduler, int, int, long, int[], float)}; null when {@code cancelled} says so before a batch. */
    public static float[] draw(Model model, Scheduler scheduler, int count, int batch, long seed, int[] labels, float guidance,
                               java.util.function.BooleanSupplier cancelled) {
        Backend b = model.params().backend();
        int c = model.inChannels(), size = model.imageSize(), per = c * size * size;
        float[] all = new float[count * per];
        for (int start = 0; start < count; start += batch) {
            if (cancelled.getAsBoolean()) return null;
            int n = Math.min(batch, count - start);
            Sampler s = new Sampler(scheduler, new ModelDenoiser(model)).seed(seed + start);
            Tensor lab = null;
            if (labels != null) {
                float[] l = new float[n];
                for (int i = 0; i < n; i++) l[i] = labels[start + i];
                lab = b.fromArray(l, Shape.of(n));
                s.labels(lab);
                if (guidance != 1f) s.guidance(guidance, model.numClasses());
            }
            try (Tensor x = s.sample(b, Shape.of(n, c, size, size))) {
                b.copyToHost(all, start * per, x);
            } finally {
                if (lab != null) lab.close();
            }
        }
        return all;
    }
}
