package io.github.diffusion4j.backend;

import io.github.diffusion4j.diffusion.DdimScheduler;
import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.Sampler;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.diffusion.TrainingObjective;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.nn.Precision;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.nn.UNet;
import io.github.diffusion4j.nn.UNetConfig;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.train.AdamW;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Whole training steps and sampling loops of a small U-Net on two backends with the same seeds: the same
 * initial weights (perturbed so that no zero-initialised layer switches a gradient path off), the same batch, the
 * same Philox noise and timesteps. Reports the loss, the relative L2 error of every parameter tensor's gradient, the
 * parameters after an AdamW update, and the samples of a DDIM loop.
 *
 * <p>Shared by the CPU self-check (two CPU backends: everything bitwise) and the gpu-tagged CUDA test.
 */
public final class TrainingStepComparison {
    public static final long SEED = 20240611L;
    public static final int BATCH = 4, CHANNELS = 3, SIZE = 16;
    public static final float LR = 1e-3f;

    private TrainingStepComparison() {}

    /** A model of the comparison, freshly built (parameters not allocated yet). */
    public enum Variant {
        /** Presets.create("tiny", 3, 16, 0): unconditional, no dropout, plain residual blocks. */
        TINY,
        /** The tiny layout with 3 classes (one-hot labels), dropout 0.1 and scale-shift norm. */
        TINY_FULL;

        public Model build() {
            return switch (this) {
                case TINY -> Presets.create("tiny", CHANNELS, SIZE, 0);
                case TINY_FULL -> new UNet("tiny-full", new UNetConfig(CHANNELS, CHANNELS, SIZE, 16, new int[] {1, 2},
                        1, new int[] {8}, 0.1f, 4, 2, 3, true));
            };
        }

        public boolean conditional() { return this == TINY_FULL; }
    }

    /** Initial weights: the preset's initialisation plus 0.02 N(0, 1) on every parameter element. */
    public static float[] initialWeights(Variant v) {
        Model m = v.build();
        m.params().allocate(io.github.diffusion4j.backend.cpu.CpuBackend.get(), SEED);
        float[] w = m.params().values().toArray();
        float[] z = new float[w.length];
        Philox.fillNormal(z, 0, SEED + 1, 0, 0, z.length);
        for (Param p : m.params().params()) {
            int from = (int) p.offset(), to = (int) (p.offset() + p.shape().numel());
            for (int i = from; i < to; i++) w[i] += 0.02f * z[i];
        }
        m.params().close();
        return w;
    }

    /** A batch in [-1, 1]. */
    public static float[] batch() {
        float[] x = new float[BATCH * CHANNELS * SIZE * SIZE];
        Philox.fillUniform(x, 0, SEED + 2, 0, 0, x.length);
        for (int i = 0; i < x.length; i++) x[i] = 2 * x[i] - 1;
        return x;
    }

    /** One backend's training run. */
    public static final class Run implements AutoCloseable {
        public final Backend backend;
        public final Variant variant;
        public final Model model;
        public final AdamW opt;
        public final TrainingObjective objective;
        public final Tensor x0, labels;

        public Run(Backend b, Variant v) { this(b, v, Precision.FP32); }

        /** The run computing in {@code precision} (bf16: FP32 masters, a bf16 weight copy and activations). */
        public Run(Backend b, Variant v, Precision precision) {
            backend = b;
            variant = v;
            model = v.build();
            model.params().allocate(b, SEED);
            b.copyFromHost(model.params().values(), initialWeights(v), 0);
            precision.apply(model);
            opt = new AdamW(model.params(), new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.01f));
            TrainingObjective.Builder ob = TrainingObjective.builder(NoiseSchedule.linear());
            if (v.conditional()) ob.labelDropout(0.25f, 3);
            objective = ob.build();
            x0 = b.fromArray(batch(), BATCH, CHANNELS, SIZE, SIZE);
            labels = v.conditional() ? b.fromArray(new float[] {0, 1, 2, 1}, BATCH) : null;
        }

        /** One training step (the gradients and parameters stay on the backend); returns the loss. */
        public double step(long step) {
            backend.beginStep();
            model.params().zeroGrad();
            TrainingObjective.Batch batch = objective.prepare(x0, labels, SEED, step);
            Tensor out = model.forward(Ctx.training(backend, SEED + step), batch.xt(), batch.timesteps(), batch.labels());
            TrainingObjective.LossResult loss = objective.loss(batch, out);
            model.backward(loss.dOut());
            opt.update(LR);
            return loss.loss();
        }

