package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.tensor.Philox;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kernels/philox.cuh against Philox.java without a GPU: the header is also plain C++, so a host build of it
 * (src/test/native/philox_host_check.cpp, compiled here with g++) runs the same Philox rounds, index mapping,
 * Box-Muller and per-block store logic as the d4j_randn / d4j_rand kernels. Uniforms must match bit for bit;
 * normals too, except where the host libm's double log/sin/cos and Java's differ by an ulp right at a float
 * rounding boundary (then one float ulp is allowed, and the count is printed). What this cannot check: the
 * CUDA math library's own double log/sincos, and the kernels' grid-stride loops as compiled by nvcc.
 */
class PhiloxHostCheckTest {
    @TempDir static Path dir;
    static Path exe;

    @BeforeAll static void build() throws Exception {
        Path src = Path.of("src/test/native/philox_host_check.cpp").toAbsolutePath();
        Path kernels = Path.of("kernels").toAbsolutePath();
        exe = dir.resolve("philox_host_check");
        // -ffp-contract=off: no FMA contraction, as nvcc -fmad=false and Java
        List<String> cmd = List.of("g++", "-std=c++17", "-O2", "-ffp-contract=off", "-Wall", "-Werror",
                "-I" + kernels, "-o", exe.toString(), src.toString(), "-lm");
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("g++ not available: " + e.getMessage());
            return;
        }
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, "g++ failed:\n" + out);
    }

    record Case(boolean normal, long seed, long offset, int n) {}

    static List<float[]> run(List<Case> cases) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(exe.toString()));
        for (Case c : cases) {
            cmd.add(c.normal ? "n" : "u");
            cmd.add(Long.toString(c.seed));
            cmd.add(Long.toString(c.offset));
            cmd.add(Integer.toString(c.n));
        }
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, out);
        List<float[]> result = new ArrayList<>();
        for (String line : out.strip().split("\n")) {
            String[] w = line.strip().split(" ");
            float[] f = new float[w.length];
            for (int i = 0; i < w.length; i++) f[i] = Float.intBitsToFloat(Integer.parseUnsignedInt(w[i], 16));
            result.add(f);
        }
        assertEquals(cases.size(), result.size());
        return result;
    }

    static List<Case> cases(boolean normal) {
        List<Case> cs = new ArrayList<>();
        long[] seeds = {0L, 1L, 42L, -1L, 0x0123456789ABCDEFL, Long.MIN_VALUE};
        long[] offsets = {0L, 1L, 2L, 3L, 5L, (1L << 34) - 6, 0x7FFFFFFF00000001L};
        int[] ns = {1, 2, 3, 7, 33};
        for (long s : seeds) for (long o : offsets) for (int n : ns) cs.add(new Case(normal, s, o, n));
        cs.add(new Case(normal, 1234L, 17L, 20000));
        return cs;
    }

    @Test void uniformsMatchJavaBitForBit() throws Exception {
        List<Case> cs = cases(false);
        List<float[]> got = run(cs);
        for (int k = 0; k < cs.size(); k++) {
            Case c = cs.get(k);
            float[] want = new float[c.n];
            Philox.fillUniform(want, 0, c.seed, c.offset, 0, c.n);
            for (int i = 0; i < c.n; i++) {
                assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got.get(k)[i]), c + " element " + i);
            }
        }
    }

    @Test void normalsMatchJava() throws Exception {
        List<Case> cs = cases(true);
        List<float[]> got = run(cs);
        int total = 0, inexact = 0;
        for (int k = 0; k < cs.size(); k++) {
            Case c = cs.get(k);
            float[] want = new float[c.n];
            Philox.fillNormal(want, 0, c.seed, c.offset, 0, c.n);
            for (int i = 0; i < c.n; i++) {
                float g = got.get(k)[i], w = want[i];
                total++;
                if (Float.floatToRawIntBits(g) != Float.floatToRawIntBits(w)) {
                    inexact++;
                    assertTrue(Math.abs(g - w) <= Math.ulp(w), c + " element " + i + ": " + g + " vs " + w);
                }
            }
        }
        System.out.println("philox.cuh (host build) vs Philox.java: " + (total - inexact) + "/" + total
                + " normals bit-identical, the rest within 1 ulp");
        assertTrue(inexact <= total / 1000, inexact + " of " + total + " normals differ");
    }
}
