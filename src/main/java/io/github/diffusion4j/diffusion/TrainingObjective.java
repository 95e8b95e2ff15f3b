package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.dist.BatchSlice;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The denoising training objective (Ho et al. 2020, algorithm 1), split around the model call so that a trainer
 * can run the network's forward and backward passes in between:
 * <ol>
 *   <li>{@link #prepare}: draw t ~ U{0, ..., T-1} per sample and eps ~ N(0, I) (Philox), form
 *       x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps and the target (eps, x0 or v) in one fused
 *       {@link Backend#qSample}; optionally replace labels by the null class (for classifier-free guidance);</li>
 *   <li>the caller runs the model on (x_t, t, labels);</li>
 *   <li>{@link #loss}: L = (1/N) sum_n w_n mean_i (out - target)^2 and dL/dout, in one fused
 *       {@link Backend#mseLoss}, plus the loss per timestep quartile (improved-diffusion's loss_q0 ... loss_q3).</li>
 * </ol>
 *
 * <p>Weights w_n: uniform (1), or min-SNR-gamma (Hang et al. 2023) expressed for the prediction type as diffusers'
 * training scripts do: x0-prediction min(SNR, gamma); epsilon min(SNR, gamma) / SNR (1 where SNR = 0, i.e. zero
 * terminal SNR); v min(SNR, gamma) / (SNR + 1).
 *
 * <p>Offset noise (Guttenberg 2023): eps += strength * z_{n,c} with one extra normal per sample and channel.
 *
 * <p>Random numbers of training step {@code step} under {@code seed} (Philox element indices; base = step * 2^40):
 * eps at {@code base + i}; offset noise at {@code base + 2^38 + n C + c}; timesteps from a stream at
 * {@code base + 2^39}; label dropout from a stream at {@code base + 2^39 + 2^32}. Hence a step is reproducible from
 * (seed, step) alone, on every backend.
 *
 * <p>A rank of a data-parallel run prepares its {@link BatchSlice} of the global batch: the indices above are those
 * of the sample's place in the global batch (eps at {@code base + (offset + n) CHW + i}; the timesteps of the whole
 * global batch are drawn, as rejection sampling consumes a variable number of draws, and the slice's are used), so
 * the ranks together draw exactly what one process with the global batch draws.
 *
 * <p><b>Flow matching</b> ({@link Builder#flowMatching}; Lipman et al. 2023, as SD3 trains): sigma is drawn per sample
 * from the shifted training sigmas of {@link FlowMatchScheduler#trainingSigmas} at index {@code floor(u T)}, u
 * uniform or logit-normal (sigmoid of N(0, 1)), as diffusers' training scripts do; {@code x_t = (1 - sigma) x0 +
 * sigma eps}, the target is the velocity {@code eps - x0}, every sample weighs 1, the model's timestep input is
 * {@code sigma T}, and the quartiles are those of sigma. The draws: u from the stream at {@code base + 2^39}, eps as
 * above. Both x_t and the target are {@link Backend#qSample} passes with per-sample coefficient tables (the same
 * Philox eps in both), so they run where the step runs on every backend.
 *
 * <p><b>EDM</b> ({@link Builder#edm}; Karras et al. 2022): {@code ln sigma ~ N(P_mean, P_std^2)} (one normal from the
 * stream at {@code base + 2^39} per sample), the network's input {@code c_in (x0 + sigma eps)}, its target
 * {@code (x0 - c_skip (x0 + sigma eps)) / c_out} and timestep input {@code 1000 c_noise} ({@link EdmPreconditioning});
 * EDM's weight lambda = 1 / c_out^2 cancels against the target's scale, so every sample weighs 1. The quartiles are
 * those of the draw (ln sigma against the normal's quartiles). The same two per-sample-table qSample passes as flow
 * matching form input and target.
 *
 * <p><b>Learned variance</b> ({@link Builder#learnSigma}; improved DDPM, Nichol &amp; Dhariwal 2021): the model's
 * output has twice the channels, its first half the prediction (regressed as above) and its second half v with
 * {@code log sigma^2 = frac log beta_t + (1 - frac) log beta~_t}, {@code frac = (v + 1) / 2}; the loss is the hybrid
 * {@code L_simple + lambda T L_vlb,t} with the variational-bound term of the sampled t ({@link Backend#vlbLoss}, in
 * bits per dimension: the KL of the posterior from the model's step, or at t = 0 the discretised decoder NLL) whose
 * gradient reaches v only (the mean is stop-gradient), lambda = 0.001 as in the paper (improved-diffusion's
 * {@code vb * T / 1000}).
 *
 * <p>The tensors of a {@link Batch} and {@link LossResult} are buffers of this objective, reused while the batch shape
 * stays the same: they are valid until the next call of the same method.
 */
public final class TrainingObjective implements AutoCloseable {
    /** Philox elements reserved for one training step. */
    public static final long STEP_STRIDE = 1L << 40;
    static final long OFFSET_NOISE_AT = 1L << 38;
    static final long TIMESTEPS_AT = 1L << 39;
    static final long LABELS_AT = (1L << 39) + (1L << 32);

    /** The per-sample loss weighting. */
    public enum Weighting { UNIFORM, MIN_SNR }

    private final NoiseSchedule schedule;
    private final PredictionType predictionType;
    private final Weighting weighting;
    private final double snrGamma;
    private final float offsetNoise;
    private final float labelDropout;
    private final int nullClass;
    /** Flow matching or EDM: how a sample's level is drawn and what it gives (null: the DDPM objective). */
    private final LevelDraw levels;
    /** Flow matching, EDM: [6n] per-sample coefficient tables (x_t: a, b; target: c, d; model timesteps; weights). */
    private Tensor flowCoefficients, flowIndex;
    /** Views of {@link #flowCoefficients}: the coefficients of x_t (a, b) and of the target (c, d). */
    private Tensor flowA, flowB, flowC, flowD;

    private Tensor xt, target, noise, offsetBuf, timesteps, labelsBuf, weightsBuf, mse, dOut;
    /** Learned variance: lambda T (0: off), and the buffers of the hybrid loss. */
    private final double vlbScale;
    private Tensor x0Copy, vlbCoefs, vb, predHalf, varHalf, dPred, dVar;
    /**
     * [2G] for a global batch of G: the timesteps then the loss weights of the step ({@link Backend#drawTimesteps});
     * {@link #timesteps} and {@link #weightsBuf} are the slice's views of them.
     */
    private Tensor perSample, globalTimesteps, globalWeights;
    private BatchSlice bufferSlice;
    /** The loss weight of every timestep, [T] on the backend (uploaded with the step's buffers) and on the host. */
    private Tensor weightTable;
    private float[] weightTableHost;

    private TrainingObjective(Builder b) {
        this.schedule = b.schedule;
        this.predictionType = b.predictionType;
        this.weighting = b.weighting;
        this.snrGamma = b.snrGamma;
        this.offsetNoise = b.offsetNoise;
        this.labelDropout = b.labelDropout;
        this.nullClass = b.nullClass;
        this.vlbScale = b.learnSigma ? b.vlbWeight * b.schedule.numTimesteps() : 0;
        this.levels = b.flow ? new LevelDraw.Flow(FlowMatchScheduler.trainingSigmas(b.schedule.numTimesteps(), b.flowShift), b.flowLogitNormal)
                : b.edm != null ? new LevelDraw.Edm(b.edm, b.edmPMean, b.edmPStd) : null;
    }

    /** Whether this is the flow-matching objective. */
    public boolean flowMatching() { return levels instanceof LevelDraw.Flow; }

    /** Whether this is the EDM objective. */
    public boolean edm() { return levels instanceof LevelDraw.Edm; }

    /** Whether the model learns its variance (the hybrid loss; its output has twice the channels). */
    public boolean learnSigma() { return vlbScale > 0; }

    public static Builder builder(NoiseSchedule schedule) { return new Builder(schedule); }

    /** Settings of the objective. */
    public static final class Builder {
        private final NoiseSchedule schedule;
        private PredictionType predictionType = PredictionType.EPSILON;
        private Weighting weighting = Weighting.UNIFORM;
        private double snrGamma = 5.0;
        private float offsetNoise;
        private float labelDropout;
        private int nullClass = -1;
        private boolean flow, flowLogitNormal = true;
        private double flowShift = 1;
        private EdmPreconditioning edm;
        private double edmPMean, edmPStd;
        private boolean learnSigma;
        private double vlbWeight;

        private Builder(NoiseSchedule schedule) {
            if (schedule == null) throw new IllegalArgumentException("schedule must not be null");
            this.schedule = schedule;
        }

        public Builder predictionType(PredictionType p) { predictionType = p; return this; }

        /** Uniform weights (the default; Ho et al.'s "simple" loss). */
        public Builder uniformWeighting() { weighting = Weighting.UNIFORM; return this; }

        /** Min-SNR-gamma weighting; gamma = 5 is the paper's recommendation. */
        public Builder minSnrWeighting(double gamma) {
            if (!(gamma > 0)) throw new IllegalArgumentException("min-SNR gamma must be positive, got " + gamma);
            weighting = Weighting.MIN_SNR;
            snrGamma = gamma;
            return this;
        }

        /** Offset noise strength (0 = off; around 0.1 is typical). */
        public Builder offsetNoise(float strength) {
            if (!(strength >= 0 && Float.isFinite(strength))) throw new IllegalArgumentException("offset noise must be >= 0");
            offsetNoise = strength;
            return this;
        }

        /** Replace each label by {@code nullClass} with probability p (classifier-free guidance training). */
        public Builder labelDropout(float p, int nullClass) {
            if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("label dropout must be in [0, 1], got " + p);
            if (nullClass < 0) throw new IllegalArgumentException("null class id must be >= 0");
            labelDropout = p;
            this.nullClass = nullClass;
            return this;
        }

        /**
         * Flow matching instead of the DDPM objective, over the schedule's number of timesteps: sigma drawn by
         * {@code logitNormal} (else uniform) u and shifted by {@code shift} (1: none).
         */
        public Builder flowMatching(boolean logitNormal, double shift) {
            if (!(shift > 0 && Double.isFinite(shift))) throw new IllegalArgumentException("flow shift must be positive, got " + shift);
            flow = true;
            flowLogitNormal = logitNormal;
            flowShift = shift;
            return this;
        }

        /**
         * EDM instead of the DDPM objective: ln sigma ~ N(pMean, pStd^2) (EDM: -1.2, 1.2) and the preconditioning of
         * {@code pre} (its sigma_data).
         */
        public Builder edm(EdmPreconditioning pre, double pMean, double pStd) {
            if (pre == null) throw new IllegalArgumentException("EDM needs its preconditioning");
            if (!Double.isFinite(pMean) || !(pStd > 0 && Double.isFinite(pStd))) {
                throw new IllegalArgumentException("EDM needs a finite P_mean and a positive P_std, got " + pMean + ", " + pStd);
            }
            edm = pre;
            edmPMean = pMean;
            edmPStd = pStd;
            return this;
        }

        /** Improved DDPM's learned variance with the hybrid loss L_simple + lambda L_vlb (the paper: lambda 0.001). */
        public Builder learnSigma(double lambda) {
            if (!(lambda > 0 && Double.isFinite(lambda))) throw new IllegalArgumentException("the vlb weight must be positive, got " + lambda);
            learnSigma = true;
            vlbWeight = lambda;
            return this;
        }

        public TrainingObjective build() {
            if (learnSigma && (flow || edm != null)) {
                throw new IllegalArgumentException("a learned variance applies to the DDPM objective, not to " + (flow ? "flow matching" : "EDM"));
            }
            if (predictionType == null) throw new IllegalArgumentException("prediction type must not be null");
            if ((flow || edm != null) && weighting != Weighting.UNIFORM) {
                throw new IllegalArgumentException("min-SNR weighting applies to the DDPM objective, not to "
                        + (flow ? "flow matching" : "EDM"));
            }
            if (flow && edm != null) throw new IllegalArgumentException("flow matching and EDM are two objectives: choose one");
            return new TrainingObjective(this);
        }
    }

    /**
     * A prepared batch: the model input (xt, timesteps, labels) and the regression target; on the host the integer
     * timesteps {@code t} (DDPM; flow matching and EDM: the first timestep of the level's quartile), the loss weights
     * and the quartile of each sample for the logs.
     */
    public record Batch(Tensor xt, Tensor timesteps, Tensor labels, Tensor target, int[] t, float[] weights, int[] quartiles) {}

    /**
     * The loss of a batch. Only {@link #dOut} is ready at once: the per-sample values are copied to the host behind
     * the queued work ({@link Backend#toHostLater}), and the first call of any other accessor waits for them. Read
     * them after queueing the backward pass and the GPU keeps working meanwhile.
     *
     * <ul>
     * <li>{@link #loss}: (1/N) sum_n w_n mse_n (+ lambda T vb_n with a learned variance)
     * <li>{@link #dOut}: dLoss/dModelOutput
     * <li>{@link #perSampleMse}: mse_n (unweighted)
     * <li>{@link #perSampleLoss}: w_n mse_n
     * <li>{@link #quartileLoss}: mean of w_n mse_n over the samples with t in [qT/4, (q+1)T/4), NaN where there are
     *     none
     * <li>{@link #quartileMse}: the same for the unweighted mse
     * <li>{@link #quartileCount}: samples per quartile
     * </ul>
     */
    public static final class LossResult {
        private final Tensor dOut;
        private final Backend.PendingCopy mse, vb;
        private final double vbScale;
        private final float[] weights;
        private final int[] quartiles;
        private double loss, vbMean;
        private float[] perSampleMse, perSampleLoss;
        private double[] quartileLoss, quartileMse;
        private int[] quartileCount;

        LossResult(Tensor dOut, Backend.PendingCopy mse, float[] weights, int[] quartiles, Backend.PendingCopy vb,
                   double vbScale) {
            this.dOut = dOut;
            this.mse = mse;
            this.weights = weights;
            this.quartiles = quartiles;
            this.vb = vb;
            this.vbScale = vbScale;
        }

        private void resolve() {
            if (perSampleMse != null) return;
            float[] m = mse.get();
            float[] v = vb == null ? null : vb.get();
            int n = quartiles.length;
            float[] per = new float[n];
            double total = 0;
            double[] ql = new double[4], qm = new double[4];
            int[] qc = new int[4];
            for (int i = 0; i < n; i++) {
                per[i] = weights[i] * m[i];
                if (v != null) {
                    per[i] += (float) (vbScale * v[i]);
                    vbMean += v[i] / (double) n;
                }
                total += per[i];
                int q = quartiles[i];
                ql[q] += per[i];
                qm[q] += m[i];
                qc[q]++;
            }
            for (int q = 0; q < 4; q++) {
                ql[q] = qc[q] == 0 ? Double.NaN : ql[q] / qc[q];
                qm[q] = qc[q] == 0 ? Double.NaN : qm[q] / qc[q];
            }
            loss = total / n;
            perSampleLoss = per;
            quartileLoss = ql;
            quartileMse = qm;
            quartileCount = qc;
            perSampleMse = m;
        }

        public Tensor dOut() { return dOut; }

        public double loss() { resolve(); return loss; }

        public float[] perSampleMse() { resolve(); return perSampleMse; }

        public float[] perSampleLoss() { resolve(); return perSampleLoss; }

        public double[] quartileLoss() { resolve(); return quartileLoss; }

        public double[] quartileMse() { resolve(); return quartileMse; }

        public int[] quartileCount() { resolve(); return quartileCount; }

        /** "loss", "mse" and, for the quartiles that have samples, "loss_q0" ... and "mse_q0" ... (improved-diffusion). */
        public Map<String, Double> metrics() {
            resolve();
            Map<String, Double> m = new LinkedHashMap<>();
            double mseMean = 0;
            for (float v : perSampleMse) mseMean += v;
            m.put("loss", loss);
            m.put("mse", mseMean / perSampleMse.length);
            if (vb != null) m.put("vb", vbMean);
            for (int q = 0; q < 4; q++) if (quartileCount[q] > 0) m.put("loss_q" + q, quartileLoss[q]);
            for (int q = 0; q < 4; q++) if (quartileCount[q] > 0) m.put("mse_q" + q, quartileMse[q]);
            return m;
        }
    }

    public NoiseSchedule schedule() { return schedule; }

    public PredictionType predictionType() { return predictionType; }

    /** The loss weight of a sample at timestep t (1 for uniform weighting). */
    public double weight(int t) {
        if (weighting == Weighting.UNIFORM) return 1.0;
        double snr = schedule.snr(t);
        double clipped = Math.min(snr, snrGamma);
        return switch (predictionType) {
            case SAMPLE -> clipped;
            case EPSILON -> snr == 0 ? 1.0 : clipped / snr;
            case V_PREDICTION -> clipped / (snr + 1);
        };
    }


    /** Timestep quartile of improved-diffusion's logs: floor(4 t / T). */
    public int quartile(int t) {
        return (int) (4L * t / schedule.numTimesteps());
    }

    /**
     * Draws timesteps and noise for training step {@code step} and forms x_t and the target.
     *
     * @param x0     clean batch [N, C, H, W] (rank 2 or more)
     * @param labels [N] class ids, or null
     */
    public Batch prepare(Tensor x0, Tensor labels, long seed, long step) {
        return prepare(x0, labels, seed, step, null);
    }

    /**
     * {@link #prepare(Tensor, Tensor, long, long)} for {@code slice} of a global batch (null: x0 is the whole batch):
     * x0 and labels hold the slice's samples.
     */
    public Batch prepare(Tensor x0, Tensor labels, long seed, long step, BatchSlice slice) {
        if (step < 0) throw new IllegalArgumentException("step must be >= 0");
        if (x0.rank() < 2) throw new IllegalArgumentException("x0 must be [N, C, ...], got " + x0.shape());
        Backend b = x0.backend();
        Shape shape = x0.shape();
        int n = shape.dim(0);
        if (slice == null) slice = BatchSlice.whole(n);
        if (slice.count() != n) throw new IllegalArgumentException("a batch of " + n + " for slice " + slice);
        ensureBuffers(b, shape, slice);
        long base = step * STEP_STRIDE;
        long perSampleElems = shape.numel() / n;
        if (levels != null) return prepareLevels(x0, labels, seed, base, slice, perSampleElems);

        Philox.Stream tRng = new Philox.Stream(seed, base + TIMESTEPS_AT);
        int[] t = new int[n];
        float[] w = new float[n];
        for (int i = 0; i < slice.offset() + n; i++) {
            int ti = tRng.nextInt(schedule.numTimesteps());
            if (i < slice.offset()) continue;
            t[i - slice.offset()] = ti;
            w[i - slice.offset()] = weightTableHost[ti];
        }
        // the same draws where the step runs, from the same stream: the host's copy above is only for the logs
        // (quartiles, weighted losses), so nothing goes up to the device
        b.drawTimesteps(globalTimesteps, globalWeights, weightTable, seed, base + TIMESTEPS_AT);

        Tensor sa = schedule.sqrtAlphasCumprodTensor(b), sb = schedule.sqrtOneMinusAlphasCumprodTensor(b);
        long noiseAt = base + slice.offset() * perSampleElems;
        if (offsetNoise == 0f) {
            b.qSample(xt, target, x0, null, timesteps, sa, sb, predictionType.backendTarget(), seed, noiseAt);
        } else {
            b.randn(noise, seed, noiseAt);
            b.randn(offsetBuf, seed, base + OFFSET_NOISE_AT + (long) slice.offset() * shape.dim(1));
            b.scale(offsetBuf, offsetBuf, offsetNoise);
            b.addPerSampleChannel(noise, noise, offsetBuf);
            b.qSample(xt, target, x0, noise, timesteps, sa, sb, predictionType.backendTarget(), seed, noiseAt);
        }

        int[] q = new int[n];
        for (int i = 0; i < n; i++) q[i] = quartile(t[i]);
        if (vlbScale > 0) prepareVlb(x0, t);
        return new Batch(xt, timesteps, dropLabels(labels, n, seed, base, slice), target, t, w, q);
    }

    private Batch prepareLevels(Tensor x0, Tensor labels, long seed, long base, BatchSlice slice, long perSampleElems) {
        Backend b = x0.backend();
        Shape shape = x0.shape();
        int n = shape.dim(0), T = schedule.numTimesteps();
        // the levels of the whole global batch (a logit-normal u or an EDM sigma takes one normal), this slice's part
        Philox.Stream rng = new Philox.Stream(seed, base + TIMESTEPS_AT);
        double[] level = new double[n];
        for (int i = 0; i < slice.offset() + n; i++) {
            double l = levels.draw(rng);
            if (i >= slice.offset()) level[i - slice.offset()] = l;
        }
        float[] c = new float[6 * n], w = new float[n];
        int[] t = new int[n], q = new int[n];
        for (int i = 0; i < n; i++) {
            double[] k = levels.coefficients(level[i]);
            for (int j = 0; j < 5; j++) c[j * n + i] = (float) k[j];
            c[5 * n + i] = 1f;                       // weight
            w[i] = 1f;
            q[i] = levels.quartile(level[i]);
            t[i] = q[i] * T / 4;
        }
        b.copyFromHost(flowCoefficients, c, 0);
        long noiseAt = base + slice.offset() * perSampleElems;
        Tensor eps = null;
        if (offsetNoise != 0f) {
            b.randn(noise, seed, noiseAt);
            b.randn(offsetBuf, seed, base + OFFSET_NOISE_AT + (long) slice.offset() * shape.dim(1));
            b.scale(offsetBuf, offsetBuf, offsetNoise);
            b.addPerSampleChannel(noise, noise, offsetBuf);
            eps = noise;
        }
        b.qSample(xt, null, x0, eps, flowIndex, flowA, flowB, Backend.TARGET_EPSILON, seed, noiseAt);
        b.qSample(target, null, x0, eps, flowIndex, flowC, flowD, Backend.TARGET_EPSILON, seed, noiseAt);
        return new Batch(xt, timesteps, dropLabels(labels, n, seed, base, slice), target, t, w, q);
    }

    /** The hybrid loss's inputs: a copy of x0 and {@link Backend#vlbLoss}'s coefficients of each sample's t. */
    private void prepareVlb(Tensor x0, int[] t) {
        Backend b = x0.backend();
        b.copy(x0Copy, x0);
        int k = Backend.VLB_COEFFICIENTS;
        float[] c = new float[k * t.length];
        float[] c1 = schedule.posteriorMeanCoef1(), c2 = schedule.posteriorMeanCoef2(),
                minLog = schedule.posteriorLogVarianceClipped();
        for (int i = 0; i < t.length; i++) {
            int ti = t[i];
            double[] pq = Parameterization.coefficients(predictionType, PredictionType.SAMPLE, schedule.alphaBar(ti));
            c[k * i] = c1[ti];
            c[k * i + 1] = c2[ti];
            c[k * i + 2] = minLog[ti];
            c[k * i + 3] = (float) Math.log(schedule.beta(ti));
            c[k * i + 4] = (float) pq[0];
            c[k * i + 5] = (float) pq[1];
            c[k * i + 6] = ti == 0 ? 1f : 0f;
        }
        b.copyFromHost(vlbCoefs, c, 0);
    }

    /** The labels with classifier-free guidance's dropout applied (the labels themselves when it is off), or null. */
    private Tensor dropLabels(Tensor labels, int n, long seed, long base, BatchSlice slice) {
        if (labels == null) return null;
        if (labels.numel() != n) throw new IllegalArgumentException(labels.numel() + " labels for a batch of " + n);
        if (labelDropout <= 0) return labels;
        ClassifierFreeGuidance.dropLabels(labelsBuf, labels, labelDropout, nullClass,
                new Philox.Stream(seed, base + LABELS_AT + slice.offset()));
        return labelsBuf;
    }

    /**
     * The weighted MSE of the model output against the batch's target, its gradient, and quartile statistics. Queues
     * the work and returns: the host waits only when it reads the loss (see {@link LossResult}).
     */
    public LossResult loss(Batch batch, Tensor modelOut) {
        Shape expect = vlbScale > 0 ? batch.target().shape().withDim(1, 2 * batch.target().dim(1)) : batch.target().shape();
        if (!modelOut.shape().equals(expect)) {
            throw new IllegalArgumentException("model output " + modelOut.shape() + " for target " + batch.target().shape()
                    + (vlbScale > 0 ? " (a learned variance doubles the channels)" : ""));
        }
        Backend b = modelOut.backend();
        int n = batch.weights().length;
        if (vlbScale > 0) {
            // the prediction half by the weighted MSE, the variance half by the VLB term (mean stop-gradient)
            b.splitChannels(new Tensor[] {predHalf, varHalf}, modelOut);
            b.mseLoss(mse, dPred, predHalf, batch.target(), weightsBuf, 1f / n);
            b.vlbLoss(vb, dVar, x0Copy, batch.xt(), predHalf, varHalf, vlbCoefs, (float) (vlbScale / n));
            b.concatChannels(dOut, dPred, dVar);
            return new LossResult(dOut, b.toHostLater(mse), batch.weights(), batch.quartiles(), b.toHostLater(vb), vlbScale);
        }
        // the weights went up with the timesteps in prepare (valid until the next prepare, as the batch's tensors are)
        b.mseLoss(mse, dOut, modelOut, batch.target(), weightsBuf, 1f / n);
        return new LossResult(dOut, b.toHostLater(mse), batch.weights(), batch.quartiles(), null, 0);
    }

    private void ensureBuffers(Backend b, Shape shape, BatchSlice slice) {
        if (xt != null && xt.shape().equals(shape) && xt.backend() == b && slice.equals(bufferSlice)) return;
        close();
        bufferSlice = slice;
        int n = shape.dim(0);
        xt = b.empty(shape);
        target = b.empty(shape);
        noise = offsetNoise > 0 ? b.empty(shape) : null;
        dOut = b.empty(vlbScale > 0 ? shape.withDim(1, 2 * shape.dim(1)) : shape);
        if (vlbScale > 0) {
            x0Copy = b.empty(shape);
            predHalf = b.empty(shape);
            varHalf = b.empty(shape);
            dPred = b.empty(shape);
            dVar = b.empty(shape);
            vb = b.empty(Shape.of(n));
            vlbCoefs = b.empty(Shape.of(Backend.VLB_COEFFICIENTS * n));
        }
        offsetBuf = offsetNoise > 0 ? b.empty(Shape.of(n, shape.dim(1))) : null;
        int steps = schedule.numTimesteps();
        weightTableHost = new float[steps];
        for (int s = 0; s < steps; s++) weightTableHost[s] = (float) weight(s);
        weightTable = b.fromArray(weightTableHost, steps);
        int g = slice.total();
        perSample = b.empty(Shape.of(2 * g));
        globalTimesteps = perSample.view(0, Shape.of(g));
        globalWeights = perSample.view(g, Shape.of(g));
        timesteps = perSample.view(slice.offset(), Shape.of(n));
        weightsBuf = perSample.view(g + slice.offset(), Shape.of(n));
        labelsBuf = b.empty(Shape.of(n));
        mse = b.empty(Shape.of(n));
        if (levels != null) {
            flowCoefficients = b.empty(Shape.of(6 * n));
            float[] idx = new float[n];   // table index 0 ... n-1: sample i takes the i-th coefficients
            for (int i = 0; i < n; i++) idx[i] = i;
            flowIndex = b.fromArray(idx, n);
            flowA = flowCoefficients.view(0, Shape.of(n));
            flowB = flowCoefficients.view(n, Shape.of(n));
            flowC = flowCoefficients.view(2L * n, Shape.of(n));
            flowD = flowCoefficients.view(3L * n, Shape.of(n));
            timesteps = flowCoefficients.view(4L * n, Shape.of(n));   // the model's input and the loss weights
            weightsBuf = flowCoefficients.view(5L * n, Shape.of(n));
        }
    }

    @Override public void close() {
        for (Tensor t : new Tensor[] {xt, target, noise, offsetBuf, perSample, weightTable, labelsBuf, mse, dOut,
                flowCoefficients, flowIndex, x0Copy, vlbCoefs, vb, predHalf, varHalf, dPred, dVar}) {
            if (t != null) t.close();
        }
        x0Copy = vlbCoefs = vb = predHalf = varHalf = dPred = dVar = null;
        flowCoefficients = flowIndex = flowA = flowB = flowC = flowD = null;
        xt = target = noise = offsetBuf = perSample = weightTable = timesteps = labelsBuf = weightsBuf = mse = dOut = null;
        globalTimesteps = globalWeights = null;
        bufferSlice = null;
    }
}
