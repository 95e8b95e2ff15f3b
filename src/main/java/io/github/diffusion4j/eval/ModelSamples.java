package io.github.diffusion4j.eval;

import io.github.diffusion4j.diffusion.DdimScheduler;
import io.github.diffusion4j.diffusion.FlowMatchEulerScheduler;
import io.github.diffusion4j.diffusion.FlowMatchHeunScheduler;
import io.github.diffusion4j.diffusion.FlowMatchScheduler;
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

import java.util.List;

/**
 * Draws images from a model the way {@code sample} does with its default options, so that in-training evaluation
 * and {@code evaluate --run} score the same images: the scheduler by name (ddpm and ddim on the run's scheduler
 * configuration, dpmpp on diffusers' DPM-Solver++ defaults with linspace spacing), batches of {@code batch} images
 * seeded {@code seed + first index}, labels {@code i % classes} for class-conditional models, classifier-free
 * guidance when the scale is not 1. The loop runs {@link Sampler} over a {@link ModelDenoiser}, as the trainer's
 * preview grids and {@code sample} do.
 */
public final class ModelSamples {
    private ModelSamples() {}

    /** Sampler names, as {@code sample --sampler} takes them, of DDPM-objective runs. */
    public static final List<String> SAMPLERS = List.of("ddpm", "ddim", "dpmpp");
    /** Sampler names of flow-matching runs (diffusers' FlowMatchEuler/HeunDiscreteScheduler). */
    public static final List<String> FLOW_SAMPLERS = List.of("euler", "heun");

    /** The samplers of a run's objective. */
    public static List<String> samplers(boolean flow) { return flow ? FLOW_SAMPLERS : SAMPLERS; }

    /** The sampler a run's images are drawn with when none is named: ddpm, or euler for flow matching. */
    public static String defaultSampler(boolean flow) { return flow ? "euler" : "ddpm"; }
    /** {@code sample}'s default batch size. */
    public static final int DEFAULT_BATCH = 64;

    /** The default number of inference steps of a sampler (as {@code sample}): ddpm 100, ddim 50, dpmpp 20. */
    public static int defaultSteps(String sampler) {
        return switch (sampler) {
            case "ddpm" -> 100;
            case "dpmpp", "heun" -> 20;   // heun: 39 model evaluations
            default -> 50;
        };
    }

    /** The scheduler {@code sample --sampler name --steps steps} builds on a run's configuration, timesteps set. */
    public static Scheduler scheduler(String name, SchedulerConfig base, int steps) {
        return scheduler(name, base, steps, null);
    }

    /**
     * As {@link #scheduler(String, SchedulerConfig, int)}, DPM-Solver++ with {@code dpmSpacing} instead of its usual
     * linspace (null: linspace); DDPM and DDIM take everything, eta and spacing included, from {@code base}.
     */
    public static Scheduler scheduler(String name, SchedulerConfig base, int steps, TimestepSpacing dpmSpacing) {
        return scheduler(name, base, steps, dpmSpacing, 1.0);
    }

    /**
     * As {@link #scheduler(String, SchedulerConfig, int, TimestepSpacing)}, with the flow samplers too: euler and heun
     * over the run's {@code num_train_timesteps} with the timestep shift {@code flowShift}.
     */
    public static Scheduler scheduler(String name, SchedulerConfig base, int steps, TimestepSpacing dpmSpacing,
                                      double flowShift) {
        if (FLOW_SAMPLERS.contains(name)) {
            if (steps < 1 || steps > base.numTrainTimesteps()) {
                throw new IllegalArgumentException("sampling steps " + steps + " outside 1.." + base.numTrainTimesteps());
            }
            FlowMatchScheduler f = name.equals("euler") ? new FlowMatchEulerScheduler(base.numTrainTimesteps(), flowShift)
                    : new FlowMatchHeunScheduler(base.numTrainTimesteps(), flowShift);
            f.setTimesteps(steps);
            return f;
        }
        if (steps < 1 || steps > base.numTrainTimesteps()) {
            throw new IllegalArgumentException("sampling steps " + steps + " outside 1.." + base.numTrainTimesteps());
        }
        Scheduler s = switch (name) {
            case "ddpm" -> new DdpmScheduler(base);
            case "ddim" -> new DdimScheduler(base);
            case "dpmpp" -> new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults()
                    .numTrainTimesteps(base.numTrainTimesteps()).betaSchedule(base.betaSchedule())
                    .predictionType(base.predictionType())
                    .timestepSpacing(dpmSpacing == null ? TimestepSpacing.LINSPACE : dpmSpacing).build());
            default -> throw new IllegalArgumentException("unknown sampler '" + name + "' (choose " + String.join(", ", SAMPLERS) + ")");
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
