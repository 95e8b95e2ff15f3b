/**
 * Training data: datasets and the batch loader.
 *
 * <ul>
 *   <li>{@link io.github.diffusion4j.data.Dataset}: indexable images (CHW, [-1, 1]) with optional labels.
 *       Implementations: {@link io.github.diffusion4j.data.ShapesDataset} (embedded, generated),
 *       {@link io.github.diffusion4j.data.IdxDataset} (MNIST, Fashion-MNIST),
 *       {@link io.github.diffusion4j.data.Cifar10Dataset} (binary batches),
 *       {@link io.github.diffusion4j.data.ImageFolderDataset} (PNG/JPEG folders, sub-folders as classes);
 *       {@link io.github.diffusion4j.data.Datasets#open} picks one by name.</li>
 *   <li>{@link io.github.diffusion4j.data.DataLoader}: shuffled, flipped batches from a background thread, with a
 *       {@link io.github.diffusion4j.data.DataLoader.Position} to save and restore for bit-exact resumption.</li>
 *   <li>{@link io.github.diffusion4j.data.ShapeValidity}: decides whether a generated image is a valid shapes
 *       image (for end-to-end quality tests).</li>
 *   <li>{@link io.github.diffusion4j.data.DatasetException}: one-line errors naming the file.</li>
 * </ul>
 */
package io.github.diffusion4j.data;
