package io.github.diffusion4j.bench;

import io.github.diffusion4j.diffusion.BetaSchedule;
import io.github.diffusion4j.diffusion.PredictionType;
import io.github.diffusion4j.diffusion.SchedulerConfig;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The hyper-parameters of the benchmarked training step (those of Ho et al. 2020 for CIFAR-10, with the defaults of
 * {@code train} where the paper has none). {@code bench/pytorch/speed.py} uses the same values; they do not change
 * the amount of work, but they are fixed so that both sides run exactly the same step.
 *
 * @param lr          constant learning rate
 * @param beta1       AdamW beta1
 * @param beta2       AdamW beta2
 * @param eps         AdamW epsilon
 * @param weightDecay AdamW decoupled weight decay (weights only, not biases and norm parameters)
 * @param gradClip    global gradient-norm clip (0 disables)
 * @param emaDecay    EMA target decay, with the DDPM warm-up min(decay, (1 + s) / (10 + s))
 * @param timesteps   training timesteps T of the linear beta schedule (1e-4 .. 0.02), epsilon prediction
 */
public record TrainSettings(float lr, float beta1, float beta2, float eps, float weightDecay, float gradClip,
                           float emaDecay, int timesteps) {

    /** What {@code bench} times. */
    public static TrainSettings benchmark() {
        return new TrainSettings(2e-4f, 0.9f, 0.999f, 1e-8f, 0f, 1f, 0.9999f, 1000);
    }

    /**
     * What a parity dump applies after its forward/backward pass: a larger learning rate and some weight decay so
     * that the optimizer update and the decay mask are visible in the dumped weights.
     */
    public static TrainSettings parityDump() {
        return new TrainSettings(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1f, 0.9999f, 1000);
    }

    /** The DDPM linear schedule with epsilon prediction. */
    public SchedulerConfig schedulerConfig() {
        return SchedulerConfig.builder().numTrainTimesteps(timesteps).betaSchedule(BetaSchedule.LINEAR)
                .predictionType(PredictionType.EPSILON).build();
    }

    /** JSON-friendly form (snake_case keys, as written by {@code bench --json} and read by the Python twin). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("lr", lr);
        m.put("beta1", beta1);
        m.put("beta2", beta2);
        m.put("eps", eps);
        m.put("weight_decay", weightDecay);
        m.put("grad_clip", gradClip);
        m.put("ema_decay", emaDecay);
        m.put("ema_warmup", "ddpm");
        m.put("beta_schedule", "linear");
        m.put("beta_start", 1e-4);
        m.put("beta_end", 0.02);
        m.put("num_train_timesteps", timesteps);
        m.put("prediction_type", "epsilon");
        m.put("loss", "mean over samples of w_n * mean over elements of (out - eps)^2, w_n = 1");
        return m;
    }
}
