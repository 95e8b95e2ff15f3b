package io.github.diffusion4j.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Properties;

/**
 * Whether the CUDA backend can run here, and if not, why, found without touching JCuda: the JNI shim opens
 * libcuda.so.1 itself (JCuda's own native library needs it and would fail less clearly), calls cuInit and
 * reads device 0, then opens cuBLAS and cuDNN and asks their versions. {@code backend auto} picks "cuda" exactly
 * when {@link #available()} is true.
 *
 * <p>Requirements, checked in this order (each failure adds one entry to {@link #problems()}): the JNI shim, the
 * NVIDIA driver, a CUDA device, the fatbin, a device architecture the fatbin supports, JCuda's native driver
 * binding for this platform, cuBLAS ({@code libcublas.so.13}, else {@code .12}), cuDNN 9 ({@code libcudnn.so.9}).
 *
 * @param problems  empty when available; otherwise short reasons, e.g. "libcuda.so.1 not found (no NVIDIA driver)"
 * @param shimProblem why the shim did not load, or null
 * @param driver    the probe of libcuda.so.1
 * @param cublas    the probe of libcublas.so.13 (or .12 when 13 is absent)
 * @param cudnn     the probe of libcudnn.so.9
 * @param fatbin    the parsed fatbin, empty when built without nvcc
 */
