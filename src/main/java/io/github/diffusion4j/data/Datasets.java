package io.github.diffusion4j.data;

import java.nio.file.Path;
import java.util.List;

/**
 * Opens datasets by name, for the command line and configs.
 *
 * <table>
 *   <caption>Names</caption>
 *   <tr><th>name</th><th>directory</th><th>channels</th><th>labels</th></tr>
 *   <tr><td>{@code shapes}</td><td>none (generated)</td><td>3</td><td>circle, square, triangle</td></tr>
 *   <tr><td>{@code fashion-mnist}</td><td>IDX files, default {@value #FASHION_MNIST_DEFAULT}</td><td>1</td><td>10 clothing classes</td></tr>
 *   <tr><td>{@code mnist}</td><td>IDX files (required)</td><td>1</td><td>digits</td></tr>
 *   <tr><td>{@code cifar10}</td><td>binary batches (required)</td><td>3</td><td>10 classes</td></tr>
 *   <tr><td>{@code folder}</td><td>image folder (required)</td><td>3</td><td>sub-folder names, or none</td></tr>
 * </table>
 */
public final class Datasets {
    /** Dataset names understood by {@link #open}. */
    public static final List<String> NAMES = List.of("shapes", "fashion-mnist", "mnist", "cifar10", "folder");
    static final String FASHION_MNIST_DEFAULT = "/usr/share/datasets/fashion-mnist";
    /** Seed of the generated shapes test split (the train split uses the caller's seed, default 0). */
    public static final long SHAPES_TEST_SEED = 0x7E57L;

    private Datasets() {}

    /**
     * Opens the train split of dataset {@code name}.
     *
     * @param dir       its directory, or null for the default ({@code shapes} needs none, {@code fashion-mnist}
     *                  defaults to {@value #FASHION_MNIST_DEFAULT})
     * @param imageSize side of the images delivered
     */
    public static Dataset open(String name, Path dir, int imageSize) {
        return open(name, dir, imageSize, true);
    }

    /**
     * Opens the train or test split ({@code folder} has no splits and ignores {@code train}; {@code shapes}
     * generates {@value ShapesDataset#DEFAULT_SIZE} train images under seed 0 or 10 000 test images under
     * {@link #SHAPES_TEST_SEED}).
     *
     * @throws DatasetException         if the files are missing or corrupt (message names the file)
     * @throws IllegalArgumentException for an unknown name or a bad image size
     */
    public static Dataset open(String name, Path dir, int imageSize, boolean train) {
        if (imageSize <= 0) throw new IllegalArgumentException("image size must be positive, got " + imageSize);
        switch (name) {
            case "shapes":
                return train ? new ShapesDataset(ShapesDataset.DEFAULT_SIZE, imageSize, 0L)
                        : new ShapesDataset(10_000, imageSize, SHAPES_TEST_SEED);
            case "fashion-mnist": {
                Path d = dir != null ? dir : Path.of(FASHION_MNIST_DEFAULT);
                if (dir == null && !java.nio.file.Files.isDirectory(d)) {
                    throw new DatasetException("fashion-mnist directory " + d + " does not exist (install the Debian package "
                            + "dataset-fashion-mnist or give the directory of the IDX files)");
                }
                return IdxDataset.fashionMnist(d, train, imageSize);
            }
            case "mnist":
                return IdxDataset.mnist(required(name, dir), train, imageSize);
            case "cifar10":
                return Cifar10Dataset.open(required(name, dir), train, imageSize);
            case "folder":
                return ImageFolderDataset.open(required(name, dir), imageSize);
            default:
                throw new IllegalArgumentException("unknown dataset '" + name + "' (choose from " + String.join(", ", NAMES) + ")");
        }
    }

    /** The image size a dataset is usually trained at (32 for all built-in ones; MNIST-style data is padded). */
    public static int defaultImageSize(String name) {
        return 32;
    }

    /**
     * Whether a run on this dataset flips its images at random unless told otherwise: not MNIST's digits, whose mirror
     * images are not digits ({@link #mirrorable}), nor Fashion-MNIST, whose sandals, sneakers and ankle boots all face
     * one way: a model trained on flipped copies learns the mirrored half too, and 1,000 real train images half of
     * them flipped score FD 22.4 against the test split where the same images unflipped score 4.8.
     */
    public static boolean flipByDefault(String name) {
        return mirrorable(name) && !name.equals("fashion-mnist");
    }

    /** Whether flips may be asked for at all: not for MNIST's digits (a run's flip setting is ignored there). */
    public static boolean mirrorable(String name) {
        return !name.equals("mnist");
    }

    private static Path required(String name, Path dir) {
        if (dir == null) throw new DatasetException("dataset " + name + " needs a directory");
        return dir;
    }
}
