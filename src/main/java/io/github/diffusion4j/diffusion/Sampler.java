package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The sampling loop around a {@link Scheduler} and a {@link Denoiser}: text-to-image style generation from noise,
 * img2img (SDEdit: start from a noised input at strength s) and RePaint-style inpainting. The scheduler's current
 * timesteps are used as they are: call {@code scheduler.setTimesteps(n)} first.
 *
 * <p>Random numbers come from one {@link NoiseStream} on the sampler's seed: the initial noise (or the noise added
 * to the init image) takes the first {@code numel} Philox indices, then every step that draws noise (the scheduler's
 * step, then the inpainting re-noise) takes the next {@code numel}. A seed therefore reproduces a sample exactly on
 * every backend.
 */
public final class Sampler {

    /** Called after every step with the new sample and the step's x0 estimate (both valid during the call only). */
    @FunctionalInterface
    public interface StepCallback {
        void onStep(int index, int t, Tensor sample, Tensor predX0);
    }

    private final Scheduler scheduler;
    private final Denoiser model;
    private long seed;
    private Tensor labels;
    private float guidanceScale = 1f;
    private int nullClass = -1;
    private StepCallback callback;

    public Sampler(Scheduler scheduler, Denoiser model) {
        if (scheduler == null || model == null) throw new IllegalArgumentException("scheduler and model must not be null");
        this.scheduler = scheduler;
        this.model = model;
    }

    public Sampler seed(long seed) {
        this.seed = seed;
        return this;
    }

    /** Class labels [N] (floats) for a class-conditional model, or null. */
    public Sampler labels(Tensor labels) {
        this.labels = labels;
        return this;
    }

    /**
     * Classifier-free guidance with scale s and the model's null class id (needs labels). s = 1 runs the
     * conditional model alone (one batch of N).
     */
    public Sampler guidance(float scale, int nullClass) {
        if (!(scale >= 0 && Float.isFinite(scale))) throw new IllegalArgumentException("guidance scale must be >= 0, got " + scale);
        this.guidanceScale = scale;
        this.nullClass = nullClass;
        return this;
    }

    public Sampler callback(StepCallback callback) {
        this.callback = callback;
        return this;
    }

    /** Generates a batch of the given shape from Gaussian noise. The result is owned by the caller. */
    public Tensor sample(Backend backend, Shape shape) {
        NoiseStream rng = new NoiseStream(seed);
        Tensor x = backend.empty(shape);
        backend.randn(x, rng.seed(), rng.take(x.numel()));
        float sigma = scheduler.initNoiseSigma();
        if (sigma != 1f) backend.scale(x, x, sigma);
        return denoise(x, scheduler.timesteps(), null, null, rng);
    }

    /**
     * SDEdit / img2img: noise {@code init} to the level of the first of the last {@code floor(n * strength)}
     * timesteps and denoise from there (diffusers' {@code get_timesteps}). strength 1 starts from (almost) pure noise.
     *
     * @throws IllegalArgumentException when strength is outside [0, 1] or leaves no step to run
     */
    public Tensor img2img(Tensor init, double strength) {
        int[] ts = img2imgTimesteps(strength);
        NoiseStream rng = new NoiseStream(seed);
        Tensor x = noised(init, ts[0], rng);
        return denoise(x, ts, null, null, rng);
    }

    /**
     * RePaint-style inpainting: after every step the known pixels ({@code keepMask} = 1) are replaced by the
     * original re-noised to the level of the new sample, {@code x = m * q_sample(original) + (1 - m) * x}; at the
     * end they equal the original. With strength 1 the start is pure noise, otherwise the noised original as in
     * {@link #img2img}.
     *
     * @param keepMask 1 where the original is kept, 0 where content is generated (values in between blend); of
     *                 shape [H, W] or [1, 1, H, W] (one mask for every channel and sample), [C, H, W] or [1, C, H, W]
     *                 (per channel), or the full [N, C, H, W]: leading axes of size 1 repeat
     */
    public Tensor inpaint(Tensor original, Tensor keepMask, double strength) {
        if (keepMask == null) throw new IllegalArgumentException("inpainting needs a mask");
        checkMask(keepMask.shape(), original.shape());
        int[] ts = img2imgTimesteps(strength);
        NoiseStream rng = new NoiseStream(seed);
        Tensor x;
        if (strength >= 1.0) {
            Backend b = original.backend();
            x = b.empty(original.shape());
            b.randn(x, rng.seed(), rng.take(x.numel()));
            float sigma = scheduler.initNoiseSigma();
            if (sigma != 1f) b.scale(x, x, sigma);
        } else {
            x = noised(original, ts[0], rng);
        }
        return denoise(x, ts, original, keepMask, rng);
    }

