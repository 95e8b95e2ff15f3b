package io.github.diffusion4j.tensor;

/**
 * The decision and scalars of one optimizer update, made where the step runs ({@link Backend#updateGate}) so that a
 * training step needs no host synchronisation: the gradient norm, the non-finite skip, the clip factor, AdamW's bias
 * corrections and the EMA decay of the update's step number. They live in a small F32 tensor, the gate, that
 * {@link Backend#adamw} and {@link Backend#emaUpdate} read and the host reads later ({@link Backend#toHostLater}),
 * for its logs. The gate also holds the count of applied updates (t), exact up to 2^24.
 *
 * <p>Per update, with {@code S} the sum of squares of the accumulated gradients (in double):
 * <pre>
 *   norm  = sqrt(S) / microBatches                      (the norm of the averaged gradient)
 *   skip  = norm is not finite                          (a non-finite loss makes some gradient non-finite too)
 *   clip  = gradClip > 0 and norm > gradClip ? (float) (gradClip / norm) : 1
 *   scale = clip / microBatches                         (what the gradients are multiplied by)
 *   t     = t + 1 unless skip
 *   bc1   = (float) (1 - beta1^t),  bc2 = (float) (1 - beta2^t)   (double pow)
 *   decay = the EMA decay of step t ({@link #emaDecay})
 * </pre>
 * On a skip, AdamW and the EMA leave everything unchanged.
 *
 * @param gradClip     global-norm clipping threshold (0: off)
 * @param microBatches micro-batches whose gradients were summed
 * @param beta1        AdamW's beta1 (for bc1)
 * @param beta2        AdamW's beta2 (for bc2)
 * @param emaWarmup    {@link #WARMUP_DDPM}, {@link #WARMUP_POWER} or {@link #WARMUP_NONE}
 * @param emaTarget    the EMA decay target
 * @param emaPower     the power form's exponent
 * @param emaInvGamma  the power form's inverse gamma
 */
public record UpdateGate(float gradClip, int microBatches, float beta1, float beta2, int emaWarmup, float emaTarget,
                         double emaPower, double emaInvGamma) {
    /** Gate element: the gradient norm (of the averaged gradient). */
    public static final int NORM = 0;
    /** Gate element: the clip factor (1: not clipped; 0 on a skip). */
    public static final int CLIP = 1;
    /** Gate element: the gradient scale AdamW applies (clip / microBatches). */
    public static final int SCALE = 2;
    /** Gate element: 1 when the update is skipped, else 0. */
    public static final int SKIP = 3;
    /** Gate element: AdamW's bias correction 1 - beta1^t. */
    public static final int BC1 = 4;
    /** Gate element: AdamW's bias correction 1 - beta2^t. */
    public static final int BC2 = 5;
    /** Gate element: the EMA decay of this update. */
    public static final int EMA_DECAY = 6;
    /** Gate element: the number of updates applied so far (t), carried from update to update. */
    public static final int STEP = 7;
    /** Elements of a gate tensor. */
    public static final int SIZE = 8;

    /** EMA warm-up as in the DDPM code: min(target, (1 + t) / (10 + t)). */
    public static final int WARMUP_DDPM = 0;
    /** diffusers' power form: 1 - (1 + t / invGamma)^-power, clamped to [0, target]. */
    public static final int WARMUP_POWER = 1;
    /** No warm-up: the target. */
    public static final int WARMUP_NONE = 2;

    public UpdateGate {
        if (!(gradClip >= 0)) throw new IllegalArgumentException("gradient clip must be >= 0: " + gradClip);
        if (microBatches < 1) throw new IllegalArgumentException("micro-batches must be >= 1: " + microBatches);
        if (emaWarmup < WARMUP_DDPM || emaWarmup > WARMUP_NONE) throw new IllegalArgumentException("EMA warm-up " + emaWarmup);
    }

    /** The EMA decay after {@code t} updates (t counts from 1 for the first). */
    public static float emaDecay(int warmup, float target, double power, double invGamma, long t) {
        double d = switch (warmup) {
            case WARMUP_DDPM -> Math.min(target, (1.0 + t) / (10.0 + t));
            case WARMUP_POWER -> Math.max(0.0, Math.min(target, 1.0 - Math.pow(1.0 + t / invGamma, -power)));
            default -> target;
        };
        return (float) d;
    }

    /**
     * The gate's update in Java, the reference of every backend: writes {@code gate} (elements as above) from the
     * sum of squares {@code sumSquares} and the previous gate's {@link #STEP}.
     */
    public void decide(float[] gate, int o, double sumSquares) {
        double norm = Math.sqrt(sumSquares) / microBatches;
        boolean skip = !Double.isFinite(norm);
        float t = gate[o + STEP];
        gate[o + NORM] = (float) norm;
        gate[o + SKIP] = skip ? 1f : 0f;
        if (skip) {
            gate[o + CLIP] = 0f;
            gate[o + SCALE] = 0f;
            return;   // bc1, bc2 and the decay keep the last applied update's values
        }
        float clip = gradClip > 0 && norm > gradClip ? (float) (gradClip / norm) : 1f;
        t += 1f;
        gate[o + CLIP] = clip;
        gate[o + SCALE] = clip / microBatches;
        gate[o + STEP] = t;
        gate[o + BC1] = (float) (1 - Math.pow(beta1, t));
        gate[o + BC2] = (float) (1 - Math.pow(beta2, t));
        gate[o + EMA_DECAY] = emaDecay(emaWarmup, emaTarget, emaPower, emaInvGamma, (long) t);
    }
}
