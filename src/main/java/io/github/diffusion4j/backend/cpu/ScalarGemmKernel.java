package io.github.diffusion4j.backend.cpu;

/**
 * GEMM micro-kernel in plain Java, used when the Vector API module is absent: a 4 x 4 tile of C in sixteen
 * scalar locals (register-resident), updated with separate multiplies and adds. Java 17's auto-vectoriser
 * does not vectorise the unit-stride alternatives over packed panels (two arrays with unrelated offsets
 * cannot be aligned together), and a scalar register block measured faster than them.
 */
final class ScalarGemmKernel implements GemmKernel {
    static final ScalarGemmKernel INSTANCE = new ScalarGemmKernel();
    private static final int MR = 4, NR = 4;

    private ScalarGemmKernel() {}

    @Override public int mr() { return MR; }

    @Override public int nr() { return NR; }

    @Override public void multiply(int mc, int nc, int kc, float[] ap, int aOff, float[] bp, int bOff, int bColStep,
                                   int bStride, float beta, float[] c, int cOff, int ldc) {
        float[] tile = null;
        for (int j = 0; j < nc; j += NR) {
            int nr = Math.min(NR, nc - j);
            int bi = bOff + j * bColStep;
            for (int i = 0; i < mc; i += MR) {
                int mr = Math.min(MR, mc - i);
                int ai = aOff + i * kc;
                if (mr == MR && nr == NR) {
                    tile4x4(kc, ap, ai, bp, bi, bStride, beta, c, cOff + i * ldc + j, ldc);
                } else {
                    if (tile == null) tile = new float[MR * NR];
                    tile4x4(kc, ap, ai, bp, bi, bStride, 0f, tile, 0, NR);
                    CpuGemm.mergeTile(tile, NR, mr, nr, beta, c, cOff + i * ldc + j, ldc);
                }
            }
        }
    }

    /** C[4 x 4] at ci = A strip @ B strip + beta * C (C not read when beta == 0). */
    private static void tile4x4(int kc, float[] ap, int ai, float[] bp, int bi, int bStride, float beta,
                                float[] c, int ci, int ldc) {
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int p = 0; p < kc; p++, ai += MR, bi += bStride) {
            float b0 = bp[bi], b1 = bp[bi + 1], b2 = bp[bi + 2], b3 = bp[bi + 3];
            float a = ap[ai];
            c00 += a * b0; c01 += a * b1; c02 += a * b2; c03 += a * b3;
            a = ap[ai + 1];
            c10 += a * b0; c11 += a * b1; c12 += a * b2; c13 += a * b3;
            a = ap[ai + 2];
            c20 += a * b0; c21 += a * b1; c22 += a * b2; c23 += a * b3;
            a = ap[ai + 3];
            c30 += a * b0; c31 += a * b1; c32 += a * b2; c33 += a * b3;
        }
        storeRow(c, ci, beta, c00, c01, c02, c03);
        storeRow(c, ci + ldc, beta, c10, c11, c12, c13);
        storeRow(c, ci + 2 * ldc, beta, c20, c21, c22, c23);
        storeRow(c, ci + 3 * ldc, beta, c30, c31, c32, c33);
    }

    private static void storeRow(float[] c, int o, float beta, float v0, float v1, float v2, float v3) {
        if (beta == 0f) {
            c[o] = v0;
            c[o + 1] = v1;
            c[o + 2] = v2;
            c[o + 3] = v3;
        } else {
            c[o] = v0 + beta * c[o];
            c[o + 1] = v1 + beta * c[o + 1];
            c[o + 2] = v2 + beta * c[o + 2];
            c[o + 3] = v3 + beta * c[o + 3];
        }
    }
}
