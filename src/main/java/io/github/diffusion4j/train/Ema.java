package io.github.diffusion4j.train;

import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.tensor.UpdateGate;

/**
 * Exponential moving average of the weights (one flat pass per step: ema = d ema + (1 - d) θ). The decay
 * warms up, either as in the DDPM/improved-diffusion code, d = min(target, (1 + step) / (10 + step)), or in
 * diffusers' power form, d = 1 - (1 + step / invGamma)^(-power) clamped to [0, target].
 */
public final class Ema implements AutoCloseable {
    public enum Warmup { DDPM, POWER, NONE }

    private final ParamStore store;
    private final Tensor shadow, params;
    private final float target;
    private final Warmup warmup;
    private final double power, invGamma;

    public Ema(ParamStore store, float target, Warmup warmup) {
        this(store, target, warmup, 2.0 / 3.0, 1.0);
    }

    public Ema(ParamStore store, float target, Warmup warmup, double power, double invGamma) {
        if (!(target >= 0 && target < 1)) throw new IllegalArgumentException("EMA decay must be in [0, 1): " + target);
        this.store = store;
        this.target = target;
        this.warmup = warmup;
        this.power = power;
        this.invGamma = invGamma;
        Backend b = store.backend();
        params = store.values();
        shadow = b.zeros(params.shape());
        b.copy(shadow, params);
    }

    /** The decay used after {@code step} optimizer updates (step counts from 1 for the first update). */
    public float decay(long step) { return UpdateGate.emaDecay(warmupCode(), target, power, invGamma, step); }

    /** The warm-up as an {@link UpdateGate} code. */
    int warmupCode() {
        return switch (warmup) {
            case DDPM -> UpdateGate.WARMUP_DDPM;
            case POWER -> UpdateGate.WARMUP_POWER;
            case NONE -> UpdateGate.WARMUP_NONE;
        };
    }

    float target() { return target; }

    double power() { return power; }

    double invGamma() { return invGamma; }

    /**
     * Moves the average toward the current weights with the decay of the update that {@code gate} decided (nothing
     * when it was skipped), on the backend.
     */
    public void update(Tensor gate) {
        store.backend().emaUpdate(shadow, params, gate);
    }

    /** The averaged weights, flat and aligned with the parameter buffer. */
    public Tensor weights() { return shadow; }

    /** Copies the averaged weights into the model (e.g. for sampling with a freshly built model). */
    public void copyTo(ParamStore target) {
        target.backend().copy(target.values(), shadow);
    }

    @Override public void close() { shadow.close(); }
}
