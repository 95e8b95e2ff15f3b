package io.github.diffusion4j.train;

import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonAutoDetect;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * The hyper-parameters of a training run. Saved in every checkpoint's {@code config.json} (snake_case keys) so
 * that {@code --resume} and {@code sample} rebuild exactly the same model, schedule and data pipeline.
 */
@JsonAutoDetect(fieldVisibility = JsonAutoDetect.Visibility.ANY, getterVisibility = JsonAutoDetect.Visibility.NONE,
        isGetterVisibility = JsonAutoDetect.Visibility.NONE)
@JsonIgnoreProperties(ignoreUnknown = true)
public final class TrainConfig {
    // The defaults are the CLI's ('train' with no options takes them from here: TrainCommand's default provider).
    // data
    public String data = "shapes";
    public String dataDir;
    public int imageSize = 32;
    public int channels = 3;
    /** Random horizontal flips; null: the dataset's default ({@link io.github.diffusion4j.data.Datasets#flipByDefault}), which the trainer records here. */
    public Boolean flip;
    // model
    public String model = "small";
    public boolean classes;
    public int numClasses;
    public float dropout = -1f;            // < 0: the preset's
    public int baseChannels = -1;          // < 0: the preset's (the first level's width)
    public int resBlocks = -1;             // < 0: the preset's (residual blocks per level)
    // diffusion
    /**
     * ddpm (variance-preserving noising; {@link #prediction} says what the model predicts), flow (flow matching) or
     * edm (Karras et al.'s preconditioned sigma parameterisation).
     */
    public String objective = "ddpm";
    /** edm: the data's standard deviation sigma_data of the preconditioning (0.5). */
    public float edmSigmaData = 0.5f;
    /** edm: the mean and standard deviation of ln sigma in training (EDM: -1.2, 1.2). */
    @JsonProperty("edm_p_mean") public float edmPMean = -1.2f;
    @JsonProperty("edm_p_std") public float edmPStd = 1.2f;
    /** flow: how training draws sigma: logit-normal (SD3's, m 0, s 1) or uniform. */
    public String flowTimesteps = "logit-normal";
    /** flow: the timestep shift of training and sampling sigmas (SD3: 3; 1: none). */
    public float flowShift = 1f;
    public String schedule = "cosine";
    public int timesteps = 1000;
    public String prediction = "v_prediction"; // the CLI default: on shapes it learns sizes and clean colours far sooner than epsilon
    public float minSnrGamma = 5f;         // 0: uniform weighting
    /**
     * ddpm: improved DDPM's learned variance (Nichol &amp; Dhariwal 2021): twice the output channels, v in the second
     * half interpolating log beta_t and log beta~_t; the hybrid loss L_simple + lambda L_vlb ({@link #vlbWeight}).
     */
    public boolean learnSigma;
    /** learn_sigma: lambda of the hybrid loss (the paper's 0.001; the sampled term weighs lambda T). */
    public float vlbWeight = 0.001f;
    public float offsetNoise;
    public float cfgDropout = 0.1f;
    // optimisation
    public long steps = 3300;
    public int batchSize = 16;
    public int gradAccum = 1;
    public float lr = 1e-3f;
    public int warmup = 50;
    public boolean cosineDecay = true;
    public float minLr = 1e-5f;
    public float weightDecay;
    public float gradClip = 1.0f;
    public float emaDecay = 0.995f;
    public String emaWarmup = "ddpm";
    public long seed;
    /** fp32, bf16 or auto; the run's config holds the one used (auto resolved on the run's backend). */
    public String precision = "auto";
    // bookkeeping
    public int logEvery = 10;
    public int sampleEvery = 1000;
    public int sampleCount = 16;
    public int sampleSteps = 50;
    public int checkpointEvery = 1000;
    public int keepCheckpoints = 3;
    public int maxBadSteps = 10;
    /**
     * In-training evaluation ({@code train --eval-every}); null: off, and then absent from config.json, so a run
     * without it writes exactly what it wrote before evaluation existed.
     */
    @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
    public Eval eval;

