package io.github.diffusion4j.train;

import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.tensor.UpdateGate;

/**
 * AdamW (Loshchilov & Hutter) over a model's flat parameter buffer: one fused pass per step. Weight decay
 * applies to the parameters registered as weights ({@link Param#decay()}), not to biases and norm scales.
 *
 * <p>Each update is decided on the backend first ({@link Backend#updateGate}: clipping, the non-finite skip, the
 * bias corrections), into a gate tensor that this optimizer owns and the EMA reads too, so an update needs no value
 * from the host and the host no value from the device. The count of applied updates lives in the gate as well.
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
    private final Tensor params, m, v, decayMask, gate;

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
        gate = b.zeros(Shape.of(UpdateGate.SIZE));
    }

    public Config config() { return cfg; }

    /** Number of updates applied so far (read from the gate: waits for the queued work). */
    public long step() { return (long) gate.toArray()[UpdateGate.STEP]; }

    /**
     * The gate of the last update ({@link UpdateGate} elements), on the backend: what the EMA applies and what the
     * host reads for its logs.
     */
    public Tensor gate() { return gate; }

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
        if (step < 0 || step > MAX_STEPS) throw new IllegalArgumentException("optimizer step " + step + " outside [0, 2^24]");
        float[] g = new float[UpdateGate.SIZE];
        g[UpdateGate.STEP] = step;
        b.copyFromHost(gate, g, 0);
    }

    /** The most updates the gate counts exactly (its step count is a float32). */
    public static final long MAX_STEPS = 1L << 24;

    /**
     * One update with learning rate lr, decided by {@code g} from the accumulated gradients (clipped, averaged over
     * micro-batches, or skipped when not finite); the gate tells afterwards what was done.
     */
    public void update(float lr, UpdateGate g) {
        Backend b = store.backend();
        b.updateGate(gate, store.grads(), g);
        b.adamw(params, store.copyForOptimizer(), store.grads(), m, v, decayMask, lr, cfg.beta1(), cfg.beta2(),
                cfg.eps(), cfg.weightDecay(), gate);
    }

    /** One update with learning rate lr, no clipping, one micro-batch (skipped if the gradients are not finite). */
    public void update(float lr) {
        update(lr, new UpdateGate(0f, 1, cfg.beta1(), cfg.beta2(), UpdateGate.WARMUP_NONE, 0f, 1, 1));
    }

    /** The gate of AdamW's own config: clip at {@code gradClip} (0: off), {@code microBatches}, and the EMA's decay. */
    public UpdateGate gateFor(float gradClip, int microBatches, Ema ema) {
        return new UpdateGate(gradClip, microBatches, cfg.beta1(), cfg.beta2(), ema.warmupCode(), ema.target(),
                ema.power(), ema.invGamma());
    }

    @Override public void close() {
        m.close();
        v.close();
        decayMask.close();
        gate.close();
    }
}
