package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The launchers' view of every kernel's parameters ({@link Kernels#SIGNATURES}) against the parameter lists in
 * kernels/*.cu: a launch passes raw 4- or 8-byte values, so a mismatch in count or width would corrupt it silently
 * on the GPU. Parsed here, no GPU needed.
 */
class KernelSignatureTest {

    /** The signature letter of one C parameter declaration ("const float* x", "long long n", ...). */
    static char kind(String decl, String kernel) {
        String d = decl.trim().replaceAll("\\s+", " ");
        if (d.contains("*")) return 'p';
        String type = d.substring(0, d.lastIndexOf(' ')).replace("const ", "").trim();
        return switch (type) {
            case "long long", "unsigned long long", "long long int", "int64_t", "uint64_t" -> 'j';
            case "int", "int32_t" -> 'i';
            case "float" -> 'f';
            case "double" -> 'd';
            default -> {
                fail("kernel " + kernel + ": parameter '" + decl + "' has a type the launchers cannot pass");
                yield '?';
            }
        };
    }

    /**
     * An extern "C" kernel in kernels/*.cu: group 1 its name, group 2 its parameter list (an optional
     * __launch_bounds__(...) may stand before the name). NativeBuildTest reads the kernel list with it too.
     */
    static final Pattern KERNEL_DECLARATION = Pattern.compile(
            "extern\\s+\"C\"\\s+__global__\\s+void\\s+(?:__launch_bounds__\\([^)]*\\)\\s+)?(\\w+)\\s*\\(([^)]*)\\)");

    static Map<String, String> parseSources() throws Exception {
        Path dir = Path.of("kernels");
        Assumptions.assumeTrue(Files.isDirectory(dir), "kernels/ not found (tests not run from the project root)");
        Pattern p = KERNEL_DECLARATION;
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(f -> f.toString().endsWith(".cu")).toList()) {
                Matcher m = p.matcher(Files.readString(f));
                while (m.find()) {
                    StringBuilder sig = new StringBuilder();
                    for (String decl : m.group(2).split(",")) sig.append(kind(decl, m.group(1)));
                    out.put(m.group(1), sig.toString());
                }
            }
        }
        return out;
    }

    @Test void everyLauncherSignatureMatchesItsKernel() throws Exception {
        Map<String, String> sources = parseSources();
        assertEquals(new TreeMap<>(Kernels.SIGNATURES).keySet(), sources.keySet(), "kernels with a signature");
        for (String k : Kernels.ALL) {
            assertEquals(sources.get(k), Kernels.SIGNATURES.get(k), "parameter kinds of " + k);
        }
    }

    @Test void parserReadsTheKinds() {
        assertEquals('p', kind("const float* __restrict__ x", "k"));
        assertEquals('p', kind("int *flags", "k"));
        assertEquals('j', kind("unsigned long long seed", "k"));
        assertEquals('j', kind(" long long n", "k"));
        assertEquals('i', kind("int N", "k"));
        assertEquals('f', kind("float eps", "k"));
    }
}
