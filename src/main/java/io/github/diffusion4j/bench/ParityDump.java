package io.github.diffusion4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.diffusion4j.io.AtomicFiles;
import io.github.diffusion4j.io.SafeTensors;
import io.github.diffusion4j.nn.Init;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.nn.UNet;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes what the PyTorch twin ({@code bench/pytorch/parity.py}) needs to check our model, our training step and our
 * checkpoint format independently:
 * <ul>
 *   <li>{@code model.safetensors}: the weights, named as in checkpoints (the state_dict keys of the twin);</li>
 *   <li>{@code batch.safetensors}: one training batch and everything one step computes on it:
 *       {@code x0}, {@code xt}, {@code timesteps}, {@code labels} (class-conditional models only), {@code target} (the
 *       noise eps), {@code weights} (per-sample loss weights), {@code output} (the model's prediction for xt),
 *       {@code loss} ([1]), {@code grad.<name>} (dLoss/dparameter for every parameter), then after gradient-norm
 *       clipping and one AdamW update {@code after.<name>} (the new weights) and {@code ema.<name>} (the EMA);</li>
 *   <li>{@code config.json}: the preset, the {@code UNetConfig}, the training settings and the step's scalars
 *       (gradient norm, clip scale, EMA decay);</li>
 *   <li>{@code checksums.json}: for every tensor of both files its dtype, shape, sum, sum of |x| and first and last
 *       values, so a reader can be checked without PyTorch ({@code bench/pytorch/check_reader.py}).</li>
 * </ul>
 *
 * <p>The model is built with dropout 0 (training and inference mode then agree, so no mask needs reproducing). Its
 * initial weights are perturbed: the DDPM initialisation zeroes every residual branch's last convolution, the
 * attention projections and conv_out, which would make the output 0 and almost every gradient 0 as well, and so
 * check nothing. Each weight tensor w of fan-in f gets {@code + PERTURB / sqrt(f) * z} and each vector (biases,
 * GroupNorm scales) {@code + 0.1 * z}, z ~ N(0, 1) from Philox.
 */
public final class ParityDump {
    /** Scale of the perturbation of weight tensors, relative to 1/sqrt(fan_in). */
    public static final double PERTURB = 0.5;
    public static final String FORMAT = "diffusion4j-parity-dump";

    private ParityDump() {}

    /** What the dump holds, for messages. */
    public record Summary(Path dir, String preset, long parameters, int batch, double loss, double gradNorm) {}

    public static Summary write(Path dir, Backend b, String preset, int channels, int imageSize, int classes, int batch,
                                long seed) throws IOException {
        Model model = Presets.create(preset, channels, imageSize, classes, 0f);
        if (!(model instanceof UNet unet)) {
            throw new IllegalArgumentException("--dump needs a UNet preset (the PyTorch twin implements the UNet), not " + preset);
        }
        Files.createDirectories(dir);
        ParamStore store = model.params();
        store.allocate(b, seed);
        try {
            perturb(store, seed);
            Map<String, String> meta = Map.of("format", FORMAT, "model", preset);
            SafeTensors.save(dir.resolve("model.safetensors"), store, meta);

            TrainSettings settings = TrainSettings.parityDump();
            Map<String, SafeTensors.Entry> t = new LinkedHashMap<>();
            double loss;
            BenchTraining.Result r;
            try (Tensor x0 = b.empty(Shape.of(batch, channels, imageSize, imageSize));
                 Tensor labels = classes > 0 ? b.fromArray(labels(batch, classes, seed), batch) : null;
                 BenchTraining step = new BenchTraining(model, settings, seed)) {
                b.randn(x0, seed ^ 0x5EEDL, 0);
                b.clamp(x0, x0, -1f, 1f);
                store.zeroGrad();
                loss = step.forwardBackward(x0, labels, 1);
                var pb = step.lastBatch();
                put(t, "x0", x0);
                put(t, "xt", pb.xt());
                put(t, "timesteps", pb.timesteps());
                if (pb.labels() != null) put(t, "labels", pb.labels());
                put(t, "target", pb.target());
                t.put("weights", new SafeTensors.Entry(new int[] {batch}, pb.weights().clone()));
                put(t, "output", step.lastOutput());
                t.put("loss", new SafeTensors.Entry(new int[] {1}, new float[] {(float) loss}));
                t.putAll(SafeTensors.entries(store, store.grads(), "grad."));
                r = step.update(loss);
                if (r.skipped()) throw new IllegalStateException("non-finite loss or gradient norm in the parity step");
                t.putAll(SafeTensors.entries(store, store.values(), "after."));
                t.putAll(SafeTensors.entries(store, step.ema().weights(), "ema."));
            }
            SafeTensors.write(dir.resolve("batch.safetensors"), t, meta);

            Map<String, Object> cfg = new LinkedHashMap<>();
            cfg.put("format", FORMAT);
            cfg.put("version", 1);
            cfg.put("preset", preset);
            cfg.put("parameters", store.count());
            cfg.put("macs_per_image", model.macsPerImage());
            cfg.put("config", unet.config().toMap());
            cfg.put("batch_size", batch);
            cfg.put("seed", seed);
            cfg.put("backend", b.description());
            cfg.put("perturbation", "weights (rank >= 2): + " + PERTURB + " / sqrt(fan_in) * z; vectors: + 0.1 * z; "
                    + "z ~ N(0, 1) (Philox)");
            cfg.put("train_settings", settings.toMap());
            cfg.put("decayed_parameters", store.params().stream().filter(Param::decay).map(Param::name).toList());
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("loss", loss);
            s.put("grad_norm", r.gradNorm());
            s.put("clip_scale", r.clipScale());
            s.put("adam_step", 1);
            s.put("ema_decay", r.emaDecay());
            cfg.put("step", s);
            cfg.put("loss_formula", "loss = (1/N) sum_n weights[n] * mean_i (output[n,i] - target[n,i])^2");
            cfg.put("update_formula", "g = grad * clip_scale (clip_scale = min(1, grad_clip / ||grad||)); "
                    + "PyTorch AdamW (decoupled decay on weights only: every parameter of rank >= 2 and label_embed.weight); "
                    + "ema = d * w_before + (1 - d) * w_after with d = ema_decay");
            ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            AtomicFiles.writeString(dir.resolve("config.json"), json.writeValueAsString(cfg));

            Map<String, Object> sums = new LinkedHashMap<>();
            sums.put("model.safetensors", checksums(SafeTensors.read(dir.resolve("model.safetensors")).tensors()));
            sums.put("batch.safetensors", checksums(t));
            AtomicFiles.writeString(dir.resolve("checksums.json"), json.writeValueAsString(sums));
            return new Summary(dir, preset, store.count(), batch, loss, r.gradNorm());
        } finally {
            store.close();
        }
    }

    private static void put(Map<String, SafeTensors.Entry> t, String name, Tensor x) {
        t.put(name, new SafeTensors.Entry(x.shape().dims(), x.toArray()));
    }

    /** Class ids in [0, classes] (the last one is the null class of classifier-free guidance). */
    static float[] labels(int n, int classes, long seed) {
        Philox.Stream rng = new Philox.Stream(seed + 7, 0);
        float[] l = new float[n];
        for (int i = 0; i < n; i++) l[i] = rng.nextInt(classes + 1);
        return l;
    }

    /** Adds the perturbation described in the class comment to the allocated parameters. */
    static void perturb(ParamStore store, long seed) {
        Backend b = store.backend();
        float[] host = store.values().toArray();
        float[] z = new float[0];
        for (Param p : store.params()) {
            int n = p.shape().size();
            if (z.length < n) z = new float[n];
            Philox.fillNormal(z, 0, seed + 1, p.offset(), 0, n);
            double scale = p.shape().rank() >= 2 ? PERTURB / Math.sqrt(Init.fanIn(p.shape())) : 0.1;
            int off = Math.toIntExact(p.offset());
            for (int i = 0; i < n; i++) host[off + i] = (float) (host[off + i] + scale * z[i]);
        }
        b.copyFromHost(store.values(), host, 0);
    }

    /** Per tensor: dtype, shape, sum and sum of |x| (in double), first (up to 4) and last values. */
    static Map<String, Object> checksums(Map<String, SafeTensors.Entry> tensors) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, SafeTensors.Entry> e : tensors.entrySet()) {
            float[] d = e.getValue().data();
            double sum = 0, abs = 0;
            for (float v : d) {
                sum += v;
                abs += Math.abs(v);
            }
            double[] first = new double[Math.min(4, d.length)];
            for (int i = 0; i < first.length; i++) first[i] = d[i];
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("dtype", "F32");
            c.put("shape", e.getValue().shape());
            c.put("sum", sum);
            c.put("abs_sum", abs);
            c.put("first", first);
            c.put("last", d.length == 0 ? null : (double) d[d.length - 1]);
            out.put(e.getKey(), c);
        }
        return out;
    }
}
