package io.github.diffusion4j.backend.cpu;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs a GEMM and a convolution in a child JVM started without {@code --add-modules jdk.incubator.vector}
 * (as {@code java -jar} does): the backend must load, report the scalar path and compute correct results.
 */
class WithoutVectorModuleTest {
    @Test void scalarFallbackWorksWhenTheModuleIsAbsent() throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"), Child.class.getName()))
                .redirectErrorStream(true).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM timed out");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        System.out.println("child JVM without the Vector API module: " + out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.endsWith("ok vectorized=false"), out);
    }

    /** The child: checks a product and a convolution against direct loops and prints the path in use. */
    public static final class Child {
        public static void main(String[] args) {
            if (ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()) throw new AssertionError("module present");
            int m = 37, n = 29, k = 300;
            float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
            for (int i = 0; i < a.length; i++) a[i] = (i % 13) * 0.25f - 1;
            for (int i = 0; i < b.length; i++) b[i] = (i % 7) * 0.5f - 1.5f;
            CpuGemm.sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, c, 0, n);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double ref = 0;
                    for (int q = 0; q < k; q++) ref += (double) a[i * k + q] * b[q * n + j];
                    if (Math.abs(ref - c[i * n + j]) > 1e-3) throw new AssertionError("GEMM wrong at " + i + "," + j);
                }
            }
            CpuBackend be = CpuBackend.get();
            var x = be.fromArray(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
            var w = be.fromArray(new float[] {1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 1, 3, 3);
            var y = be.zeros(1, 1, 2, 2);
            be.conv2d(y, x, w, null, 1, 1);
            for (float v : be.toHost(y)) if (v != 10f) throw new AssertionError("conv wrong: " + v);
            System.out.println(be.description() + " ok vectorized=" + CpuGemm.vectorized());
        }
    }
}
