package io.github.diffusion4j.eval;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.data.IdxDataset;
import io.github.diffusion4j.io.FileFormatException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class FeatureNetTest {
    static IdxDataset test;

    @BeforeAll static void data() {
        Assumptions.assumeTrue(Files.isDirectory(IdxDataset.FASHION_MNIST_DIR), "Fashion-MNIST is not installed");
        test = IdxDataset.fashionMnist(IdxDataset.FASHION_MNIST_DIR, false, 32);
    }

    @Test void committedNetIsAboveItsBarOnATestSubset() {
        FeatureNetWeights.Loaded l = FeatureNetWeights.committed(CpuBackend.get());
        try (FeatureNet net = l.net()) {
            assertEquals(FeatureNetWeights.SHA256, l.sha256());
            double acc = FeatureNetTrainer.accuracy(net, test, 2000);
            // the first 2000 test images; the stated figure is on all 10 000
            assertTrue(acc >= 0.90, "accuracy " + acc);
            assertTrue(Math.abs(acc - FeatureNetWeights.TEST_ACCURACY) < 0.02, acc + " vs stated " + FeatureNetWeights.TEST_ACCURACY);
        }
    }

    @Test void aChangedWeightFileIsRefused(@TempDir Path dir) throws Exception {
        byte[] bytes;
        try (var in = FeatureNetWeights.class.getResourceAsStream(FeatureNetWeights.RESOURCE)) {
            bytes = in.readAllBytes();
        }
        bytes[bytes.length - 5] ^= 1;
        Path f = dir.resolve("w.safetensors");
        Files.write(f, bytes);
        FileFormatException e = assertThrows(FileFormatException.class, () -> FeatureNetWeights.file(f, FeatureNetWeights.SHA256, CpuBackend.get()));
        assertTrue(e.getMessage().contains("SHA-256"), e.getMessage());
        FeatureNetWeights.file(f, null, CpuBackend.get()).net().close(); // without an expected hash it loads
    }

    @Test void trainingIsReproducibleAndSaveLoadRoundTrips(@TempDir Path dir) throws Exception {
        IdxDataset train = IdxDataset.fashionMnist(IdxDataset.FASHION_MNIST_DIR, true, 32);
        FeatureNet.Config cfg = new FeatureNet.Config(8, 8, 8, 16, 10, 4);
        FeatureNetTrainer.Settings s = new FeatureNetTrainer.Settings(1, 64, 3e-3f, 1e-4f, 2, 5L, 256);
        float[] a, b, c;
        try (FeatureNet n1 = FeatureNetTrainer.train(CpuBackend.get(), cfg, train, s, null);
             FeatureNet n2 = FeatureNetTrainer.train(CpuBackend.get(), cfg, train, s, null)) {
            a = n1.params().values().toArray();
            b = n2.params().values().toArray();
            assertArrayEquals(a, b);
            Path f = dir.resolve("net.safetensors");
            String sha = FeatureNetWeights.save(n1, f, Map.of());
            try (FeatureNet n3 = FeatureNetWeights.file(f, sha, CpuBackend.get()).net()) {
                c = n3.params().values().toArray();
            }
        }
        assertArrayEquals(a, c);
        try (FeatureNet fresh = new FeatureNet(CpuBackend.get(), cfg, 5L)) {
            assertFalse(java.util.Arrays.equals(a, fresh.params().values().toArray()), "training changed nothing");
        }
    }

    /** Real-vs-real FD is far below real-vs-corrupted, and FD grows with the corruption. */
    @Test void fdIsMonotoneInNoiseAndBlur() {
        FeatureNetWeights.Loaded l = FeatureNetWeights.committed(CpuBackend.get());
        int n = 600, px = 32 * 32;
        float[] all = FeatureNetTrainer.images(test, 2 * n);
        float[] refImgs = java.util.Arrays.copyOfRange(all, 0, n * px), other = java.util.Arrays.copyOfRange(all, n * px, 2 * n * px);
        try (FeatureNet net = l.net()) {
            Evaluation.Reference ref = Evaluation.Reference.of(net, refImgs, n, 200);
            double real = fd(net, ref, other, n);
            double prev = real;
            for (double sigma : new double[] {0.1, 0.3, 0.6}) {
                float[] noisy = other.clone();
                SplittableRandom r = new SplittableRandom(1);
                for (int i = 0; i < noisy.length; i++) noisy[i] = (float) Math.max(-1, Math.min(1, noisy[i] + sigma * r.nextGaussian()));
                double f = fd(net, ref, noisy, n);
                assertTrue(f > prev, "noise " + sigma + ": FD " + f + " should exceed " + prev);
                prev = f;
            }
            assertTrue(prev > 10 * real, "strong noise FD " + prev + " vs real " + real);
            prev = real;
            float[] blurred = other;
            for (int pass = 0; pass < 3; pass++) {
                blurred = boxBlur(blurred, n);
                double f = fd(net, ref, blurred, n);
                assertTrue(f > prev, "blur pass " + pass + ": FD " + f + " should exceed " + prev);
                prev = f;
            }
            // one class only (the first 600 test images of label 0 are too few: repeat the sandals we have)
            int m = 0;
            float[] one = new float[n * px];
            for (int i = 0; m < n; i = (i + 1) % (2 * n)) {
                if (test.label(i) == 5) System.arraycopy(all, i * px, one, (m++) * px, px);
            }
            assertTrue(fd(net, ref, one, n) > 10 * real);
        }
    }

    private static double fd(FeatureNet net, Evaluation.Reference ref, float[] imgs, int n) {
        FeatureNet.Output o = net.evaluate(imgs, n, 200);
        return FrechetDistance.between(ref.stats(), FrechetDistance.Stats.of(o.features(), n, o.dim()));
    }

    private static float[] boxBlur(float[] x, int n) {
        float[] y = new float[x.length];
        for (int k = 0; k < n; k++) for (int i = 0; i < 32; i++) for (int j = 0; j < 32; j++) {
            double s = 0;
            int c = 0;
            for (int di = -1; di <= 1; di++) for (int dj = -1; dj <= 1; dj++) {
                int a = i + di, b = j + dj;
                if (a < 0 || b < 0 || a >= 32 || b >= 32) continue;
                s += x[k * 1024 + a * 32 + b];
                c++;
            }
            y[k * 1024 + i * 32 + j] = (float) (s / c);
        }
        return y;
    }
}
