package io.github.diffusion4j.eval;

import io.github.diffusion4j.io.SafeTensors;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The features of a reference split, computed once per (feature net, data) and kept on disk, so that a repeated
 * evaluation only pays for its samples.
 *
 * <p><b>Where</b>: {@code $D4J_CACHE_DIR/eval/} when the environment variable {@value #ENV} is set, else
 * {@code ~/.cache/diffusion4j/eval/}. (The Java system property {@value #PROPERTY}, when set, names the cache root
 * instead of the environment variable: for tests and embedding.)
 *
 * <p><b>Key</b>: SHA-256 of the format version, the feature net's SHA-256, the backend and batch size that compute
 * the features (float32 rounding differs between CPU and GPU, and in the last bit between batch sizes), the dataset name, its split, the reference count and the SHA-256
 * of the reference images exactly as the net sees them (the first {@code count} images of the split, 32x32 floats,
 * little-endian) — a content hash, so the same data found at another path hits, and changed files miss.
 *
 * <p><b>Entry</b>: {@code <dataset>-<split>-n<count>-<key[0..16]>.safetensors}, holding the tensors
 * {@code features} [count, dim] and {@code logits} [count, classes] (F32, the exact values a fresh computation
 * gives, so a hit and a miss score identically; the Gaussian statistics are recomputed from the features in a
 * fraction of a second), and as metadata the full key, its parts and {@code payload_sha256}, the SHA-256 of the two
 * tensors' values. An entry whose file cannot be decoded, whose key or shapes differ, or whose payload hash does not
 * match is corrupt: it is recomputed and rewritten (atomically), never trusted. A cache folder that cannot be written
 * only costs the recomputation next time.
 */
public final class ReferenceCache {
    public static final String ENV = "D4J_CACHE_DIR";
    static final String FORMAT = "diffusion4j-eval-reference";
    static final int VERSION = 1;

    private final Path dir;

    public ReferenceCache(Path dir) { this.dir = dir; }

    /** The cache of this machine: see the class comment. */
    public static ReferenceCache standard() { return new ReferenceCache(defaultDir()); }

    /**
     * {@code <root>/eval}, root from the environment variable {@value #ENV} or {@code ~/.cache/diffusion4j} (the test
     * run sets the variable to a folder under target/, so tests never touch the user's cache).
     */
    public static Path defaultDir() {
        String root = System.getenv(ENV);
        Path r = root != null && !root.isBlank() ? Path.of(root)
                : Path.of(System.getProperty("user.home"), ".cache", "diffusion4j");
        return r.resolve("eval");
    }

    public Path dir() { return dir; }

    /** What identifies a reference: see the class comment. */
    public record Key(String featureNetSha256, String backend, int batchSize, String dataset, String split, int count, String imagesSha256) {
        /** The SHA-256 over all parts (hex). */
        public String hash() {
            String s = FORMAT + "\nversion=" + VERSION + "\nfeature_net_sha256=" + featureNetSha256 + "\nbackend=" + backend + "\nbatch_size=" + batchSize
                    + "\ndataset=" + dataset + "\nsplit=" + split + "\ncount=" + count + "\nimages_sha256=" + imagesSha256 + "\n";
            return FeatureNetWeights.sha256(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }

        String fileName() {
            return (dataset + "-" + split).replaceAll("[^A-Za-z0-9._-]", "_") + "-n" + count + "-" + hash().substring(0, 16) + ".safetensors";
        }
    }

    /**
     * The reference and how it was obtained: {@code hit} true when read from the cache; {@code status} is
     * "hit", "miss", "corrupt (why), recomputed" or ends in "not stored (why)" when the entry could not be written.
     */
    public record Lookup(Evaluation.Reference reference, boolean hit, Path file, String status, double seconds) {}

    /**
     * The reference of the first {@code n} of {@code images} (32x32 greyscale floats) in {@code net}'s features: from
     * the cache when a valid entry exists, else computed (in batches of {@code batchSize}) and stored.
     */
    public Lookup reference(FeatureNet net, String featureNetSha256, String dataset, String split, float[] images, int n,
                            int batchSize) {
        long t0 = System.nanoTime();
        Key key = new Key(featureNetSha256, net.backend().name(), batchSize, dataset, split, n,
                sha256(images, n * FeatureNet.IMAGE_SIZE * FeatureNet.IMAGE_SIZE));
        Path file = dir.resolve(key.fileName());
        String status = "miss";
        if (Files.isRegularFile(file)) {
            try {
                FeatureNet.Output o = read(file, key, net.featureDim(), net.config().classes());
                return new Lookup(new Evaluation.Reference(o, FrechetDistance.Stats.of(o.features(), n, o.dim())), true, file,
                        "hit", (System.nanoTime() - t0) / 1e9);
            } catch (IOException | RuntimeException e) {
                status = "corrupt (" + oneLine(e) + "), recomputed";
            }
        }
        Evaluation.Reference ref = Evaluation.Reference.of(net, images, n, batchSize);
        try {
            write(file, key, ref.output());
        } catch (IOException | RuntimeException e) {
            status += ", not stored (" + oneLine(e) + ")";
        }
        return new Lookup(ref, false, file, status, (System.nanoTime() - t0) / 1e9);
    }

    static void write(Path file, Key key, FeatureNet.Output o) throws IOException {
        Files.createDirectories(file.getParent());
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("version", Integer.toString(VERSION));
        meta.put("key", key.hash());
        meta.put("feature_net_sha256", key.featureNetSha256());
        meta.put("backend", key.backend());
        meta.put("batch_size", Integer.toString(key.batchSize()));
        meta.put("dataset", key.dataset());
        meta.put("split", key.split());
        meta.put("count", Integer.toString(key.count()));
        meta.put("images_sha256", key.imagesSha256());
        meta.put("payload_sha256", payloadSha256(o.features(), o.logits()));
        Map<String, SafeTensors.Entry> t = new LinkedHashMap<>();
        t.put("features", new SafeTensors.Entry(new int[] {o.count(), o.dim()}, o.features()));
        t.put("logits", new SafeTensors.Entry(new int[] {o.count(), o.classes()}, o.logits()));
        SafeTensors.write(file, t, meta);   // atomic: a reader never sees half a file
    }

    /** Reads and verifies an entry; any mismatch throws (the caller recomputes). */
    static FeatureNet.Output read(Path file, Key key, int dim, int classes) throws IOException {
        SafeTensors.Contents c = SafeTensors.decode(Files.readAllBytes(file), file.toString());
        Map<String, String> m = c.metadata();
        if (!FORMAT.equals(m.get("format")) || !Integer.toString(VERSION).equals(m.get("version"))) {
            throw new IOException("not a version-" + VERSION + " reference entry");
        }
        if (!key.hash().equals(m.get("key"))) throw new IOException("its key differs");
        SafeTensors.Entry f = c.tensors().get("features"), l = c.tensors().get("logits");
        int n = key.count();
        if (f == null || l == null || f.data().length != n * dim || l.data().length != n * classes) {
            throw new IOException("tensors missing or of the wrong size");
        }
        if (!payloadSha256(f.data(), l.data()).equals(m.get("payload_sha256"))) throw new IOException("payload hash mismatch");
        return new FeatureNet.Output(n, dim, classes, f.data(), l.data());
    }

    static String payloadSha256(float[] features, float[] logits) {
        MessageDigest md = digest();
        update(md, features, features.length);
        update(md, logits, logits.length);
        return HexFormat.of().formatHex(md.digest());
    }

    /** SHA-256 of the first {@code n} floats of {@code a}, little-endian IEEE 754. */
    public static String sha256(float[] a, int n) {
        MessageDigest md = digest();
        update(md, a, n);
        return HexFormat.of().formatHex(md.digest());
    }

    private static void update(MessageDigest md, float[] a, int n) {
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; ) {
            buf.clear();
            int m = Math.min(n - i, buf.capacity() / 4);
            buf.asFloatBuffer().put(a, i, m);
            md.update(buf.array(), 0, m * 4);
            i += m;
        }
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String oneLine(Throwable e) {
        String s = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
