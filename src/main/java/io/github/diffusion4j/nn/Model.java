package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.List;

/**
 * A noise-prediction network with explicit backward: forward(x_t, t, labels) → prediction with the shape of
 * x_t; backward(dL/dprediction) accumulates the parameter gradients.
 */
public interface Model {
    /** The model's parameters (one flat buffer once allocated). */
    ParamStore params();

    /** Preset or architecture name. */
    String name();

    int inChannels();

    /** Output channels: the input's, or twice them for a learned variance (improved DDPM). */
    default int outChannels() { return inChannels(); }

    int imageSize();

    /** 0 for unconditional models; else the number of real classes (the null class has id numClasses()). */
    int numClasses();

    /**
     * x [N, C, H, W], timesteps [N] (float), labels [N] class ids (float) or null → output [N, C, H, W].
     * Caches what backward needs; the output stays valid until the next forward.
     */
    Tensor forward(Ctx ctx, Tensor x, Tensor timesteps, Tensor labels);

    /** Accumulates dL/dθ for the last forward pass. */
    void backward(Tensor dOut);

    /** One row per block: name, output shape for a batch of one, parameters. */
    List<LayerRow> summary();

    /** Multiply-accumulates of one forward pass per image (convolutions, linear layers and attention products). */
    long macsPerImage();

    record LayerRow(String name, Shape output, long parameters) {}
}
