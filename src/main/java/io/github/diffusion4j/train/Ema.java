package io.github.diffusion4j.train;

import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Tensor;

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
    public float decay(long step) {
        double d = switch (warmup) {
            case DDPM -> Math.min(target, (1.0 + step) / (10.0 + step));
            case POWER -> Math.max(0.0, Math.min(target, 1.0 - Math.pow(1.0 + step / invGamma, -power)));
            case NONE -> target;
        };
        return (float) d;
    }

    /** Moves the average toward the current weights; returns the decay used. */
    public float update(long step) {
        float d = decay(step);
        store.backend().axpby(shadow, d, shadow, 1f - d, params);
        return d;
    }

    /** The averaged weights, flat and aligned with the parameter buffer. */
    public Tensor weights() { return shadow; }

    /** Copies the averaged weights into the model (e.g. for sampling with a freshly built model). */
    public void copyTo(ParamStore target) {
        target.backend().copy(target.values(), shadow);
    }

    @Override public void close() { shadow.close(); }
}