    /**
     * The mask must be some leading 1s followed by the image's trailing axes (at least H and W), so that repeating it
     * over the image's elements lines up with them.
     */
    static void checkMask(Shape mask, Shape image) {
        int[] m = mask.dims(), im = image.dims();
        for (int split = 0; split <= m.length; split++) {
            int r = m.length - split;
            if (r > im.length || r < Math.min(2, im.length)) continue;
            boolean ok = true;
            for (int k = 0; ok && k < split; k++) ok = m[k] == 1;
            for (int k = 0; ok && k < r; k++) ok = m[split + k] == im[im.length - r + k];
            if (ok) return;
        }
        throw new IllegalArgumentException("mask " + mask + " does not fit image " + image
                + ": use [H, W], [1, 1, H, W], [1, C, H, W] or the image's shape");
    }

    /**
     * The timesteps img2img runs at strength s (diffusers' {@code get_timesteps}): {@code k = min(floor(n s), n)};
     * the last k of the grid.
     */
    public static int[] img2imgTimesteps(int[] timesteps, double strength) {
        return img2imgTimesteps(timesteps, timesteps.length, 1, strength);
    }

    /**
     * As {@link #img2imgTimesteps(int[], double)} for a grid of {@code steps} steps of {@code order} model
     * evaluations each ({@link Scheduler#order}; Heun: 2, its last step 1): the last k steps start at
     * {@code timesteps[(steps - k) * order]}, as diffusers slices {@code timesteps[t_start * order:]}.
     */
    public static int[] img2imgTimesteps(int[] timesteps, int steps, int order, double strength) {
        if (!(strength >= 0 && strength <= 1)) throw new IllegalArgumentException("strength must be in [0, 1], got " + strength);
        int init = Math.min((int) (steps * strength), steps);
        if (init < 1) {
            throw new IllegalArgumentException("strength " + strength + " with " + steps + " inference steps leaves no step to run "
                    + "(need steps * strength >= 1)");
        }
        int start = (steps - init) * order;
        int[] out = new int[timesteps.length - start];
        System.arraycopy(timesteps, start, out, 0, out.length);
        return out;
    }

    private int[] img2imgTimesteps(double strength) {
        return img2imgTimesteps(scheduler.timesteps(), scheduler.numInferenceSteps(), scheduler.order(), strength);
    }

    private Tensor noised(Tensor init, int t, NoiseStream rng) {
        Tensor x = init.backend().empty(init.shape());
        scheduler.noiseTo(x, init, t, rng.seed(), rng.take(x.numel()));
        return x;
    }

    private Tensor denoise(Tensor x, int[] ts, Tensor original, Tensor keepMask, NoiseStream rng) {
        Backend b = x.backend();
        int n = x.dim(0);
        if (labels != null && labels.numel() != n) {
            throw new IllegalArgumentException(labels.numel() + " labels for a batch of " + n);
        }
        ClassifierFreeGuidance cfg = null;
        Denoiser d = model;
        if (guidanceScale != 1f) {
            if (labels == null) throw new IllegalArgumentException("classifier-free guidance needs labels");
            cfg = new ClassifierFreeGuidance(model, guidanceScale, nullClass);
            d = cfg;
        }
        Tensor tt = b.empty(Shape.of(n));
        Tensor predX0 = callback != null ? b.empty(x.shape()) : null;
        Tensor[] halves = null;   // a learned-variance model's output for a scheduler that takes the prediction only
        try {
            scheduler.reset();
            for (int i = 0; i < ts.length; i++) {
                int t = ts[i];
                b.beginStep();   // the previous step's activations (backend scratch) may be reused from here
                b.fill(tt, scheduler.modelTimestep(t));
                Tensor out = d.predict(scheduler.scaleModelInput(x, t), tt, labels);
                if (x.rank() >= 2 && out.rank() >= 2 && out.dim(1) == 2 * x.dim(1) && !scheduler.readsVariance()) {
                    if (halves == null) halves = new Tensor[] {b.empty(x.shape()), b.empty(x.shape())};
                    b.splitChannels(halves, out);
                    out = halves[0];
                }
                scheduler.step(x, predX0, out, t, x, rng);
                if (keepMask != null) {
                    double[] lv = scheduler.outputLevels(t);
                    float sa = (float) lv[0], sb = (float) lv[1];
                    b.repaintBlend(x, x, original, keepMask, sa, sb, rng.seed(), sb != 0f ? rng.take(x.numel()) : 0);
                }
                if (callback != null) callback.onStep(i, t, x, predX0);
            }
        } catch (RuntimeException e) {
            x.close();
            throw e;
        } finally {
            tt.close();
            if (halves != null) for (Tensor h : halves) h.close();
            if (predX0 != null) predX0.close();
            if (cfg != null) cfg.close();
        }
        return x;
    }
}