    /** The settings of in-training evaluation (see {@code io.github.diffusion4j.eval.TrainingEvaluator}). */
    @JsonAutoDetect(fieldVisibility = JsonAutoDetect.Visibility.ANY, getterVisibility = JsonAutoDetect.Visibility.NONE,
            isGetterVisibility = JsonAutoDetect.Visibility.NONE)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public static final class Eval {
        public int every = 1000;
        public int count = 500;
        public String sampler = "dpmpp";
        public int steps;                  // 0: the sampler's default (ddpm 100, ddim 50, dpmpp 20)
        public float guidance = 1f;
        public int referenceCount = 10_000;
    }

    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            // 16.5 is not an image size, "32" is not a number, null is not a float
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    static {
        // a quoted number is not a number (Jackson would otherwise read "Infinity" or "32" into a float or int field)
        JSON.coercionConfigDefaults().setCoercion(com.fasterxml.jackson.databind.cfg.CoercionInputShape.String,
                com.fasterxml.jackson.databind.cfg.CoercionAction.Fail);
    }

    public static ObjectMapper json() { return JSON; }

    /**
     * The settings a resumed run may change, by CLI option and config.json field; every other setting is the
     * checkpoint's. The one list of the resume policy ({@link Trainer} and the CLI use it).
     */
    public static final Map<String, String> RESUMABLE = resumable();

