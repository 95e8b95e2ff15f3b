package io.github.diffusion4j.train;

import io.github.diffusion4j.diffusion.Denoiser;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.Objects;

/**
 * A model in inference mode whose forward pass is recorded once ({@link Backend#record}: a CUDA graph) and then
 * replayed with one launch per evaluation, instead of queueing its few hundred kernels and library calls one by one.
 * The results are those of {@link ModelDenoiser} bit for bit: the same operations run on the same data.
 *
 * <p>A recording replays fixed memory, so the inputs are first copied into buffers of this denoiser (three
 * device-to-device copies) and the output is copied out of the activation arena into another one, which
 * {@link #predict} returns (valid until the next call, as the {@link Denoiser} contract says). For each input shape
 * (batch size, image size, labels or none):
 * <ol>
 * <li>the first call runs directly (this sizes the activation arena and picks the convolution algorithms, which a
 *     recording could not do);
 * <li>the second records, then replays;
 * <li>later calls replay, and record again after device memory has been freed (a recording may use that memory).
 * </ol>
 * Where the backend cannot record (the CPU, or a refused capture), every call runs directly, like
 * {@link ModelDenoiser}; {@link #recordingFailure} says why.
 */
public final class RecordedDenoiser implements Denoiser, AutoCloseable {
    private final Model model;
    private Backend backend;
    private Shape xShape;
    private boolean labelled;
    private Tensor x, t, labels, out;
    private Backend.Recording recording;
    private boolean ranOnce;   // the current shape's first (direct) call happened
    private boolean recordable = true;
    private String recordingFailure;
    private long replays, recordings;

    public RecordedDenoiser(Model model) {
        this.model = Objects.requireNonNull(model, "model");
    }

    public Model model() { return model; }

    @Override public Tensor predict(Tensor xt, Tensor timesteps, Tensor labels) {
        Backend b = xt.backend();
        if (b != backend || !xt.shape().equals(xShape) || (labels != null) != labelled) reset(b, xt.shape(), labels != null);
        if (!recordable || !ranOnce) {
            ranOnce = true;
            return direct(xt, timesteps, labels);
        }
        if (timesteps.numel() != xt.dim(0) || (labels != null && labels.numel() != xt.dim(0))) {
            return direct(xt, timesteps, labels);   // the model reports the mismatch
        }
        b.copy(x, xt);
        b.copy(t, timesteps);
        if (labels != null) b.copy(this.labels, labels);
        b.beginStep();   // scratch tensors handed out before may be reused, as by a direct forward pass
        if (recording != null && recording.replay()) {
            replays++;
            return out;
        }
        if (recording != null) {
            recording.close();
            recording = null;
        }
        recording = b.record(() -> {
            b.beginStep();
            Tensor y = model.forward(Ctx.inference(b), x, t, labelled ? this.labels : null);
            if (!y.shape().equals(out.shape())) {
                throw new IllegalStateException("model returned " + y.shape() + " for input " + x.shape());
            }
            b.copy(out, y);
        });
        if (recording == null) {
            recordable = false;
            recordingFailure = b instanceof io.github.diffusion4j.backend.cuda.CudaBackend c && c.lastRecordingFailure() != null
                    ? c.lastRecordingFailure() : "the " + b.name() + " backend does not record";
            return direct(xt, timesteps, labels);
        }
        recordings++;
        if (!recording.replay()) throw new IllegalStateException("a fresh recording could not be replayed");
        replays++;
        return out;
    }

    private Tensor direct(Tensor xt, Tensor timesteps, Tensor labels) {
        xt.backend().beginStep();
        return model.forward(Ctx.inference(xt.backend()), xt, timesteps, labels);
    }

    private void reset(Backend b, Shape shape, boolean withLabels) {
        close();
        backend = b;
        xShape = shape;
        labelled = withLabels;
        ranOnce = false;
        int n = shape.dim(0);
        x = b.empty(shape);
        t = b.empty(Shape.of(n));
        labels = withLabels ? b.empty(Shape.of(n)) : null;
        out = b.empty(shape.withDim(1, model.outChannels()));   // the prediction (and a learned variance)
    }

    /** Why evaluations run directly instead of being replayed, or null while recording works (or was not tried). */
    public String recordingFailure() { return recordingFailure; }

    /** Evaluations replayed from a recording so far. */
    public long replays() { return replays; }

    /** Recordings made so far (one per input shape, and again after memory was freed). */
    public long recordings() { return recordings; }

    /** Frees the buffers and the recording; the denoiser may be used again afterwards. */
    @Override public void close() {
        if (recording != null) recording.close();
        recording = null;
        for (Tensor tensor : new Tensor[] {x, t, labels, out}) if (tensor != null) tensor.close();
        x = t = labels = out = null;
        backend = null;
        xShape = null;
    }
}
