package io.github.diffusion4j.diffusion;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * Scheduler settings, named after diffusers' {@code scheduler_config.json} keys so that a pipeline ports with the
 * same numbers. Build with {@link #builder()} (defaults are those of diffusers' {@code DDPMScheduler} and
 * {@code DDIMScheduler}; {@link DpmSolverMultistepScheduler#defaults()} gives DPM-Solver's) or read a diffusers
 * file with {@link #fromDiffusersJson}.
 *
 * @param numTrainTimesteps   {@code num_train_timesteps} T (1000)
 * @param betaStart           {@code beta_start} (1e-4)
 * @param betaEnd             {@code beta_end} (0.02)
 * @param betaSchedule        {@code beta_schedule} (linear)
 * @param trainedBetas        {@code trained_betas}: explicit betas overriding the schedule, or null
 * @param predictionType      {@code prediction_type} (epsilon)
 * @param varianceType        {@code variance_type}, DDPM only (fixed_small)
 * @param clipSample          {@code clip_sample}: clamp the predicted x0, DDPM and DDIM (true, as in diffusers)
 * @param clipSampleRange     {@code clip_sample_range} (1.0)
 * @param setAlphaToOne       {@code set_alpha_to_one}, DDIM: abar after the last step is 1 (else abar_0) (true)
 * @param stepsOffset         {@code steps_offset}, added to "leading" timesteps (0)
 * @param timestepSpacing     {@code timestep_spacing} (leading; DPM-Solver's default is linspace)
 * @param rescaleBetasZeroSnr {@code rescale_betas_zero_snr} (false)
 * @param solverOrder         {@code solver_order}, DPM-Solver++ (2; 1 is also supported)
 * @param lowerOrderFinal     {@code lower_order_final}, DPM-Solver++: first-order final steps when fewer than 15 (true)
 * @param finalSigmaZero      DPM-Solver++ {@code final_sigmas_type}: true for "zero" (default), false for "sigma_min"
 * @param eta                 DDIM's eta in [0, 1] (0: deterministic DDIM, 1: DDPM-like); a step argument in diffusers
 * @param useClippedModelOutput DDIM: recompute epsilon from the clipped x0 (a step argument in diffusers; false)
 * @param useKarrasSigmas     {@code use_karras_sigmas}, DPM-Solver++: Karras et al.'s levels (rho 7) between the
 *                            schedule's sigma at timesteps 0 and T - 1, the timesteps rounded from them (false)
 * @param sde                 DPM-Solver++ {@code algorithm_type}: true for "sde-dpmsolver++" (the SDE variant, which
 *                            draws noise), false for "dpmsolver++" (the ODE solver; default)
 * @param thresholding        {@code thresholding}: Imagen's dynamic thresholding of the predicted x0 instead of
 *                            clip_sample, DDPM, DDIM and DPM-Solver++ ({@link io.github.diffusion4j.tensor.Backend#dynamicThreshold}; false)
 * @param dynamicThresholdingRatio {@code dynamic_thresholding_ratio}, the percentile of |x0| (0.995)
 * @param sampleMaxValue      {@code sample_max_value}, the largest threshold (1.0 as diffusers, which makes it
 *                            static clipping; Imagen leaves it unbounded)
 * @param lambdaMinClipped    {@code lambda_min_clipped}, DPM-Solver++: the spaced grid starts below the timesteps whose
 *                            lambda = log(alpha / sigma) is under this value (-inf: none, as diffusers' default;
 *                            diffusers recommends -5.1 for the cosine schedule, whose last timesteps have alpha near
 *                            0, so that an epsilon model's x0 = (x - sigma eps) / alpha amplifies its error
 *                            up to 20,000-fold there). Karras sigmas ignore it, as in diffusers.
 */
public record SchedulerConfig(int numTrainTimesteps, double betaStart, double betaEnd, BetaSchedule betaSchedule,
                              double[] trainedBetas, PredictionType predictionType, VarianceType varianceType,
                              boolean clipSample, double clipSampleRange, boolean setAlphaToOne, int stepsOffset,
                              TimestepSpacing timestepSpacing, boolean rescaleBetasZeroSnr, int solverOrder,
                              boolean lowerOrderFinal, boolean finalSigmaZero, double eta,
                              boolean useClippedModelOutput, boolean useKarrasSigmas, boolean sde,
                              boolean thresholding, double dynamicThresholdingRatio, double sampleMaxValue,
                              double lambdaMinClipped) {

    public SchedulerConfig {
        if (numTrainTimesteps < 2) {
            throw new IllegalArgumentException("num_train_timesteps must be at least 2, got " + numTrainTimesteps);
        }
        if (trainedBetas != null && trainedBetas.length != numTrainTimesteps) {
            throw new IllegalArgumentException("trained_betas has " + trainedBetas.length + " values for num_train_timesteps "
                    + numTrainTimesteps);
        }
        if (betaSchedule == null || predictionType == null || varianceType == null || timestepSpacing == null) {
            throw new IllegalArgumentException("beta_schedule, prediction_type, variance_type and timestep_spacing must be set");
        }
        if (!(clipSampleRange > 0)) throw new IllegalArgumentException("clip_sample_range must be positive, got " + clipSampleRange);
        if (stepsOffset < 0) throw new IllegalArgumentException("steps_offset must be >= 0, got " + stepsOffset);
        if (solverOrder != 1 && solverOrder != 2) {
            throw new IllegalArgumentException("solver_order must be 1 or 2 (DPM-Solver++ 2M), got " + solverOrder);
        }
        if (!(eta >= 0 && eta <= 1)) throw new IllegalArgumentException("eta must be in [0, 1], got " + eta);
        if (!(dynamicThresholdingRatio > 0 && dynamicThresholdingRatio <= 1)) {
            throw new IllegalArgumentException("dynamic_thresholding_ratio must be in (0, 1], got " + dynamicThresholdingRatio);
        }
        if (!(sampleMaxValue >= 1)) throw new IllegalArgumentException("sample_max_value must be >= 1, got " + sampleMaxValue);
        if (Double.isNaN(lambdaMinClipped) || lambdaMinClipped == Double.POSITIVE_INFINITY) {
            throw new IllegalArgumentException("lambda_min_clipped must be a number or -inf, got " + lambdaMinClipped);
        }
        trainedBetas = trainedBetas == null ? null : trainedBetas.clone();
    }

    /** diffusers' {@code trained_betas} (a copy), or null. */
    @Override public double[] trainedBetas() { return trainedBetas == null ? null : trainedBetas.clone(); }

    /** A builder with diffusers' DDPM/DDIM defaults. */
    public static Builder builder() { return new Builder(); }

    /** A builder initialised from this configuration. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.numTrainTimesteps = numTrainTimesteps;
        b.betaStart = betaStart;
        b.betaEnd = betaEnd;
        b.betaSchedule = betaSchedule;
        b.trainedBetas = trainedBetas;
        b.predictionType = predictionType;
        b.varianceType = varianceType;
        b.clipSample = clipSample;
        b.clipSampleRange = clipSampleRange;
        b.setAlphaToOne = setAlphaToOne;
        b.stepsOffset = stepsOffset;
        b.timestepSpacing = timestepSpacing;
        b.useKarrasSigmas = useKarrasSigmas;
        b.sde = sde;
        b.thresholding = thresholding;
        b.dynamicThresholdingRatio = dynamicThresholdingRatio;
        b.sampleMaxValue = sampleMaxValue;
        b.lambdaMinClipped = lambdaMinClipped;
        b.rescaleBetasZeroSnr = rescaleBetasZeroSnr;
        b.solverOrder = solverOrder;
        b.lowerOrderFinal = lowerOrderFinal;
        b.finalSigmaZero = finalSigmaZero;
        b.eta = eta;
        b.useClippedModelOutput = useClippedModelOutput;
        return b;
    }

    /** Fluent builder; option names mirror the diffusers keys in camel case. */
    public static final class Builder {
        private int numTrainTimesteps = 1000;
        private double betaStart = 1e-4, betaEnd = 0.02;
        private BetaSchedule betaSchedule = BetaSchedule.LINEAR;
        private double[] trainedBetas;
        private PredictionType predictionType = PredictionType.EPSILON;
        private VarianceType varianceType = VarianceType.FIXED_SMALL;
        private boolean clipSample = true;
        private double clipSampleRange = 1.0;
        private boolean setAlphaToOne = true;
        private int stepsOffset;
        private TimestepSpacing timestepSpacing = TimestepSpacing.LEADING;
        private boolean rescaleBetasZeroSnr;
        private int solverOrder = 2;
        private boolean lowerOrderFinal = true;
        private boolean finalSigmaZero = true;
        private double eta;
        private boolean useClippedModelOutput;
        private boolean useKarrasSigmas, sde;
        private boolean thresholding;
        private double dynamicThresholdingRatio = 0.995, sampleMaxValue = 1.0;
        private double lambdaMinClipped = Double.NEGATIVE_INFINITY;

        public Builder numTrainTimesteps(int v) { numTrainTimesteps = v; return this; }
        public Builder betaStart(double v) { betaStart = v; return this; }
        public Builder betaEnd(double v) { betaEnd = v; return this; }
        public Builder betaSchedule(BetaSchedule v) { betaSchedule = v; return this; }
        public Builder betaSchedule(String v) { return betaSchedule(BetaSchedule.fromName(v)); }
        public Builder trainedBetas(double[] v) { trainedBetas = v; return this; }
        public Builder predictionType(PredictionType v) { predictionType = v; return this; }
        public Builder predictionType(String v) { return predictionType(PredictionType.fromName(v)); }
        public Builder varianceType(VarianceType v) { varianceType = v; return this; }
        public Builder varianceType(String v) { return varianceType(VarianceType.fromName(v)); }
        public Builder clipSample(boolean v) { clipSample = v; return this; }
        public Builder clipSampleRange(double v) { clipSampleRange = v; return this; }
        public Builder setAlphaToOne(boolean v) { setAlphaToOne = v; return this; }
        public Builder stepsOffset(int v) { stepsOffset = v; return this; }
        public Builder timestepSpacing(TimestepSpacing v) { timestepSpacing = v; return this; }
        public Builder timestepSpacing(String v) { return timestepSpacing(TimestepSpacing.fromName(v)); }
        public Builder rescaleBetasZeroSnr(boolean v) { rescaleBetasZeroSnr = v; return this; }
        public Builder solverOrder(int v) { solverOrder = v; return this; }
        public Builder lowerOrderFinal(boolean v) { lowerOrderFinal = v; return this; }
        public Builder finalSigmaZero(boolean v) { finalSigmaZero = v; return this; }
        public Builder eta(double v) { eta = v; return this; }
        public Builder useClippedModelOutput(boolean v) { useClippedModelOutput = v; return this; }
        public Builder useKarrasSigmas(boolean v) { useKarrasSigmas = v; return this; }
        /** DPM-Solver++'s SDE variant (algorithm_type "sde-dpmsolver++"). */
        public Builder sde(boolean v) { sde = v; return this; }
        public Builder thresholding(boolean v) { thresholding = v; return this; }
        public Builder dynamicThresholdingRatio(double v) { dynamicThresholdingRatio = v; return this; }
        public Builder sampleMaxValue(double v) { sampleMaxValue = v; return this; }
        public Builder lambdaMinClipped(double v) { lambdaMinClipped = v; return this; }

        public SchedulerConfig build() {
            return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, trainedBetas, predictionType,
                    varianceType, clipSample, clipSampleRange, setAlphaToOne, stepsOffset, timestepSpacing,
                    rescaleBetasZeroSnr, solverOrder, lowerOrderFinal, finalSigmaZero, eta, useClippedModelOutput,
                    useKarrasSigmas, sde, thresholding, dynamicThresholdingRatio, sampleMaxValue, lambdaMinClipped);
        }
    }

    // ------------------------------------------------------------------ diffusers scheduler_config.json

    /** Bookkeeping keys, and keys whose value only matters for features that are switched off. */
    private static final Set<String> IGNORED_KEYS = Set.of("_class_name", "_diffusers_version", "skip_prk_steps",
            "timestep_type", "flow_shift");

    /** Options that this engine supports only in their default (off) state. */
    private static final Set<String> MUST_BE_FALSE = Set.of("use_lu_lambdas",
            "use_exponential_sigmas", "use_beta_sigmas", "use_flow_sigmas", "euler_at_final");

    /** Reads a diffusers {@code scheduler_config.json}; see {@link #fromDiffusersJson(String, Builder)}. */
    public static SchedulerConfig fromDiffusersJson(Path file, Builder defaults) throws IOException {
        return fromDiffusersJson(Files.readString(file), defaults);
    }

    /**
     * Parses the JSON of a diffusers {@code scheduler_config.json} on top of {@code defaults} (use the defaults of
     * the scheduler class you will build). Settings this engine does not implement with a non-default value
     * ({@code thresholding: true}, learned variances, Karras sigmas, SDE or Heun variants of DPM-Solver) fail with a
     * clear message rather than being ignored; bookkeeping keys are ignored.
     */
    public static SchedulerConfig fromDiffusersJson(String json, Builder defaults) {
        JsonNode root;
        try {
            // Python's json module writes -inf as -Infinity (e.g. lambda_min_clipped)
            ObjectMapper mapper = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();
            root = mapper.readTree(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("scheduler config is not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new IllegalArgumentException("scheduler config must be a JSON object");
        Builder b = defaults == null ? builder() : defaults;
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String k = e.getKey();
            JsonNode v = e.getValue();
            if (v.isNull()) continue;
            switch (k) {
                case "num_train_timesteps" -> b.numTrainTimesteps(v.asInt());
                case "beta_start" -> b.betaStart(v.asDouble());
                case "beta_end" -> b.betaEnd(v.asDouble());
                case "beta_schedule" -> b.betaSchedule(v.asText());
                case "trained_betas" -> {
                    double[] tb = new double[v.size()];
                    for (int i = 0; i < tb.length; i++) tb[i] = v.get(i).asDouble();
                    b.trainedBetas(tb);
                }
                case "prediction_type" -> b.predictionType(v.asText());
                case "variance_type" -> b.varianceType(v.asText());
                case "clip_sample" -> b.clipSample(v.asBoolean());
                case "clip_sample_range" -> b.clipSampleRange(v.asDouble());
                case "set_alpha_to_one" -> b.setAlphaToOne(v.asBoolean());
                case "steps_offset" -> b.stepsOffset(v.asInt());
                case "timestep_spacing" -> b.timestepSpacing(v.asText());
                case "rescale_betas_zero_snr" -> b.rescaleBetasZeroSnr(v.asBoolean());
                case "solver_order" -> b.solverOrder(v.asInt());
                case "lower_order_final" -> b.lowerOrderFinal(v.asBoolean());
                case "final_sigmas_type" -> {
                    String s = v.asText();
                    if (!s.equals("zero") && !s.equals("sigma_min")) {
                        throw new IllegalArgumentException("unknown final_sigmas_type '" + s + "' (expected zero, sigma_min)");
                    }
                    b.finalSigmaZero(s.equals("zero"));
                }
                case "lambda_min_clipped" -> {
                    if (!v.isNumber()) throw new IllegalArgumentException("lambda_min_clipped must be a number, not " + v);
                    b.lambdaMinClipped(v.asDouble());
                }
                case "use_karras_sigmas" -> b.useKarrasSigmas(v.asBoolean());
                case "thresholding" -> b.thresholding(v.asBoolean());
                case "dynamic_thresholding_ratio" -> b.dynamicThresholdingRatio(v.asDouble());
                case "sample_max_value" -> b.sampleMaxValue(v.asDouble());
                case "algorithm_type" -> {
                    String a = v.asText();
                    if (!a.equals("dpmsolver++") && !a.equals("sde-dpmsolver++")) {
                        throw new IllegalArgumentException("scheduler setting algorithm_type = " + a
                                + " is not supported (only dpmsolver++, sde-dpmsolver++)");
                    }
                    b.sde(a.equals("sde-dpmsolver++"));
                }
                case "solver_type" -> unsupportedUnless(k, v, "midpoint");
                default -> {
                    if (MUST_BE_FALSE.contains(k)) {
                        unsupportedUnless(k, v, false);
                    } else if (!IGNORED_KEYS.contains(k)) {
                        throw new IllegalArgumentException("unsupported scheduler setting '" + k + "'");
                    }
                }
            }
        }
        return b.build();
    }

    private static void unsupportedUnless(String key, JsonNode v, Object supported) {
        Object actual = supported instanceof Boolean ? (Object) v.asBoolean() : v.asText();
        if (!actual.equals(supported)) {
            throw new IllegalArgumentException("scheduler setting " + key + " = " + actual + " is not supported (only "
                    + supported + ")");
        }
    }
}
