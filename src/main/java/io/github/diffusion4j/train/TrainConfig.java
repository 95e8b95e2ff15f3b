package io.github.diffusion4j.train;

import com.fasterxml.jackson.annotation.JsonAutoDetect;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
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
    // data
    public String data = "shapes";
    public String dataDir;
    public int imageSize = 32;
    public int channels = 3;
    public boolean flip = true;
    // model
    public String model = "small";
    public boolean classes;
    public int numClasses;
    public float dropout = -1f;            // < 0: the preset's
    // diffusion
    public String schedule = "cosine";
    public int timesteps = 1000;
    public String prediction = "v_prediction"; // the CLI default: on shapes it learns sizes and clean colours far sooner than epsilon
    public float minSnrGamma;              // 0: uniform weighting
    public float offsetNoise;
    public float cfgDropout = 0.1f;
    // optimisation
    public long steps = 2000;
    public int batchSize = 32;
    public int gradAccum = 1;
    public float lr = 2e-3f;
    public int warmup = 100;
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
    public int sampleEvery = 500;
    public int sampleCount = 16;
    public int sampleSteps = 50;
    public int checkpointEvery = 500;
    public int keepCheckpoints = 3;
    public int maxBadSteps = 10;

    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public static ObjectMapper json() { return JSON; }

    /** A copy (through JSON, so every field is copied). */
    public TrainConfig copy() {
        return JSON.convertValue(JSON.convertValue(this, java.util.Map.class), TrainConfig.class);
    }

    /** Checks the values and throws IllegalArgumentException naming the first bad one. */
    public void validate() {
        require(imageSize > 0, "image size must be positive");
        require(steps > 0, "steps must be positive");
        require(batchSize > 0, "batch size must be positive");
        require(gradAccum > 0, "gradient accumulation must be positive");
        require(lr > 0, "learning rate must be positive");
        require(warmup >= 0, "warmup must be >= 0");
        require(minLr >= 0 && minLr <= lr, "minimum learning rate must be in [0, lr]");
        require(weightDecay >= 0, "weight decay must be >= 0");
        require(gradClip >= 0, "gradient clip must be >= 0 (0 disables clipping)");
        require(emaDecay >= 0 && emaDecay < 1, "EMA decay must be in [0, 1)");
        require(cfgDropout >= 0 && cfgDropout < 1, "label dropout must be in [0, 1)");
        require(timesteps >= 2, "timesteps must be at least 2");
        require(logEvery > 0, "log interval must be positive");
        require(sampleEvery >= 0 && checkpointEvery >= 0, "intervals must be >= 0 (0 disables)");
        require(sampleCount >= 0 && sampleSteps > 0, "sample count must be >= 0 and sample steps positive");
        require(keepCheckpoints >= 1, "keep at least one checkpoint");
        require(maxBadSteps >= 1, "max bad steps must be at least 1");
        require(minSnrGamma >= 0, "min-SNR gamma must be >= 0");
        require(offsetNoise >= 0, "offset noise must be >= 0");
        io.github.diffusion4j.nn.Precision.parse(precision);   // refuses anything but fp32, bf16, auto
        require(emaWarmup.equals("ddpm") || emaWarmup.equals("power") || emaWarmup.equals("none"),
                "EMA warmup must be ddpm, power or none");
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}
