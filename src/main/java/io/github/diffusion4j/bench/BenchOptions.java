package io.github.diffusion4j.bench;

/**
 * What {@link Benchmark} measures.
 *
 * @param model         model preset (a {@code Presets} name)
 * @param imageSize     image height = width
 * @param channels      image channels
 * @param classes       class labels (0: unconditional)
 * @param batchSize     training batch
 * @param warmup        training steps run before timing (the first sizes the activation arena and builds the
 *                      cuDNN plans)
 * @param steps         timed training steps (the median is reported)
 * @param sampleBatch   sampling batch
 * @param sampleSteps   DDIM steps per sampling run (50 in the figure)
 * @param sampleRepeats timed sampling runs (after one short warm-up run at the same batch)
 * @param evalRepeats   timed single model evaluations at the sampling batch
 * @param seed          seed of the model's initialisation and of every random draw
 * @param training      whether to measure training
 * @param sampling      whether to measure sampling
 * @param profile       CUDA only: after the timed part, one more training step and one more model evaluation with
 *                      every operation timed by events (GPU time per kernel and per cuBLAS/cuDNN call and shape)
 * @param precision     what the model computes in (AUTO is resolved on the backend when the benchmark runs)
 * @param cudaGraphs    sampling through {@link io.github.diffusion4j.train.RecordedDenoiser} (the model's forward pass
 *                      replayed from a CUDA graph) instead of direct forward passes
 */
public record BenchOptions(String model, int imageSize, int channels, int classes, int batchSize, int warmup,
                           int steps, int sampleBatch, int sampleSteps, int sampleRepeats, int evalRepeats, long seed,
                           boolean training, boolean sampling, boolean profile, boolean cudaGraphs,
                           io.github.diffusion4j.nn.Precision precision) {
    public BenchOptions {
        if (imageSize <= 0 || channels <= 0) throw new IllegalArgumentException("image size and channels must be positive");
        if (classes < 0) throw new IllegalArgumentException("--classes must be >= 0");
        if (batchSize <= 0 || sampleBatch <= 0) throw new IllegalArgumentException("batch sizes must be positive");
        if (warmup < 0) throw new IllegalArgumentException("--warmup must be >= 0");
        if (steps <= 0) throw new IllegalArgumentException("--steps must be positive");
        if (sampleSteps <= 0 || sampleRepeats <= 0 || evalRepeats <= 0) {
            throw new IllegalArgumentException("sampling steps and repeats must be positive");
        }
    }
}
