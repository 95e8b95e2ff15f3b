/**
 * Files: checkpoints, images and figures.
 *
 * <ul>
 *   <li>{@link io.github.diffusion4j.io.SafeTensors}: the safetensors format, and saving/loading the parameters of
 *       a {@link io.github.diffusion4j.nn.ParamStore} (or any flat buffer with its layout) by name.</li>
 *   <li>{@link io.github.diffusion4j.io.AtomicFiles} (temp file, fsync, rename) and
 *       {@link io.github.diffusion4j.io.AtomicDirectory} (checkpoint folders written all or nothing, a
 *       {@code latest} pointer, keep-last-N pruning).</li>
 *   <li>{@link io.github.diffusion4j.io.ImageIo}: sample grids, single images, labelled strips, animated GIFs;
 *       reading init images and inpainting masks.</li>
 *   <li>{@link io.github.diffusion4j.io.Plot}: line plots (loss curves, noise schedules).</li>
 *   <li>{@link io.github.diffusion4j.io.FileFormatException}: one-line errors for unusable files.</li>
 * </ul>
 * All AWT use is headless.
 */
package io.github.diffusion4j.io;
