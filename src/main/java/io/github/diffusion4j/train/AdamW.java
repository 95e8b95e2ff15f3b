package io.github.diffusion4j.train;

import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * AdamW (Loshchilov & Hutter) over a model's flat parameter buffer: one fused pass per step. Weight decay
 * applies to the parameters registered as weights ({@link Param#decay()}), not to biases and norm scales.
 */
public final class AdamW implements AutoCloseable {
    public record Config(float beta1, float beta2, float eps, float weightDecay) {
        public static Config defaults() { return new Config(0.9f, 0.999f, 1e-8f, 0f); }

        public Config {
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException("AdamW betas must be in [0, 1): " + beta1 + ", " + beta2);
            }
            if (!(eps > 0)) throw new IllegalArgumentException("AdamW eps must be positive: " + eps);
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0: " + weightDecay);
        }
    }

    private final ParamStore store;
    private final Config cfg;
    private final Tensor params, m, v, decayMask;
    private long step;

    public AdamW(ParamStore store, Config cfg) {
        this.store = store;
        this.cfg = cfg;
        Backend b = store.backend();
        params = store.values();
        Shape flat = params.shape();
        m = b.zeros(flat);
        v = b.zeros(flat);
        float[] mask = new float[flat.size()];
        boolean any = false;
        for (Param p : store.params()) {
            if (p.decay()) {
                java.util.Arrays.fill(mask, (int) p.offset(), (int) (p.offset() + p.shape().numel()), 1f);
                any = true;
            }
        }
        decayMask = any ? b.fromArray(mask, flat) : b.zeros(flat);
    }

    public Config config() { return cfg; }

    /** Number of updates applied so far. */
    public long step() { return step; }

    /** First moments (flat, aligned with the parameter buffer). */
    public Tensor firstMoment() { return m; }

    /** Second moments. */
    public Tensor secondMoment() { return v; }

    /** Restores the state saved with a checkpoint. */
    public void restore(long step, float[] firstMoment, float[] secondMoment) {
        if (firstMoment.length != m.numel() || secondMoment.length != v.numel()) {
            throw new IllegalArgumentException("optimizer state has " + firstMoment.length + " values, the model needs " + m.numel());
        }
        Backend b = store.backend();
        b.copyFromHost(m, firstMoment, 0);
        b.copyFromHost(v, secondMoment, 0);
        this.step = step;
    }

    /** One update with learning rate lr; the gradients are multiplied by gradScale first. */
    public void update(float lr, float gradScale) {
        step++;
        float bc1 = (float) (1 - Math.pow(cfg.beta1(), step));
        float bc2 = (float) (1 - Math.pow(cfg.beta2(), step));
        store.backend().adamw(params, store.copyForOptimizer(), store.grads(), m, v, decayMask, lr, cfg.beta1(), cfg.beta2(), cfg.eps(),
                cfg.weightDecay(), bc1, bc2, gradScale);
    }

    @Override public void close() {
        m.close();
        v.close();
        decayMask.close();
    }
}
