package io.github.diffusion4j.train;

import io.github.diffusion4j.diffusion.Sampler;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.io.ImageIo;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Precision;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The "training progress" figure: every {@code --sample-every} steps, a grid of samples from the EMA weights with
 * a fixed seed (so successive grids show the same noise being denoised better and better), by DDPM ancestral
 * sampling over {@code --sample-steps} respaced steps (more forgiving of a half-trained model than deterministic DDIM), written to {@code <run>/samples/step-NNNNNN.png}.
 */
final class Previewer implements AutoCloseable {
    /** The seed of the preview noise (fixed for the whole run). */
    static final long PREVIEW_SEED = 20200619L;
    private final TrainConfig cfg;
    private final Model sampleModel;
    private final io.github.diffusion4j.diffusion.Scheduler scheduler;   // the objective's default sampler
    private final Tensor labels;

    Previewer(TrainConfig cfg, Model trained, SchedulerConfig schedule) {
        this.cfg = cfg;
        this.sampleModel = cfg.createModel(trained.numClasses());
        Backend b = trained.params().backend();
        sampleModel.params().allocate(b, 0);
        Precision.parse(cfg.precision).apply(sampleModel);   // the grids show the model as it trains
        // ModelSamples' one construction of a sampler's scheduler: the objective's default (DDPM, Euler, EDM's Heun)
        this.scheduler = io.github.diffusion4j.eval.ModelSamples.scheduler(cfg.objective().defaultSampler(),
                io.github.diffusion4j.eval.ModelSamples.Setup.of(cfg, schedule), Math.min(cfg.sampleSteps, cfg.timesteps));
        if (trained.numClasses() > 0) {
            float[] l = new float[cfg.sampleCount];
            for (int i = 0; i < l.length; i++) l[i] = i % trained.numClasses();
            labels = b.fromArray(l, Shape.of(l.length));
        } else {
            labels = null;
        }
    }

    Path write(Path runDir, long step, Ema ema, Backend b) throws IOException {
        ema.copyTo(sampleModel.params());
        Sampler sampler = new Sampler(scheduler, new ModelDenoiser(sampleModel)).seed(PREVIEW_SEED);
        if (labels != null) sampler.labels(labels);
        float[] images;
        try (Tensor x = sampler.sample(b, Shape.of(cfg.sampleCount, cfg.channels, cfg.imageSize, cfg.imageSize))) {
            images = x.toArray();
        }
        Path dir = runDir.resolve("samples");
        Files.createDirectories(dir);
        Path png = dir.resolve(Checkpoint.folderName(step) + ".png");
        int scale = cfg.imageSize <= 32 ? 2 : 1;
        ImageIo.writeGrid(png, images, cfg.sampleCount, cfg.channels, cfg.imageSize, cfg.imageSize, scale);
        return png;
    }

    @Override public void close() {
        scheduler.close();
        sampleModel.params().close();
        if (labels != null) labels.close();
    }
}
