package io.github.diffusion4j.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Optional;
import java.util.Properties;

/**
 * The native parts that the build (CMakeLists.txt) puts into the jar under {@code /io/github/diffusion4j/native/}:
 * <ul>
 *   <li>{@code diffusion4j.fatbin}: every kernel of kernels/*.cu (absent when built without nvcc);</li>
 *   <li>{@code libdiffusion4j_native.so}: the JNI shim (absent when built without cmake or a JDK);</li>
 *   <li>{@code native-build.properties}: what the build produced and with which nvcc.</li>
 * </ul>
 * Loading the shim runs no CUDA code: it only links against libc/libdl and opens the NVIDIA libraries when
 * probed.
 */
public final class NativeLibs {
    /** Resource folder of the native files. */
    public static final String RESOURCE_DIR = "/io/github/diffusion4j/native/";
    public static final String FATBIN = "diffusion4j.fatbin";
    public static final String SHIM = "libdiffusion4j_native.so";
    public static final String BUILD_PROPERTIES = "native-build.properties";

    private static Optional<byte[]> fatbin;
    private static Properties buildInfo;
    private static ShimStatus shimStatus;

    private NativeLibs() {}

    /** Whether the shim could be loaded, and if not, why (one line). */
    public record ShimStatus(boolean loaded, String problem) {}

    /** The fatbin's bytes, or empty when the jar was built without nvcc. */
    public static synchronized Optional<byte[]> fatbin() {
        if (fatbin == null) {
            try (InputStream in = NativeLibs.class.getResourceAsStream(RESOURCE_DIR + FATBIN)) {
                fatbin = in == null ? Optional.empty() : Optional.of(in.readAllBytes());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + RESOURCE_DIR + FATBIN, e);
            }
        }
        return fatbin;
    }

    /** native-build.properties (empty when the native build did not run at all, e.g. no cmake). */
    public static synchronized Properties buildInfo() {
        if (buildInfo == null) {
            Properties p = new Properties();
            try (InputStream in = NativeLibs.class.getResourceAsStream(RESOURCE_DIR + BUILD_PROPERTIES)) {
                if (in != null) p.load(in);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + RESOURCE_DIR + BUILD_PROPERTIES, e);
            }
            buildInfo = p;
        }
        return buildInfo;
    }

    /** Why the fatbin is missing, for messages: built without nvcc, or without the native build at all. */
    static String fatbinMissingReason() {
        if (buildInfo().isEmpty()) return "fatbin missing (built without cmake: no kernels, no JNI shim)";
        return "fatbin missing (built without nvcc)";
    }

    /**
     * Loads the JNI shim once (later calls return the first answer). On a file: class path the library is loaded
     * where it lies; from a jar it is copied to a temporary file first (deleted on exit).
     */
    public static synchronized ShimStatus loadShim() {
        if (shimStatus == null) shimStatus = doLoadShim();
        return shimStatus;
    }

    private static ShimStatus doLoadShim() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (!os.contains("linux")) {
            return new ShimStatus(false, "JNI shim is built for Linux only (this is " + System.getProperty("os.name") + ")");
        }
        URL url = NativeLibs.class.getResource(RESOURCE_DIR + SHIM);
        if (url == null) {
            String why = buildInfo().isEmpty() ? "built without cmake" : "built without a JDK (jni.h)";
            return new ShimStatus(false, "JNI shim missing (" + why + ")");
        }
        try {
            Path file = "file".equals(url.getProtocol()) ? Path.of(url.toURI()) : extract(url);
            System.load(file.toAbsolutePath().toString());
        } catch (UnsatisfiedLinkError | IOException | URISyntaxException | SecurityException e) {
            return new ShimStatus(false, "JNI shim failed to load: " + e.getMessage());
        }
        int abi;
        try {
            abi = Shim.abiVersion();
        } catch (UnsatisfiedLinkError e) {
            return new ShimStatus(false, "JNI shim is incomplete: " + e.getMessage());
        }
        if (abi != Shim.ABI) {
            return new ShimStatus(false, "JNI shim has ABI version " + abi + ", the Java side expects " + Shim.ABI
                    + " (stale build: rebuild with mvn clean)");
        }
        return new ShimStatus(true, null);
    }

    private static Path extract(URL url) throws IOException {
        Path tmp = Files.createTempFile("diffusion4j_native", ".so");
        tmp.toFile().deleteOnExit();
        try (InputStream in = url.openStream()) {
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        return tmp;
    }
}
