package io.github.diffusion4j.eval;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.io.SafeTensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The reference cache: a miss computes and stores, a hit gives the very same features (so hit and miss score alike),
 * a corrupt entry (flipped data byte, flipped header byte, truncated file, another key's entry under this name) is
 * recomputed and rewritten, never trusted; every part of the key separates entries; an unwritable cache only costs
 * the recomputation. Synthetic images: the cache does not care what they show.
 */
class ReferenceCacheTest {
    static FeatureNet net;
    static final int N = 40;

    @BeforeAll static void load() { net = FeatureNetWeights.committed(CpuBackend.get()).net(); }

    @AfterAll static void close() { net.close(); }

    static float[] images(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * 32 * 32];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextDouble() * 2 - 1);
        return x;
    }

    ReferenceCache.Lookup get(ReferenceCache c, float[] img, int n) {
        return c.reference(net, FeatureNetWeights.SHA256, "fashion-mnist", "test", img, n, 16);
    }

    @Test void missThenHitGivesTheSameFeatures(@TempDir Path tmp) {
        ReferenceCache c = new ReferenceCache(tmp.resolve("cache"));
        float[] img = images(1, N);
        ReferenceCache.Lookup a = get(c, img, N);
        assertFalse(a.hit());
        assertEquals("miss", a.status());
        assertTrue(Files.isRegularFile(a.file()), a.file().toString());
        assertTrue(a.file().getFileName().toString().startsWith("fashion-mnist-test-n40-"), a.file().toString());
        ReferenceCache.Lookup b = get(c, img, N);
        assertTrue(b.hit(), b.status());
        assertEquals(a.file(), b.file());
        assertArrayEquals(a.reference().output().features(), b.reference().output().features());
        assertArrayEquals(a.reference().output().logits(), b.reference().output().logits());
        assertArrayEquals(a.reference().stats().mean(), b.reference().stats().mean());
        for (int i = 0; i < net.featureDim(); i++) assertArrayEquals(a.reference().stats().cov()[i], b.reference().stats().cov()[i]);
        // and what a fresh computation gives
        assertArrayEquals(Evaluation.Reference.of(net, img, N, 16).output().features(), b.reference().output().features());
    }

    @Test void everyPartOfTheKeySeparatesEntries(@TempDir Path tmp) {
        ReferenceCache c = new ReferenceCache(tmp);
        float[] img = images(2, N);
        Path base = get(c, img, N).file();
        float[] changed = img.clone();
        changed[5 * 1024 + 77] += 1e-3f;   // one pixel of one image
        assertFalse(get(c, changed, N).hit(), "changed images");
        assertFalse(get(c, img, N - 1).hit(), "another count");
        assertFalse(c.reference(net, FeatureNetWeights.SHA256, "fashion-mnist", "test", img, N, 7).hit(), "another batch size");
        assertFalse(c.reference(net, "0".repeat(64), "fashion-mnist", "test", img, N, 16).hit(), "another feature net");
        assertFalse(c.reference(net, FeatureNetWeights.SHA256, "fashion-mnist", "train", img, N, 16).hit(), "another split");
        assertFalse(c.reference(net, FeatureNetWeights.SHA256, "mnist", "test", img, N, 16).hit(), "another dataset");
        assertTrue(get(c, img, N).hit(), "the first entry is still there");
        assertTrue(Files.isRegularFile(base));
        // the same images given in a longer array: the key hashes only the first N, so it hits
        float[] longer = new float[(N + 3) * 1024];
        System.arraycopy(img, 0, longer, 0, img.length);
        assertTrue(get(c, longer, N).hit());
    }

    @Test void corruptEntriesAreRecomputedNotTrusted(@TempDir Path tmp) throws Exception {
        ReferenceCache c = new ReferenceCache(tmp);
        float[] img = images(3, N);
        ReferenceCache.Lookup fresh = get(c, img, N);
        Path f = fresh.file();
        byte[] good = Files.readAllBytes(f);
        long headerLen = java.nio.ByteBuffer.wrap(good, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();

        // a flipped bit in the features: the payload hash catches it
        byte[] bad = good.clone();
        bad[(int) (8 + headerLen + 100)] ^= 0x10;
        assertCorruptThenHealed(c, img, f, bad, "payload hash", fresh);
        // a flipped byte in the header: it no longer decodes, or its key / hash no longer match
        bad = good.clone();
        bad[20] ^= 0x01;
        assertCorruptThenHealed(c, img, f, bad, "", fresh);
        // cut short
        assertCorruptThenHealed(c, img, f, java.util.Arrays.copyOf(good, good.length - 50), "", fresh);
        // a valid entry of other images, renamed to this key's file: its key differs
        float[] other = images(4, N);
        Path otherFile = get(c, other, N).file();
        assertCorruptThenHealed(c, img, f, Files.readAllBytes(otherFile), "key differs", fresh);
        // the format: payload_sha256 is the SHA-256 of the two tensors' values
        SafeTensors.Contents cont = SafeTensors.decode(Files.readAllBytes(f), f.toString());
        assertEquals(ReferenceCache.payloadSha256(cont.tensors().get("features").data(), cont.tensors().get("logits").data()),
                cont.metadata().get("payload_sha256"));
        assertEquals(FeatureNetWeights.SHA256, cont.metadata().get("feature_net_sha256"));
    }

    private void assertCorruptThenHealed(ReferenceCache c, float[] img, Path f, byte[] content, String why,
                                         ReferenceCache.Lookup fresh) throws Exception {
        Files.write(f, content);
        ReferenceCache.Lookup l = get(c, img, N);
        assertFalse(l.hit());
        assertTrue(l.status().startsWith("corrupt") && l.status().contains(why) && l.status().endsWith("recomputed"), l.status());
        assertArrayEquals(fresh.reference().output().features(), l.reference().output().features());
        ReferenceCache.Lookup again = get(c, img, N);
        assertTrue(again.hit(), "rewritten: " + again.status());
    }

    @Test void anUnwritableCacheOnlyCostsTheRecomputation(@TempDir Path tmp) throws Exception {
        Path notADir = tmp.resolve("file");
        Files.writeString(notADir, "x");
        ReferenceCache c = new ReferenceCache(notADir.resolve("eval"));
        float[] img = images(5, N);
        ReferenceCache.Lookup l = get(c, img, N);
        assertFalse(l.hit());
        assertTrue(l.status().startsWith("miss, not stored ("), l.status());
        assertEquals(N, l.reference().output().count());
    }

    @Test void theCacheFolderComesFromTheEnvironmentOrTheHome() {
        String env = System.getenv(ReferenceCache.ENV);
        Path expected = env != null && !env.isBlank() ? Path.of(env, "eval")
                : Path.of(System.getProperty("user.home"), ".cache", "diffusion4j", "eval");
        assertEquals(expected, ReferenceCache.defaultDir());
    }
}