public record CudaAvailability(List<String> problems, String shimProblem, LibraryInfo driver, LibraryInfo cublas,
                               LibraryInfo cudnn, Optional<Fatbin> fatbin) {

    public static final String LIBCUDA = "libcuda.so.1";
    public static final String LIBCUDNN = "libcudnn.so.9";
    public static final List<String> LIBCUBLAS = List.of("libcublas.so.13", "libcublas.so.12");

    private static CudaAvailability cached;

    public CudaAvailability {
        problems = List.copyOf(problems);
    }

    /** Probes once per JVM (the libraries cannot change underneath a running process). */
    public static synchronized CudaAvailability probe() {
        if (cached == null) cached = doProbe();
        return cached;
    }

    public boolean available() { return problems.isEmpty(); }

    /** The CUDA devices the driver reports (0 without a usable driver). */
    public int deviceCount() {
        String n = driver == null ? null : driver.field("devices");
        try {
            return n == null ? 0 : Integer.parseInt(n);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** The backend "auto" resolves to: "cuda" or "cpu". */
    public String autoBackend() { return available() ? "cuda" : "cpu"; }

    /**
     * One line: "CUDA available: NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB), driver 13.0, cuBLAS 13.0.0, cuDNN 9.13.0"
     * or "CUDA unavailable: libcuda.so.1 not found (no NVIDIA driver)" (several problems are joined with "; ").
     */
    public String reason() {
        if (!available()) return "CUDA unavailable: " + String.join("; ", problems);
        return "CUDA available: " + deviceDescription() + ", driver " + driver.version() + ", cuBLAS " + cublas.version()
                + ", cuDNN " + cudnn.version();
    }

    /** "backend auto -> cpu (CUDA unavailable: ...)", as `diffusion4j info` prints it. */
    public String summary() {
        return "backend auto -> " + autoBackend() + " (" + reason() + ")";
    }

    /** Device 0 as "name (sm_XY, N GiB)", or null when there is none. */
    public String deviceDescription() {
        String name = driver.field("device0.name");
        if (name == null) return null;
        String cc = driver.field("device0.cc");
        String mem = driver.field("device0.memory");
        StringBuilder sb = new StringBuilder(name).append(" (");
        sb.append(cc != null ? "sm_" + cc.replace(".", "") : "sm_?");
        if (mem != null) sb.append(String.format(Locale.ROOT, ", %.1f GiB", Long.parseLong(mem) / (double) (1L << 30)));
        return sb.append(')').toString();
    }

    /** Details for `diffusion4j info`, one item per line. */
    public List<String> details() {
        List<String> out = new ArrayList<>();
        out.add(summary());
        out.add("JNI shim: " + (shimProblem == null ? "loaded" : shimProblem));
        out.add("driver: " + driver.describe() + (driver.found() ? ", cuInit " + driver.field("init") + ", "
                + driver.field("devices") + " device(s)" : ""));
        String dev = deviceDescription();
        if (dev != null) out.add("device 0: " + dev);
        out.add("cuBLAS: " + (cublas.found() || !"missing".equals(cublas.status()) ? cublas.describe()
                : "not found (" + String.join(", ", LIBCUBLAS) + ")"));
        out.add("cuDNN: " + cudnn.describe());
        Properties b = NativeLibs.buildInfo();
        out.add("kernels: " + fatbin.map(f -> NativeLibs.FATBIN + " (" + f.describe() + ", nvcc "
                + b.getProperty("nvcc.version", "?") + ")").orElse(NativeLibs.fatbinMissingReason()));
        return out;
    }

    /** Prints {@link #details()}: {@code java -cp diffusion4j.jar io.github.diffusion4j.backend.cuda.CudaAvailability}. */
    public static void main(String[] args) {
        probe().details().forEach(System.out::println);
    }

    // ------------------------------------------------------------------ probing

    private static CudaAvailability doProbe() {
        List<String> problems = new ArrayList<>();
        NativeLibs.ShimStatus shim = NativeLibs.loadShim();
        Optional<Fatbin> fatbin = parsedFatbin();
        if (!shim.loaded()) {
            problems.add(shim.problem());
            if (fatbin.isEmpty()) problems.add(NativeLibs.fatbinMissingReason());
            String why = "not probed: " + shim.problem();
            return new CudaAvailability(problems, shim.problem(), LibraryInfo.notProbed(LIBCUDA, why),
                    LibraryInfo.notProbed(LIBCUBLAS.get(0), why), LibraryInfo.notProbed(LIBCUDNN, why), fatbin);
        }

        LibraryInfo driver = probeLibrary(LIBCUDA, Shim.KIND_CUDA);
        if ("missing".equals(driver.status())) {
            problems.add(LIBCUDA + " not found (no NVIDIA driver)");
        } else if (!driver.found()) {
            problems.add(LIBCUDA + " unusable: " + driver.error());
        } else if (!"CUDA_SUCCESS".equals(driver.field("init"))) {
            problems.add("no usable CUDA device (cuInit: " + driver.field("init") + ")");
        } else if ("0".equals(driver.field("devices"))) {
            problems.add("no CUDA device");
        }

        if (fatbin.isEmpty()) {
            problems.add(NativeLibs.fatbinMissingReason());
        } else if (driver.field("device0.cc") != null) {
            String[] cc = driver.field("device0.cc").split("\\.");
            int major = Integer.parseInt(cc[0]), minor = Integer.parseInt(cc[1]);
            if (!fatbin.get().supports(major, minor)) {
                problems.add("GPU sm_" + major + minor + " is not supported by the kernels (" + fatbin.get().describe() + ")");
            }
        }

        String jcudaProblem = jcudaNativeProblem();
        if (jcudaProblem != null) problems.add(jcudaProblem);

        LibraryInfo cublas = null;
        for (String name : LIBCUBLAS) {
            cublas = probeLibrary(name, Shim.KIND_CUBLAS);
            if (cublas.found()) break;
        }
        if (!cublas.found()) {
            problems.add("missing".equals(cublas.status())
                    ? "cuBLAS not found (" + String.join(", ", LIBCUBLAS) + ")"
                    : cublas.name() + " unusable: " + cublas.error());
        }

        LibraryInfo cudnn = probeLibrary(LIBCUDNN, Shim.KIND_CUDNN);
        if (!cudnn.found()) {
            problems.add("missing".equals(cudnn.status()) ? "cuDNN 9 not found (" + LIBCUDNN + ")"
                    : LIBCUDNN + " unusable: " + cudnn.error());
        }
        return new CudaAvailability(problems, null, driver, cublas, cudnn, fatbin);
    }

    /** Probes one library through the shim and keeps its handle for the shim's later calls. */
    static LibraryInfo probeLibrary(String name, int kind) {
        return LibraryInfo.parse(name, Shim.probeLibrary(name, kind, true));
    }

    private static Optional<Fatbin> parsedFatbin() {
        return NativeLibs.fatbin().map(Fatbin::parse);
    }

    /**
     * JCuda ships its JNI library for the driver API inside jcuda-natives-VERSION-OS-ARCH.jar as
     * /lib/libJCudaDriver-VERSION-OS-ARCH.so; without it the first JCuda call throws UnsatisfiedLinkError.
     */
    static String jcudaNativeProblem() {
        String version = "12.6.0";
        try (InputStream in = CudaAvailability.class.getResourceAsStream("/META-INF/maven/org.jcuda/jcuda/pom.properties")) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                version = p.getProperty("version", version);
            }
        } catch (IOException ignored) {
            // keep the default
        }
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (arch.equals("amd64") || arch.equals("x86_64")) arch = "x86_64";
        String lib = "/lib/libJCudaDriver-" + version + "-linux-" + arch + ".so";
        if (CudaAvailability.class.getResource(lib) != null) return null;
        return "JCuda " + version + " has no driver binding for linux-" + arch + " on the class path (" + lib + ")";
    }
}
