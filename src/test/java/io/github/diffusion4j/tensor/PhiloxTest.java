package io.github.diffusion4j.tensor;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PhiloxTest {

    private static int[] words(String hex) {
        String[] p = hex.trim().split("\\s+");
        int[] w = new int[p.length];
        for (int i = 0; i < p.length; i++) w[i] = (int) Long.parseLong(p[i], 16);
        return w;
    }

    private static void kat(String ctr, String key, String expected) {
        int[] out = new int[4];
        Philox.philox4x32_10(words(ctr), words(key), out);
        assertArrayEquals(words(expected), out, () -> "Philox4x32-10 of ctr " + ctr + " key " + key);
    }

    /** The Random123 known-answer vectors (kat_vectors, philox4x32 with 10 rounds). */
    @Test void knownAnswerVectors() {
        kat("00000000 00000000 00000000 00000000", "00000000 00000000", "6627e8d5 e169c58d bc57ac4c 9b00dbd8");
        kat("ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff", "408f276d 41c83b0e a20bc7c6 6d5451fd");
        kat("243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0", "d16cfe09 94fdcceb 5001e420 24126ea1");
    }

    /** The documented mapping: element g uses block g/4, lane g%4, key = the seed's two halves. */
    @Test void mappingFromSeedAndIndex() {
        long seed = 0x299f31d0a4093822L;
        long g = 4L * 0x0000000185a308d3L + 2;   // block 0x185a308d3 spans both counter words
        int[] x = new int[4];
        Philox.philox4x32_10(new int[] {0x85a308d3, 1, 0, 0}, new int[] {0xa4093822, 0x299f31d0}, x);
        assertEquals((x[2] >>> 8) / 16777216.0f, Philox.uniform(seed, g));
        double u1 = ((x[2] >>> 8) + 1) / 16777216.0, u2 = (x[3] >>> 8) / 16777216.0;
        assertEquals((float) (Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)), Philox.normal(seed, g));
        assertEquals((float) (Math.sqrt(-2 * Math.log(u1)) * Math.sin(2 * Math.PI * u2)), Philox.normal(seed, g + 1));
    }

    /** A tensor filled with (seed, offset) holds element i = normal(seed, offset + i), whatever the split. */
    @Test void backendFillMatchesScalarMapping() {
        CpuBackend b = CpuBackend.get();
        Tensor t = b.zeros(3, 5_000);
        b.randn(t, 42L, 7L);
        float[] a = t.toArray();
        for (int i = 0; i < a.length; i += 97) assertEquals(Philox.normal(42L, 7L + i), a[i]);
        Tensor u = b.zeros(1001);
        b.rand(u, 42L, 3L);
        float[] ua = u.toArray();
        for (int i = 0; i < ua.length; i++) assertEquals(Philox.uniform(42L, 3L + i), ua[i]);
    }

    /** Mean 0, variance 1, and the right tail mass, within statistical bounds for 10^6 samples. */
    @Test void normalStatistics() {
        CpuBackend b = CpuBackend.get();
        int n = 1_000_000;
        Tensor t = b.zeros(n);
        b.randn(t, 1234L, 0L);
        float[] a = t.toArray();
        double s = 0, s2 = 0, s4 = 0;
        int beyond2 = 0;
        for (float v : a) {
            s += v;
            s2 += (double) v * v;
            s4 += (double) v * v * v * v;
            if (Math.abs(v) > 2) beyond2++;
        }
        double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n;
        double tail = (double) beyond2 / n, tailExpected = 0.0455003;
        System.out.printf("Philox normal: mean %.5f (se %.5f), var %.5f (se %.5f), E[x^4] %.4f, P(|x|>2) %.5f (expected %.5f)%n",
                mean, 1 / Math.sqrt(n), var, Math.sqrt(2.0 / n), kurt, tail, tailExpected);
        assertEquals(0, mean, 5 / Math.sqrt(n));
        assertEquals(1, var, 5 * Math.sqrt(2.0 / n));
        assertEquals(3, kurt, 5 * Math.sqrt(96.0 / n));
        assertEquals(tailExpected, tail, 5 * Math.sqrt(tailExpected * (1 - tailExpected) / n));
        // uniforms: mean 1/2, variance 1/12, never 1
        Tensor u = b.zeros(n);
        b.rand(u, 99L, 0L);
        double us = 0, us2 = 0;
        for (float v : u.toArray()) {
            assertTrue(v >= 0f && v < 1f);
            us += v;
            us2 += (double) v * v;
        }
        assertEquals(0.5, us / n, 5 * Math.sqrt(1.0 / 12 / n));
        assertEquals(1.0 / 12, us2 / n - (us / n) * (us / n), 5e-4);
    }

    /** Different seeds and disjoint offsets give uncorrelated streams. */
    @Test void streamsAreIndependent() {
        int n = 200_000;
        double c1 = 0, c2 = 0;
        for (int i = 0; i < n; i++) {
            float a = Philox.normal(1L, i), b = Philox.normal(2L, i), c = Philox.normal(1L, i + n);
            c1 += a * b;
            c2 += a * c;
        }
        System.out.printf("Philox correlations: seeds %.5f, offsets %.5f (se %.5f)%n", c1 / n, c2 / n, 1 / Math.sqrt(n));
        assertEquals(0, c1 / n, 5 / Math.sqrt(n));
        assertEquals(0, c2 / n, 5 / Math.sqrt(n));
    }

    @Test void streamNextIntIsUniform() {
        Philox.Stream s = new Philox.Stream(5L, 0L);
        int[] counts = new int[7];
        int n = 70_000;
        for (int i = 0; i < n; i++) counts[s.nextInt(7)]++;
        for (int c : counts) assertEquals(n / 7.0, c, 5 * Math.sqrt(n / 7.0));
    }
}
