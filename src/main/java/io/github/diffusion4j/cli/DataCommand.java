package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.data.Dataset;
import io.github.diffusion4j.data.Datasets;
import io.github.diffusion4j.diffusion.BetaSchedule;
import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.io.ImageIo;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code data}: looks at a dataset before training on it. */
@Command(name = "data", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Show a dataset: image and label counts, a grid of random images, optionally the forward (noising) process.")
public final class DataCommand implements Callable<Integer> {
    @Mixin Verbosity verbosity;
    @Spec CommandSpec spec;

    @Option(names = "--data", defaultValue = "shapes", description = "shapes, fashion-mnist, mnist, cifar10, folder (default: ${DEFAULT-VALUE}).")
    String data;
    @Option(names = "--data-dir", paramLabel = "DIR", description = "Dataset directory.")
    Path dataDir;
    @Option(names = "--image-size", defaultValue = "32", description = "Image height and width (default: ${DEFAULT-VALUE}).")
    int imageSize;
    @Option(names = "--count", defaultValue = "64", description = "Images in the grid (default: ${DEFAULT-VALUE}).")
    int count;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random choice of images (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--out", defaultValue = "data.png", paramLabel = "FILE", description = "Grid PNG (default: ${DEFAULT-VALUE}).")
    Path out;
    @Option(names = "--forward", paramLabel = "FILE", description = "Also draw the forward process x0 ... x_T of a few images into this PNG.")
    Path forward;
    @Option(names = "--schedule", defaultValue = "cosine", description = "Noise schedule for --forward (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Override public Integer call() throws Exception {
        if (count <= 0) throw new UserException("--count must be positive");
        Dataset d = Datasets.open(data, dataDir, imageSize);
        PrintWriter o = spec.commandLine().getOut();
        o.printf(Locale.ROOT, "%s: %,d images, %d channel(s), %dx%d%n", d.name(), d.size(), d.channels(), d.imageSize(), d.imageSize());
        if (d.numClasses() > 0) {
            int[] counts = new int[d.numClasses()];
            for (int i = 0; i < d.size(); i++) {
                int l = d.label(i);
                if (l >= 0 && l < counts.length) counts[l]++;
            }
            for (int k = 0; k < counts.length; k++) o.printf(Locale.ROOT, "  %2d %-16s %,d%n", k, d.classNames().get(k), counts[k]);
        } else {
            o.println("  (no labels)");
        }
        int n = Math.min(count, d.size());
        int per = d.channels() * d.imageSize() * d.imageSize();
        float[] images = new float[n * per];
        Philox.Stream rng = new Philox.Stream(seed, 0);
        int[] picked = new int[n];
        for (int i = 0; i < n; i++) {
            picked[i] = rng.nextInt(d.size());
            d.image(picked[i], images, i * per);
        }
        if (out.getParent() != null) Files.createDirectories(out.getParent());
        ImageIo.writeGrid(out, images, n, d.channels(), d.imageSize(), d.imageSize(), d.imageSize() <= 32 ? 2 : 1);
        o.println("grid: " + out);
        if (forward != null) writeForward(d, images, Math.min(n, 4), per, o);
        o.flush();
        return 0;
    }

    /** Rows: images; columns: x_t at a few t of q(x_t | x_0) (the founding article's forward-process figure). */
    private void writeForward(Dataset d, float[] images, int rows, int per, PrintWriter o) throws Exception {
        NoiseSchedule s = NoiseSchedule.of(SchedulerConfig.builder().betaSchedule(BetaSchedule.parse(schedule)).build());
        int tMax = s.numTimesteps() - 1;
        int[] ts = {0, tMax / 20, tMax / 10, tMax / 5, (int) (tMax * 0.35), tMax / 2, (int) (tMax * 0.75), tMax};
        Backend b = CpuBackend.get();
        int cols = ts.length;
        float[] strip = new float[rows * cols * per];
        List<String> labels = new ArrayList<>();
        for (int j = 0; j < cols; j++) labels.add("t=" + ts[j]);
        Shape shape = Shape.of(rows, d.channels(), d.imageSize(), d.imageSize());
        float[] x0 = new float[rows * per];
        System.arraycopy(images, 0, x0, 0, x0.length);
        try (Tensor x = b.fromArray(x0, shape); Tensor xt = b.empty(shape); Tensor t = b.empty(Shape.of(rows))) {
            for (int j = 0; j < cols; j++) {
                b.fill(t, ts[j]);
                // the same noise for every column, so the strip shows one trajectory per row
                b.qSample(xt, null, x, null, t, s.sqrtAlphasCumprodTensor(b), s.sqrtOneMinusAlphasCumprodTensor(b),
                        Backend.TARGET_EPSILON, seed, 0);
                float[] v = xt.toArray();
                for (int r = 0; r < rows; r++) System.arraycopy(v, r * per, strip, (r * cols + j) * per, per);
            }
        }
        if (forward.getParent() != null) Files.createDirectories(forward.getParent());
        ImageIo.writeStrip(forward, strip, rows, cols, d.channels(), d.imageSize(), d.imageSize(), labels,
                ImageIo.Layout.DEFAULT.withScale(d.imageSize() <= 32 ? 2 : 1));
        o.println("forward process: " + forward + " (" + schedule + " schedule)");
    }
}