        @Override public void close() {
            objective.close();
            opt.close();
            x0.close();
            if (labels != null) labels.close();
            model.params().close();
        }
    }

    /** What one comparison found. */
    public record Result(double lossRef, double lossTest, Map<String, Double> gradRelErr, String worstGrad,
                         double worstGradRelErr, double maxParamDiff, long paramsDiffering, long paramCount,
                         int zeroGradTensors, List<String> lines) {
        public double lossRelErr() { return Math.abs(lossRef - lossTest) / Math.abs(lossRef); }
    }

    /** Runs {@code steps} training steps on both backends and compares the last one. */
    public static Result compareTraining(Backend ref, Backend test, Variant v, int steps) {
        return compareTraining(ref, Precision.FP32, test, Precision.FP32, v, steps);
    }

    /** The same, each backend computing in its own precision. */
    public static Result compareTraining(Backend ref, Precision refPrecision, Backend test, Precision testPrecision,
                                         Variant v, int steps) {
        try (Run r = new Run(ref, v, refPrecision); Run t = new Run(test, v, testPrecision)) {
            double lr = 0, lt = 0;
            float[] before = null;
            for (int s = 0; s < steps; s++) {
                if (s == steps - 1) before = r.model.params().values().toArray();
                lr = r.step(s);
                lt = t.step(s);
            }
            return compare(r, t, before, lr, lt);
        }
    }

    static Result compare(Run r, Run t, float[] paramsBefore, double lossRef, double lossTest) {
        List<String> lines = new ArrayList<>();
        float[] gr = r.model.params().grads().toArray(), gt = t.model.params().grads().toArray();
        float[] pr = r.model.params().values().toArray(), pt = t.model.params().values().toArray();
        Map<String, Double> errs = new LinkedHashMap<>();
        String worst = null;
        double worstErr = -1;
        int zeroGrads = 0;
        for (Param p : r.model.params().params()) {
            int from = (int) p.offset(), to = (int) (p.offset() + p.shape().numel());
            double num = 0, den = 0;
            for (int i = from; i < to; i++) {
                double d = (double) gt[i] - gr[i];
                num += d * d;
                den += (double) gr[i] * gr[i];
            }
            if (den == 0) zeroGrads++;
            double e = den == 0 ? (num == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(num / den);
            errs.put(p.name(), e);
            if (e > worstErr) {
                worstErr = e;
                worst = p.name();
            }
        }
        double maxDiff = 0;
        long differing = 0;
        for (int i = 0; i < pr.length; i++) {
            double d = Math.abs((double) pr[i] - pt[i]);
            maxDiff = Math.max(maxDiff, d);
            // an AdamW step moves a weight by about lr: beyond rounding means the update itself differs
            if (d > 1e-3 * LR) differing++;
        }
        String tag = "[" + r.backend.name() + " " + r.model.params().copyDType() + " vs " + t.backend.name() + " "
                + t.model.params().copyDType() + ", " + r.variant + "]";
        lines.add(String.format(Locale.ROOT, "%s loss %.9f vs %.9f (rel err %.2e)", tag, lossRef, lossTest,
                Math.abs(lossRef - lossTest) / Math.abs(lossRef)));
        errs.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue(), a.getValue())).limit(8)
                .forEach(e -> lines.add(String.format(Locale.ROOT, "%s   grad rel L2 err %-40s %.2e", tag, e.getKey(), e.getValue())));
        double mean = errs.values().stream().mapToDouble(Double::doubleValue).average().orElse(0);
        lines.add(String.format(Locale.ROOT, "%s grad rel L2 err: worst %.2e (%s), mean %.2e over %d tensors", tag,
                worstErr, worst, mean, errs.size()));
        lines.add(String.format(Locale.ROOT, "%s params after AdamW: max |diff| %.2e (lr %.0e), %d of %d moved differently "
                + "(> 1e-3 lr)", tag, maxDiff, LR, differing, pr.length));
        if (paramsBefore != null) {
            double moved = 0;
            for (int i = 0; i < pr.length; i++) moved = Math.max(moved, Math.abs((double) pr[i] - paramsBefore[i]));
            lines.add(String.format(Locale.ROOT, "%s largest update on the reference: %.2e", tag, moved));
        }
        lines.forEach(System.out::println);
        return new Result(lossRef, lossTest, errs, worst, worstErr, maxDiff, differing, pr.length, zeroGrads, lines);
    }

    /** A DDIM loop of {@code steps} steps on the variant's model with the initial weights; returns the samples. */
    public static float[] ddimSamples(Backend b, Variant v, int steps, Sampler.StepCallback callback) {
        return ddimSamples(b, v, steps, callback, m -> (xt, ts, l) -> m.forward(Ctx.inference(b), xt, ts, l));
    }

    /** The same with the model wrapped by {@code denoiser} (closed afterwards when it is AutoCloseable). */
    public static float[] ddimSamples(Backend b, Variant v, int steps, Sampler.StepCallback callback,
                                      java.util.function.Function<Model, io.github.diffusion4j.diffusion.Denoiser> denoiser) {
        return ddimSamples(b, Precision.FP32, v, steps, callback, denoiser);
    }

    /** The same with the model computing in {@code precision}. */
    public static float[] ddimSamples(Backend b, Precision precision, Variant v, int steps, Sampler.StepCallback callback,
                                      java.util.function.Function<Model, io.github.diffusion4j.diffusion.Denoiser> denoiser) {
        Model m = v.build();
        m.params().allocate(b, SEED);
        b.copyFromHost(m.params().values(), initialWeights(v), 0);
        precision.apply(m);
        io.github.diffusion4j.diffusion.Denoiser d = denoiser.apply(m);
        try (DdimScheduler s = new DdimScheduler(SchedulerConfig.builder().eta(0.5).build())) {
            s.setTimesteps(steps);
            Tensor labels = v.conditional() ? b.fromArray(new float[] {0, 1, 2, 3}, BATCH) : null;
            Sampler sampler = new Sampler(s, d).seed(SEED + 3)
                    .labels(labels).callback(callback);
            if (v.conditional()) sampler.guidance(2f, 3);
            try (Tensor x = sampler.sample(b, Shape.of(BATCH, CHANNELS, SIZE, SIZE))) {
                return x.toArray();
            } finally {
                if (labels != null) labels.close();
                if (d instanceof AutoCloseable c) {
                    try {
                        c.close();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }
                m.params().close();
            }
        }
    }

    /** Relative L2 error of {@code test} against {@code ref}. */
    public static double relL2(float[] ref, float[] test) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = (double) test[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

}
