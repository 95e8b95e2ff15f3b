package io.github.diffusion4j.cli;

import io.github.diffusion4j.data.IdxDataset;
import io.github.diffusion4j.eval.ReferenceCache;
import io.github.diffusion4j.io.AtomicFiles;
import io.github.diffusion4j.io.ImageIo;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

class EvaluateCommandTest {
    static IdxDataset test;
    static final String[] FAST = {"--reference-count", "1000", "--kid-subsets", "10", "--kid-subset-size", "200"};

    static Path cache;   // a cache of this class's own, not the user's

    @BeforeAll static void data(@TempDir Path tmp) {
        Assumptions.assumeTrue(Files.isDirectory(IdxDataset.FASHION_MNIST_DIR), "Fashion-MNIST is not installed");
        test = IdxDataset.fashionMnist(IdxDataset.FASHION_MNIST_DIR, false, 32);
        cache = tmp.resolve("cache");
    }

    /** Test images [from, from + n) as PNGs (28x28: the native size, or 32x32) with labels.csv, noised by sigma. */
    static Path writeImages(Path dir, int from, int n, int size, double sigma, boolean labels) throws Exception {
        Files.createDirectories(dir);
        IdxDataset d = size == 32 ? test : IdxDataset.fashionMnist(IdxDataset.FASHION_MNIST_DIR, false, 28);
        int px = size * size;
        float[] all = new float[n * px];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < n; i++) d.image(from + i, all, i * px);
        if (sigma > 0) for (int i = 0; i < all.length; i++) all[i] = (float) Math.max(-1, Math.min(1, all[i] + sigma * r.nextGaussian()));
        List<Path> files = ImageIo.writeEach(dir, "sample", all, n, 1, size, size, 1);
        if (labels) {
            StringBuilder csv = new StringBuilder("file,label,class\n");
            for (int i = 0; i < n; i++) csv.append(files.get(i).getFileName()).append(',').append(d.label(from + i)).append(",x\n");
            AtomicFiles.writeString(dir.resolve("labels.csv"), csv.toString());
        }
        return dir;
    }

    static double field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":([-0-9.eE+]+)").matcher(json);
        assertTrue(m.find(), name + " missing in " + json);
        return Double.parseDouble(m.group(1));
    }

    static CliRun.Result evaluate(Path dir, String... extra) {
        String[] base = {"evaluate", "--cache-dir", cache.toString(), "--images", dir.toString(), "--data", "fashion-mnist", "--json"};
        String[] a = new String[base.length + FAST.length + extra.length];
        System.arraycopy(base, 0, a, 0, base.length);
        System.arraycopy(FAST, 0, a, base.length, FAST.length);
        System.arraycopy(extra, 0, a, base.length + FAST.length, extra.length);
        return CliRun.run(a);
    }

    @Test void realTestImagesScoreNearZeroAndNoisedOnesDoNot(@TempDir Path tmp) throws Exception {
        // images 2000..2399 of the test split, not in the reference (the first 1000)
        String real = evaluate(writeImages(tmp.resolve("real"), 2000, 400, 28, 0, true)).ok().out().strip();
        String noisy = evaluate(writeImages(tmp.resolve("noisy"), 2000, 400, 32, 0.5, false)).ok().out().strip();
        assertFalse(real.contains("\n"), real);
        double fdReal = field(real, "fd"), fdNoisy = field(noisy, "fd");
        // FD of 400 vs 1000 real images is not 0 (its bias grows with dim / count), but far below a corruption's
        assertTrue(fdNoisy > 5 * fdReal, "real " + fdReal + " vs noisy " + fdNoisy);
        assertTrue(field(noisy, "kid") > 10 * Math.abs(field(real, "kid")), real + "\n" + noisy);
        assertTrue(field(real, "precision") > 0.6 && field(real, "recall") > 0.6, real);
        assertTrue(field(real, "class_accuracy") > 0.85, real);
        assertTrue(noisy.contains("\"class_accuracy\":null"), noisy);
        assertEquals(400, (int) field(real, "count"));
        // the baseline: 400 train images against the same reference. Real test images outside the reference are as
        // far from it as those (the feature net saw the train images, which does not flatter them by much), the
        // noised ones many times further; real labelled images are classified as well as the reference is
        System.out.println("real test images: " + real);
        assertEquals(400, (int) field(real.substring(real.indexOf("\"real\":{")), "count"), real);
        assertEquals(1.0, field(real, "fd_ratio"), 0.35, real);
        assertTrue(field(noisy, "fd_ratio") > 5, noisy);
        assertEquals(field(real, "fd") / field(real, "fd_ratio"), field(noisy, "fd") / field(noisy, "fd_ratio"), 1e-6 * field(real, "fd"),
                "one baseline per count: " + real + "\n" + noisy);
        assertEquals(1.0, field(real, "class_accuracy_ratio"), 0.1, real);
        assertTrue(noisy.contains("\"class_accuracy_ratio\":null"), noisy);
        String none = evaluate(tmp.resolve("real"), "--no-real-baseline").ok().out().strip();
        assertTrue(none.contains("\"real\":null") && !none.contains("fd_ratio"), none);
        assertEquals(field(real, "fd"), field(none, "fd"), 0.0);
        assertTrue(real.contains("\"feature_net_sha256\":\"" + io.github.diffusion4j.eval.FeatureNetWeights.SHA256 + "\""), real);
        // deterministic, and the same from the cached reference (the second run hits what the first stored)
        String again = evaluate(tmp.resolve("real")).ok().out().strip();
        assertTrue(again.contains("\"reference_cache\":\"hit\""), again);
        assertEquals(real.replaceAll(",\"seconds\":[0-9.]+", "").replaceAll(",\"reference_cache\":\"[a-z]+\"", ""),
                again.replaceAll(",\"seconds\":[0-9.]+", "").replaceAll(",\"reference_cache\":\"[a-z]+\"", ""));
        String uncached = evaluate(tmp.resolve("real"), "--no-cache").ok().out().strip();
        assertTrue(uncached.contains("\"reference_cache\":\"off\""), uncached);
        assertEquals(field(real, "fd"), field(uncached, "fd"), 0.0);
    }

    @Test void textOutputNamesTheMetricsHonestly(@TempDir Path tmp) throws Exception {
        String out = CliRun.run("evaluate", "--cache-dir", cache.toString(), "--images", writeImages(tmp.resolve("a"), 0, 50, 32, 0, false).toString(),
                "--reference-count", "200", "--kid-subsets", "3", "--kid-subset-size", "50").ok().out();
        assertTrue(out.contains("FD  (Fashion-MNIST classifier features)"), out);
        assertTrue(out.contains("KID (Fashion-MNIST classifier features)"), out);
        assertFalse(out.contains("FID"), out);
    }

    /** --run: samples through the sample command (a 2-step class-conditional tiny model) and scores them. */
    @Test void scoresSamplesOfARun(@TempDir Path tmp) {
        Path run = tmp.resolve("run");
        CliRun.run("train", "--model", "tiny", "--data", "fashion-mnist", "--classes", "--image-size", "32", "--batch-size", "4",
                "--steps", "2", "--sample-count", "0", "--device", "cpu", "--out", run.toString()).ok();
        CliRun.Result r = CliRun.run("evaluate", "--cache-dir", cache.toString(), "--run", run.toString(), "--count", "12", "--sampler", "ddim", "--steps", "2",
                "--sample-device", "cpu", "--reference-count", "100", "--kid-subsets", "3", "--kid-subset-size", "10", "--json").ok();
        String json = r.out().strip();
        assertFalse(json.contains("\n"), json);
        assertEquals(12, (int) field(json, "count"));
        // an untrained model's samples are far from real images; labels.csv from sample gives class accuracy
        assertTrue(field(json, "fd") > 50, json);
        assertTrue(field(json, "class_accuracy") >= 0, json);

        // several guidance scales: one sampling and one score each, with its class accuracy
        String per = CliRun.run("evaluate", "--cache-dir", cache.toString(), "--run", run.toString(), "--count", "12", "--sampler", "ddim",
                "--steps", "2", "--sample-device", "cpu", "--reference-count", "100", "--kid-subsets", "3", "--kid-subset-size", "10",
                "--guidance", "1,3", "--json").ok().out().strip();
        try {
            com.fasterxml.jackson.databind.JsonNode rows = new com.fasterxml.jackson.databind.ObjectMapper().readTree(per).path("per_guidance");
            assertEquals(2, rows.size(), per);
            assertEquals(1.0, rows.get(0).path("guidance").asDouble(), per);
            assertEquals(3.0, rows.get(1).path("guidance").asDouble(), per);
            for (var row : rows) assertTrue(row.path("class_accuracy").isNumber() && row.path("count").asInt() == 12, per);
            // guidance 1 is the run without guidance: the same images as the first evaluation, the same FD
            assertEquals(field(json, "fd"), rows.get(0).path("fd").asDouble(), 1e-9 * Math.abs(field(json, "fd")), per);
        } catch (java.io.IOException e) {
            throw new AssertionError(per, e);
        }
        CliRun.run("evaluate", "--cache-dir", cache.toString(), "--images", run.toString(), "--guidance", "2").oneLineError("--guidance needs --run");
    }

    /** The text output says whether the reference came from the cache; a corrupt entry is recomputed and said so. */
    @Test void theOutputSaysWhetherTheCacheWasHit(@TempDir Path tmp) throws Exception {
        Path dir = writeImages(tmp.resolve("a"), 0, 30, 32, 0, false);
        String[] args = {"evaluate", "--cache-dir", cache.toString(), "--images", dir.toString(), "--reference-count", "150", "--kid-subsets", "2", "--kid-subset-size", "20"};
        String miss = CliRun.run(args).ok().out();
        Matcher m = Pattern.compile("reference features: cache miss: (\\S+\\.safetensors)").matcher(miss);
        assertTrue(m.find(), miss);
        Path entry = Path.of(m.group(1));
        assertEquals(cache, entry.getParent(), "in the --cache-dir folder");
        String hit = CliRun.run(args).ok().out();
        assertTrue(hit.contains("reference features: cache hit: " + entry), hit);
        byte[] b = Files.readAllBytes(entry);
        b[b.length - 7] ^= 0x40;   // a bit of the last logits
        Files.write(entry, b);
        String healed = CliRun.run(args).ok().out();
        assertTrue(healed.contains("reference features: cache corrupt (payload hash mismatch), recomputed: " + entry), healed);
        assertEquals(miss.replaceAll("(?m)^(reference features|time):.*$", ""), healed.replaceAll("(?m)^(reference features|time):.*$", ""));
        assertTrue(CliRun.run(args).ok().out().contains("cache hit"));
    }

    @Test void missingDataset(@TempDir Path tmp) throws Exception {
        Path dir = writeImages(tmp.resolve("a"), 0, 5, 32, 0, false);
        CliRun.run("evaluate", "--cache-dir", cache.toString(), "--images", dir.toString(), "--data-dir", tmp.resolve("nowhere").toString())
                .oneLineError("fashion-mnist", "nowhere");
    }

    @Test void wrongImageSize(@TempDir Path tmp) throws Exception {
        Path dir = writeImages(tmp.resolve("a"), 0, 3, 32, 0, false);
        ImageIo.writeImage(dir.resolve("sample-9999.png"), new float[16 * 16], 1, 16, 16, 1);
        CliRun.run("evaluate", "--cache-dir", cache.toString(), "--images", dir.toString()).oneLineError("sample-9999.png", "16x16");
    }

    @Test void colourImage(@TempDir Path tmp) throws Exception {
        Path dir = writeImages(tmp.resolve("a"), 0, 3, 32, 0, false);
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        img.setRGB(3, 4, 0xFF0000);
        ImageIo.writePng(dir.resolve("zz.png"), img);
        CliRun.run("evaluate", "--cache-dir", cache.toString(), "--images", dir.toString()).oneLineError("zz.png", "channel");
    }

    @Test void emptyFolderAndMissingLabels(@TempDir Path tmp) throws Exception {
        Files.createDirectories(tmp.resolve("empty"));
        CliRun.run("evaluate", "--cache-dir", cache.toString(), "--images", tmp.resolve("empty").toString()).oneLineError("no PNG");
        Path dir = writeImages(tmp.resolve("a"), 0, 20, 32, 0, false);
        CliRun.run("evaluate", "--cache-dir", cache.toString(), "--images", dir.toString(), "--class-accuracy").oneLineError("labels");
        CliRun.run("evaluate").oneLineError("--images");
        CliRun.run("evaluate", "--cache-dir", cache.toString(), "--images", dir.toString(), "--data", "cifar10").oneLineError("fashion-mnist");
    }
}
