package io.github.diffusion4j.train;

/** Learning rate: linear warmup from 0, then constant or cosine decay to {@code minLr} at {@code totalSteps}. */
public record LrSchedule(float peak, int warmupSteps, boolean cosine, long totalSteps, float minLr) {
    public LrSchedule {
        if (!(peak > 0)) throw new IllegalArgumentException("learning rate must be positive: " + peak);
        if (warmupSteps < 0) throw new IllegalArgumentException("warmup steps must be >= 0");
        if (minLr < 0 || minLr > peak) throw new IllegalArgumentException("minimum learning rate must be in [0, lr]");
    }

    /** Learning rate for update number {@code step} (1-based). */
    public float at(long step) {
        if (warmupSteps > 0 && step <= warmupSteps) return peak * step / warmupSteps;
        if (!cosine || totalSteps <= warmupSteps) return peak;
        double progress = Math.min(1.0, (double) (step - warmupSteps) / (totalSteps - warmupSteps));
        return (float) (minLr + 0.5 * (peak - minLr) * (1 + Math.cos(Math.PI * progress)));
    }
}
