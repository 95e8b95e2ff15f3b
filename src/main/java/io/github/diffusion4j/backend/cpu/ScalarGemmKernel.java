package io.github.diffusion4j.backend.cpu;

/**
 * GEMM micro-kernel in plain Java, used when the Vector API module is absent. The 4 x 64 tile of C is
 * accumulated in a small array with simple unit-stride loops over the 64 columns, a shape HotSpot's C2
 * compiler auto-vectorises (SuperWord), so the fallback still uses SIMD on most machines.
 */
final class ScalarGemmKernel implements GemmKernel {
    static final ScalarGemmKernel INSTANCE = new ScalarGemmKernel();
    private static final int MR = 4, NR = 64;

    private ScalarGemmKernel() {}

    @Override public int mr() { return MR; }

    @Override public int nr() { return NR; }

    @Override public void multiply(int mc, int nc, int kc, float[] ap, int aOff, float[] bp, int bOff, float beta,
                                   float[] c, int cOff, int ldc) {
        float[] tile = new float[MR * NR];
        for (int j = 0; j < nc; j += NR) {
            int nr = Math.min(NR, nc - j);
            int bi = bOff + j * kc;
            for (int i = 0; i < mc; i += MR) {
                int mr = Math.min(MR, mc - i);
                tile4x64(kc, ap, aOff + i * kc, bp, bi, tile);
                CpuGemm.mergeTile(tile, NR, mr, nr, beta, c, cOff + i * ldc + j, ldc);
            }
        }
    }

    /** tile[4 x 64] = A strip @ B strip. */
    private static void tile4x64(int kc, float[] ap, int ai, float[] bp, int bi, float[] tile) {
        java.util.Arrays.fill(tile, 0f);
        for (int p = 0; p < kc; p++, ai += MR, bi += NR) {
            float a0 = ap[ai], a1 = ap[ai + 1], a2 = ap[ai + 2], a3 = ap[ai + 3];
            for (int j = 0; j < NR; j++) {
                float b = bp[bi + j];
                tile[j] += a0 * b;
                tile[NR + j] += a1 * b;
                tile[2 * NR + j] += a2 * b;
                tile[3 * NR + j] += a3 * b;
            }
        }
    }
}
