package io.github.diffusion4j.data;

import java.util.List;

/**
 * A finite, indexable set of square images, optionally labelled. Images are produced in CHW layout with values
 * in [-1, 1] (0 maps to -1, 255 to 1).
 *
 * <p>Implementations must be safe to read from one background thread (the {@link DataLoader}'s prefetcher)
 * while the constructing thread does other work; all implementations here are immutable after construction or
 * synchronise their caches.
 */
public interface Dataset {

    /** Short name, e.g. {@code shapes}, {@code fashion-mnist/train}. */
    String name();

    /** Number of images. */
    int size();

    /** Channels per image: 1 (greyscale) or 3 (RGB). */
    int channels();

    /** Height and width of every image, in pixels. */
    int imageSize();

    /** Number of classes, 0 if the dataset is unlabelled. */
    int numClasses();

    /** Class names indexed by label (empty if unlabelled). */
    List<String> classNames();

    /** Floats per image: {@code channels() * imageSize() * imageSize()}. */
    default int imageFloats() { return channels() * imageSize() * imageSize(); }

    /**
     * Writes image {@code index} to {@code out[outOffset ...]} ({@link #imageFloats()} values, CHW, in [-1, 1]).
     *
     * @throws IndexOutOfBoundsException if {@code index} is not in [0, size())
     * @throws DatasetException if the underlying file cannot be read (lazily decoding datasets)
     */
    void image(int index, float[] out, int outOffset);

    /** Label of image {@code index} in [0, numClasses()), or -1 if the dataset is unlabelled. */
    int label(int index);

    /** Convenience: image {@code index} in a new array. */
    default float[] image(int index) {
        float[] out = new float[imageFloats()];
        image(index, out, 0);
        return out;
    }
}
