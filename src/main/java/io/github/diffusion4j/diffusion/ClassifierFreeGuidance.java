package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Classifier-free guidance (Ho &amp; Salimans 2021) around a class-conditional denoiser: the batch is run once as
 * [conditional; unconditional] (2N samples, the second half labelled with the model's null class), and the halves
 * are combined as {@code out = uncond + s (cond - uncond)} (for whatever the model predicts). s = 1 gives the
 * conditional output, s = 0 the unconditional one, s &gt; 1 strengthens the condition.
 *
 * <p>The guided output lives in a buffer of this object (reused while the shape stays the same), valid until the
 * next call, as the {@link Denoiser} contract allows.
 */
public final class ClassifierFreeGuidance implements Denoiser, AutoCloseable {
    private final Denoiser model;
    private final float scale;
    private final int nullClass;
    private Tensor x2, t2, l2, out;

    /**
     * @param model     the conditional model, trained with label dropout to {@code nullClass}
     * @param scale     the guidance scale s (finite, &gt;= 0)
     * @param nullClass the label id the model uses for "no class"
     */
    public ClassifierFreeGuidance(Denoiser model, float scale, int nullClass) {
        if (model == null) throw new IllegalArgumentException("model must not be null");
        if (!(scale >= 0 && Float.isFinite(scale))) {
            throw new IllegalArgumentException("guidance scale must be finite and >= 0, got " + scale);
        }
        if (nullClass < 0) throw new IllegalArgumentException("null class id must be >= 0, got " + nullClass);
        this.model = model;
        this.scale = scale;
        this.nullClass = nullClass;
    }

    public float scale() { return scale; }

    public int nullClass() { return nullClass; }

    @Override public Tensor predict(Tensor xt, Tensor timesteps, Tensor labels) {
        if (labels == null) throw new IllegalArgumentException("classifier-free guidance needs class labels");
        int n = xt.dim(0);
        if (timesteps.numel() != n || labels.numel() != n) {
            throw new IllegalArgumentException("batch of " + n + " with " + timesteps.numel() + " timesteps and "
                    + labels.numel() + " labels");
        }
        Backend b = xt.backend();
        ensureBuffers(b, xt.shape());
        b.copy(x2.narrow0(0, n), xt);
        b.copy(x2.narrow0(n, 2 * n), xt);
        b.copy(t2.narrow0(0, n), timesteps);
        b.copy(t2.narrow0(n, 2 * n), timesteps);
        b.copy(l2.narrow0(0, n), labels);
        b.fill(l2.narrow0(n, 2 * n), nullClass);
        Tensor both = model.predict(x2, t2, l2);
        boolean learned = both.rank() >= 2 && both.dim(0) == 2 * n && both.dim(1) == 2 * xt.dim(1)
                && both.shape().withDim(1, xt.dim(1)).equals(x2.shape());
        if (!both.shape().equals(x2.shape()) && !learned) {
            throw new IllegalStateException("model returned " + both.shape() + " for input " + x2.shape());
        }
        if (!learned) {
            b.axpby(out, scale, both.narrow0(0, n), 1f - scale, both.narrow0(n, 2 * n));
            return out;
        }
        // a learned variance: guidance on the prediction half, the conditional model's variance (as diffusers' IF)
        if (halves == null || halves[0].backend() != b || !halves[0].shape().equals(xt.shape())) {
            closeHalves();
            halves = new Tensor[5];
            for (int k = 0; k < 5; k++) halves[k] = b.empty(xt.shape());
            guided = b.empty(both.shape().withDim(0, n));
        }
        b.splitChannels(new Tensor[] {halves[0], halves[1]}, both.narrow0(0, n));
        b.splitChannels(new Tensor[] {halves[2], halves[3]}, both.narrow0(n, 2 * n));
        b.axpby(halves[4], scale, halves[0], 1f - scale, halves[2]);
        b.concatChannels(guided, halves[4], halves[1]);
        return guided;
    }

    private Tensor[] halves;
    private Tensor guided;

    private void closeHalves() {
        if (halves != null) for (Tensor t : halves) t.close();
        if (guided != null) guided.close();
        halves = null;
        guided = null;
    }

    private void ensureBuffers(Backend b, Shape shape) {
        if (out != null && out.shape().equals(shape) && out.backend() == b) return;
        close();
        int n = shape.dim(0);
        x2 = b.empty(shape.withDim(0, 2 * n));
        t2 = b.empty(Shape.of(2 * n));
        l2 = b.empty(Shape.of(2 * n));
        out = b.empty(shape);
    }

    @Override public void close() {
        for (Tensor t : new Tensor[] {x2, t2, l2, out}) if (t != null) t.close();
        x2 = t2 = l2 = out = null;
        closeHalves();
    }

    /**
     * Label dropout for training a guidable model: {@code out[n] = nullClass} with probability p, else
     * {@code labels[n]}. Draws exactly N uniforms from {@code rng} (one per sample, whether dropped or not), so the
     * stream position after the call does not depend on the outcome. {@code out} may be {@code labels}. The N labels
     * pass through the host (N floats).
     */
    public static void dropLabels(Tensor out, Tensor labels, float p, int nullClass, Philox.Stream rng) {
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("label dropout probability must be in [0, 1], got " + p);
        if (out.numel() != labels.numel()) throw new IllegalArgumentException("labels " + labels.shape() + " into " + out.shape());
        float[] l = labels.toArray();
        for (int i = 0; i < l.length; i++) if (rng.nextUniform() < p) l[i] = nullClass;
        out.backend().copyFromHost(out, l, 0);
    }
}
