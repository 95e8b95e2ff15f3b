package io.github.diffusion4j.backend.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The cuBLAS half of the shim against a stand-in libcublas (src/test/native/fake_cublas.c) that logs its
 * arguments: the JNI marshalling (ints, longs, host alpha/beta, 64-bit strides), the status -> exception
 * path, and the row-major -> column-major mapping of {@link Cublas#matmulRowMajor}, which is checked by
 * executing the logged column-major call with cuBLAS's documented semantics on Java arrays and comparing with a
 * plain row-major product. Runs only where no real cuBLAS is loaded (the fake would shadow it).
 */
class CublasShimTest {
    @TempDir static Path dir;
    static Path log;
    static long handle;

    @BeforeAll static void setUp() throws Exception {
        ShimProbeTest.loadShim();
        boolean real = CudaAvailability.probe().cublas().found();
        log = dir.resolve("cublas.log");
        Path lib = FakeLibs.compile(dir, "libfakecublas_calls.so", Path.of("src/test/native/fake_cublas.c"),
                "LOG_PATH=\"" + log + "\"");
        FakeLibs.keepFake(Shim.KIND_CUBLAS, lib, real);
        handle = Cublas.create();
    }

    static String lastCall() throws Exception {
        List<String> lines = Files.readAllLines(log);
        return lines.get(lines.size() - 1);
    }

    @Test void handleAndStream() throws Exception {
        Cublas.setStream(handle, 0x7f00dead0000L);
        assertEquals("setStream 7f00dead0000", lastCall());
        Cublas.setMathMode(handle, Cublas.TF32_TENSOR_OP_MATH);
        assertEquals("setMathMode 3", lastCall());
    }

    @Test void statusBecomesAnExceptionNamingTheCall() {
        CudaException e = assertThrows(CudaException.class,
                () -> Cublas.sgemm(handle, 0, 0, 777, 1, 1, 1f, 0x10, 777, 0x20, 1, 0f, 0x30, 777));
        assertEquals("cublasSgemm_v2: CUBLAS_STATUS_INVALID_VALUE (7): an invalid numeric value was used as an argument",
                e.getMessage());
    }

    @Test void stridedBatchedPassesLongStrides() throws Exception {
        Cublas.sgemmStridedBatched(handle, 1, 0, 2, 3, 4, 0.5f, 0xA000L, 4, 1L << 33, 0xB000L, 4, 12, 2f, 0xC000L, 2,
                6, 9);
        assertEquals("sgemmStridedBatched 1 0 2 3 4 0.5 a000 4 8589934592 b000 4 12 2 c000 2 6 9", lastCall());
    }

    // ------------------------------------------------------------------ row-major mapping

    static final long A = 0x100000L, B = 0x200000L, C = 0x300000L;

    /** cuBLAS semantics: column-major C(i,j) = alpha sum_l op(A)(i,l) op(B)(l,j) + beta C(i,j), X(r,c) = X[r + c ld]. */
    static void columnMajorGemm(int ta, int tb, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                                float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int l = 0; l < k; l++) {
                    float av = ta == 0 ? a[aOff + i + l * lda] : a[aOff + l + i * lda];
                    float bv = tb == 0 ? b[bOff + l + j * ldb] : b[bOff + j + l * ldb];
                    s += (double) av * bv;
                }
                c[cOff + i + j * ldc] = (float) (alpha * s + beta * c[cOff + i + j * ldc]);
            }
        }
    }

    /** Row-major reference: C[m,n] = alpha op(A) op(B) + beta C with A [m,k] or [k,m], B [k,n] or [n,k]. */
    static float[] rowMajor(boolean tA, boolean tB, int m, int n, int k, float alpha, float[] a, float[] b, float beta,
                            float[] c0) {
        float[] c = c0.clone();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int l = 0; l < k; l++) {
                    float av = tA ? a[l * m + i] : a[i * k + l];
                    float bv = tB ? b[j * k + l] : b[l * n + j];
                    s += (double) av * bv;
                }
                c[i * n + j] = (float) (alpha * s + beta * c[i * n + j]);
            }
        }
        return c;
    }

    static float[] random(Random r, int size) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) x[i] = r.nextFloat() * 2 - 1;
        return x;
    }

    @Test void matmulRowMajorMapsToTheRightColumnMajorCall() throws Exception {
        Random r = new Random(7);
        int m = 3, n = 5, k = 4;
        for (boolean tA : new boolean[] {false, true}) {
            for (boolean tB : new boolean[] {false, true}) {
                float[] a = random(r, m * k), b = random(r, k * n), c = random(r, m * n);
                Cublas.matmulRowMajor(handle, tA, tB, m, n, k, 0.75f, A, B, 0.5f, C, Cublas.COMPUTE_32F_FAST_TF32);
                String[] f = lastCall().split(" ");
                assertEquals("gemmEx", f[0]);
                Map<Long, float[]> mem = new HashMap<>(Map.of(A, a, B, b, C, c.clone()));
                // gemmEx ta tb m n k alpha A Atype lda B Btype ldb beta C Ctype ldc compute algo
                assertEquals("0", f[8]);   // CUDA_R_32F
                assertEquals("0", f[11]);
                assertEquals("0", f[15]);
                assertEquals(String.valueOf(Cublas.COMPUTE_32F_FAST_TF32), f[17]);
                assertEquals("-1", f[18]); // CUBLAS_GEMM_DEFAULT
                float[] out = mem.get(C);
                columnMajorGemm(Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]),
                        Integer.parseInt(f[4]), Integer.parseInt(f[5]), Float.parseFloat(f[6]),
                        mem.get(Long.parseLong(f[7], 16)), 0, Integer.parseInt(f[9]),
                        mem.get(Long.parseLong(f[10], 16)), 0, Integer.parseInt(f[12]), Float.parseFloat(f[13]),
                        out, 0, Integer.parseInt(f[16]));
                float[] want = rowMajor(tA, tB, m, n, k, 0.75f, a, b, 0.5f, c);
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], out[i], 1e-5f, "transA=" + tA + " transB=" + tB + " element " + i);
                }
            }
        }
    }

    @Test void batchedMatmulRowMajorStridesCoverEachProduct() throws Exception {
        Random r = new Random(11);
        int m = 2, n = 3, k = 4, batch = 3;
        for (boolean tA : new boolean[] {false, true}) {
            for (boolean tB : new boolean[] {false, true}) {
                float[] a = random(r, batch * m * k), b = random(r, batch * k * n), c = random(r, batch * m * n);
                Cublas.batchedMatmulRowMajor(handle, tA, tB, m, n, k, 1f, A, B, 0f, C, batch, Cublas.COMPUTE_32F);
                String[] f = lastCall().split(" ");
                // gemmStridedBatchedEx ta tb m n k alpha A Atype lda sA B Btype ldb sB beta C Ctype ldc sC batch compute algo
                assertEquals("gemmStridedBatchedEx", f[0]);
                Map<Long, float[]> mem = Map.of(A, a, B, b, C, c);
                float[] out = c.clone();
                int sA = Integer.parseInt(f[10]), sB = Integer.parseInt(f[14]), sC = Integer.parseInt(f[19]);
                float[] first = mem.get(Long.parseLong(f[7], 16)), second = mem.get(Long.parseLong(f[11], 16));
                int sFirst = sA, sSecond = sB;
                assertEquals(batch, Integer.parseInt(f[20]));
                for (int i = 0; i < batch; i++) {
                    columnMajorGemm(Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]),
                            Integer.parseInt(f[4]), Integer.parseInt(f[5]), Float.parseFloat(f[6]), first,
                            i * sFirst, Integer.parseInt(f[9]), second, i * sSecond, Integer.parseInt(f[13]),
                            Float.parseFloat(f[15]), out, i * sC, Integer.parseInt(f[18]));
                }
                for (int i = 0; i < batch; i++) {
                    float[] ai = java.util.Arrays.copyOfRange(a, i * m * k, (i + 1) * m * k);
                    float[] bi = java.util.Arrays.copyOfRange(b, i * k * n, (i + 1) * k * n);
                    float[] want = rowMajor(tA, tB, m, n, k, 1f, ai, bi, 0f, new float[m * n]);
                    for (int j = 0; j < m * n; j++) {
                        assertEquals(want[j], out[i * m * n + j], 1e-5f, "batch " + i + " tA=" + tA + " tB=" + tB);
                    }
                }
            }
        }
    }
}