    private static Map<String, String> resumable() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("--steps", "steps");
        m.put("--log-every", "log_every");
        m.put("--sample-every", "sample_every");
        m.put("--sample-count", "sample_count");
        m.put("--sample-steps", "sample_steps");
        m.put("--checkpoint-every", "checkpoint_every");
        m.put("--keep", "keep_checkpoints");
        m.put("--precision", "precision");
        return java.util.Collections.unmodifiableMap(m);
    }

    /** A copy of this config with the settings {@code fields} (config.json names, of {@link #RESUMABLE}) of {@code from}. */
    public TrainConfig withSettingsOf(TrainConfig from, java.util.Collection<String> fields) {
        com.fasterxml.jackson.databind.node.ObjectNode mine = JSON.valueToTree(this), theirs = JSON.valueToTree(from);
        for (String f : fields) {
            if (!RESUMABLE.containsValue(f)) throw new IllegalArgumentException(f + " cannot change when resuming");
            mine.set(f, theirs.get(f));
        }
        return JSON.convertValue(mine, TrainConfig.class);
    }

    /** A copy (through JSON, so every field is copied). */
    public TrainConfig copy() {
        return JSON.convertValue(JSON.convertValue(this, java.util.Map.class), TrainConfig.class);
    }

    /** Upper bounds that keep every allocation a configuration implies legitimate (checked before allocating). */
    public static final int MAX_TIMESTEPS = 100_000, MAX_IMAGE_SIZE = 1024, MAX_BATCH = 65_536, MAX_GRAD_ACCUM = 1024;

    /** Checks the values; the message names the first bad one by its CLI option ({@code --lr must be ...}). */
    public void validate() { validate(true); }

    /**
     * Checks every value: types were checked by the JSON reader, here ranges, finiteness and names, so that no
     * configuration can make a run allocate beyond what it legitimately needs or train on NaN. The message names the
     * first bad value by its CLI option ({@code cli}) or its config.json field.
     */
    public void validate(boolean cli) {
        Naming n = new Naming(cli);
        requireOneOf(n.of("data", "--data"), data, io.github.diffusion4j.data.Datasets.NAMES);
        requireOneOf(n.of("model", "--model"), model, io.github.diffusion4j.nn.Presets.NAMES);
        requireIn(n.of("image_size", "--image-size"), imageSize, 4, MAX_IMAGE_SIZE);
        requireIn(n.of("channels", "--channels"), channels, 1, 4);
        requireIn(n.of("num_classes", "--classes"), numClasses, 0, 100_000);
        require(dropout == -1f || dropout >= 0 && dropout < 1, n.of("dropout", "--dropout") + " must be in [0, 1), not " + dropout);
        if (baseChannels != -1) requireIn(n.of("base_channels", "--base-channels"), baseChannels, 1, 1024);
        if (resBlocks != -1) requireIn(n.of("res_blocks", "--res-blocks"), resBlocks, 1, 16);
        requireText(n.of("schedule", "--schedule"), schedule);
        io.github.diffusion4j.diffusion.BetaSchedule.parse(schedule);
        requireIn(n.of("timesteps", "--timesteps"), timesteps, 2, MAX_TIMESTEPS);
        requireText(n.of("prediction", "--prediction"), prediction);
        io.github.diffusion4j.diffusion.PredictionType.fromName(prediction);
        requireFinite(n.of("min_snr_gamma", "--min-snr"), minSnrGamma, 0, Float.MAX_VALUE);
        requireOneOf(n.of("objective", "--objective"), objective, OBJECTIVES);
        requireOneOf(n.of("flow_timesteps", "--flow-timesteps"), flowTimesteps, java.util.List.of("logit-normal", "uniform"));
        requireFinite(n.of("flow_shift", "--flow-shift"), flowShift, 1e-3f, 1000f);
        require(objective().equals(io.github.diffusion4j.diffusion.Objective.DDPM) || minSnrGamma == 0, n.of("min_snr_gamma", "--min-snr")
                + " applies to the ddpm objective (" + objective + " weights every level alike): set it to 0");
        require(!learnSigma || objective().equals(io.github.diffusion4j.diffusion.Objective.DDPM), n.of("learn_sigma", "--learn-sigma")
                + " applies to the ddpm objective, not to " + objective);
        require(!learnSigma || !model.equals("seed"), n.of("learn_sigma", "--learn-sigma") + " needs a UNet preset, not seed");
        requireFinite(n.of("vlb_weight", "--vlb-weight"), vlbWeight, 0, 1000f);
        requireFinite(n.of("edm_sigma_data", "--sigma-data"), edmSigmaData, 1e-3f, 100f);
        requireFinite(n.of("edm_p_mean", "--p-mean"), edmPMean, -20f, 20f);
        requireFinite(n.of("edm_p_std", "--p-std"), edmPStd, 1e-3f, 20f);
        requireFinite(n.of("offset_noise", "--offset-noise"), offsetNoise, 0, Float.MAX_VALUE);
        require(cfgDropout >= 0 && cfgDropout < 1, n.of("cfg_dropout", "--cfg-dropout") + " must be in [0, 1), not " + cfgDropout);
        requireIn(n.of("steps", "--steps"), steps, 1, io.github.diffusion4j.train.AdamW.MAX_STEPS);
        requireIn(n.of("batch_size", "--batch-size"), batchSize, 1, MAX_BATCH);
        requireIn(n.of("grad_accum", "--grad-accum"), gradAccum, 1, MAX_GRAD_ACCUM);
        require(Float.isFinite(lr) && lr > 0, n.of("lr", "--lr") + " must be finite and > 0, not " + lr);
        requireIn(n.of("warmup", "--warmup"), warmup, 0, Integer.MAX_VALUE);
        requireFinite(n.of("min_lr", "min_lr"), minLr, 0, lr);
        requireFinite(n.of("weight_decay", "--weight-decay"), weightDecay, 0, Float.MAX_VALUE);
        requireFinite(n.of("grad_clip", "--grad-clip"), gradClip, 0, Float.MAX_VALUE);
        require(emaDecay >= 0 && emaDecay < 1, n.of("ema_decay", "--ema-decay") + " must be in [0, 1), not " + emaDecay);
        requireOneOf(n.of("ema_warmup", "ema_warmup"), emaWarmup, java.util.List.of("ddpm", "power", "none"));
        requireText(n.of("precision", "--precision"), precision);
        io.github.diffusion4j.nn.Precision.parse(precision);   // refuses anything but fp32, bf16, auto
        requireIn(n.of("log_every", "--log-every"), logEvery, 1, Integer.MAX_VALUE);
        requireIn(n.of("sample_every", "--sample-every"), sampleEvery, 0, Integer.MAX_VALUE);
        requireIn(n.of("sample_count", "--sample-count"), sampleCount, 0, 4096);
        requireIn(n.of("sample_steps", "--sample-steps"), sampleSteps, 1, MAX_TIMESTEPS);
        requireIn(n.of("checkpoint_every", "--checkpoint-every"), checkpointEvery, 0, Integer.MAX_VALUE);
        requireIn(n.of("keep_checkpoints", "--keep"), keepCheckpoints, 1, 1_000_000);
        requireIn(n.of("max_bad_steps", "max_bad_steps"), maxBadSteps, 1, 1_000_000);
        if (eval != null) {
            requireIn(n.of("eval.every", "--eval-every"), eval.every, 1, Integer.MAX_VALUE);
            require(data.equals("fashion-mnist"), n.of("eval", "--eval-every") + ": in-training evaluation supports fashion-mnist only "
                    + "(the dataset with a committed feature net), not " + data);
            require(imageSize == 32, n.of("eval", "--eval-every") + " needs --image-size 32 (the feature net's input), not " + imageSize);
            requireIn(n.of("eval.count", "--eval-count"), eval.count, 10, 50_000);
            requireOneOf(n.of("eval.sampler", "--eval-sampler"), eval.sampler, objective().samplers());
            requireIn(n.of("eval.steps", "--eval-steps"), eval.steps, 0, timesteps);
            require(eval.steps > 0 || objective().defaultSteps(eval.sampler) <= timesteps,
                    n.of("eval.steps", "--eval-steps") + " must be given: the sampler's default exceeds the " + timesteps + " timesteps");
            requireFinite(n.of("eval.guidance", "--eval-guidance"), eval.guidance, 0, 100);
            require(eval.guidance == 1f || classes, n.of("eval.guidance", "--eval-guidance") + " needs a class-conditional run (--classes)");
            requireIn(n.of("eval.reference_count", "--eval-reference"), eval.referenceCount, 10, 1_000_000);
        }
    }

    /** The training objectives. */
    public static final java.util.List<String> OBJECTIVES = io.github.diffusion4j.diffusion.Objective.names();

    /**
     * The network of this run for {@code classes} labels (the preset, image, dropout, learned variance, width and
     * depth).
     */
    public io.github.diffusion4j.nn.Model createModel(int classes) {
        return io.github.diffusion4j.nn.Presets.create(model, channels, imageSize, classes,
                new io.github.diffusion4j.nn.Presets.Overrides(dropout, learnSigma, baseChannels, resBlocks));
    }

    /** The run's objective (validated: {@link #OBJECTIVES}). */
    public io.github.diffusion4j.diffusion.Objective objective() {
        return io.github.diffusion4j.diffusion.Objective.fromName(objective);
    }

    /** Whether the run trains by flow matching. */
    public boolean flow() { return "flow".equals(objective); }

    /** Whether the run trains by EDM. */
    public boolean edm() { return "edm".equals(objective); }

    /** The name of a value in messages: its CLI option or its config.json field. */
    private record Naming(boolean cli) {
        String of(String json, String option) { return cli ? option : json; }
    }

    private static void requireIn(String name, long v, long lo, long hi) {
        if (v < lo || v > hi) throw new IllegalArgumentException(name + " " + v + " is out of range " + lo + ".." + hi);
    }

    private static void requireFinite(String name, float v, float lo, float hi) {
        if (!Float.isFinite(v) || v < lo || v > hi) {
            throw new IllegalArgumentException(name + " must be finite and in [" + lo + ", " + hi + "], not " + v);
        }
    }

    private static void requireText(String name, String v) {
        if (v == null || v.isBlank()) throw new IllegalArgumentException(name + " is missing");
    }

    private static void requireOneOf(String name, String v, java.util.List<String> allowed) {
        requireText(name, v);
        if (!allowed.contains(v)) {
            throw new IllegalArgumentException("unknown " + name + " '" + v + "' (choose from " + String.join(", ", allowed) + ")");
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}
