package io.github.diffusion4j.eval;

import io.github.diffusion4j.io.FileFormatException;
import io.github.diffusion4j.io.SafeTensors;
import io.github.diffusion4j.tensor.Backend;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The committed Fashion-MNIST feature net (a safetensors file in the jar, {@value #RESOURCE}) and its SHA-256,
 * checked on every load — the analogue of FID's fixed Inception weights: every machine and every later version
 * computes its features with exactly these numbers. The net's layer widths travel in the file's metadata.
 */
public final class FeatureNetWeights {
    private FeatureNetWeights() {}

    public static final String RESOURCE = "/eval/fashion-mnist-features.safetensors";
    /** SHA-256 of {@link #RESOURCE}'s bytes. */
    public static final String SHA256 = "478a482516b58235f0ac7a7c4103c4fbf056b3ce3a60ce0b8db0b648d46fa36c";
    /** Test-split accuracy of the committed net (all 10 000 test images), as measured when it was trained. */
    public static final double TEST_ACCURACY = 0.9210;

    /** A loaded net with the hash of the weights it came from. */
    public record Loaded(FeatureNet net, String sha256, Map<String, String> metadata) {}

    /** Loads the committed weights, verifying their hash. */
    public static Loaded committed(Backend backend) {
        byte[] bytes;
        try (InputStream in = FeatureNetWeights.class.getResourceAsStream(RESOURCE)) {
            if (in == null) throw new FileFormatException("the feature-net weights " + RESOURCE + " are missing from the class path");
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return fromBytes(bytes, "resource " + RESOURCE, SHA256, backend);
    }

    /** Loads weights from a file; {@code expectedSha256} null accepts any file (its hash is reported). */
    public static Loaded file(Path file, String expectedSha256, Backend backend) throws IOException {
        return fromBytes(Files.readAllBytes(file), file.toString(), expectedSha256, backend);
    }

    static Loaded fromBytes(byte[] bytes, String source, String expectedSha256, Backend backend) {
        String sha = sha256(bytes);
        if (expectedSha256 != null && !expectedSha256.equalsIgnoreCase(sha)) {
            throw new FileFormatException("feature-net weights " + source + " have SHA-256 " + sha + ", expected " + expectedSha256
                    + " (corrupt or changed; retrain with evaluate --train-features)");
        }
        SafeTensors.Contents c = SafeTensors.decode(bytes, source);
        FeatureNet.Config cfg = configFrom(c.metadata(), source);
        FeatureNet net = new FeatureNet(backend, cfg, 0L);
        try {
            SafeTensors.copyInto(c, source, net.params(), net.params().values(), "");
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
        return new Loaded(net, sha, c.metadata());
    }

    /** Writes the net's weights with its config (and {@code extra}) as metadata; returns the file's SHA-256. */
    public static String save(FeatureNet net, Path file, Map<String, String> extra) throws IOException {
        Map<String, String> meta = new LinkedHashMap<>();
        FeatureNet.Config c = net.config();
        meta.put("format", "diffusion4j-feature-net");
        meta.put("config", c.c1() + "," + c.c2() + "," + c.c3() + "," + c.hidden() + "," + c.classes() + "," + c.groups());
        meta.putAll(extra);
        SafeTensors.save(file, net.params(), meta);
        return sha256(Files.readAllBytes(file));
    }

    static FeatureNet.Config configFrom(Map<String, String> meta, String source) {
        String s = meta.get("config");
        if (s == null) throw new FileFormatException("feature-net weights " + source + " lack the 'config' metadata");
        String[] p = s.split(",");
        try {
            if (p.length != 6) throw new NumberFormatException();
            return new FeatureNet.Config(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]),
                    Integer.parseInt(p[3]), Integer.parseInt(p[4]), Integer.parseInt(p[5]));
        } catch (NumberFormatException e) {
            throw new FileFormatException("feature-net weights " + source + " have a bad 'config' metadata: " + s);
        }
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
