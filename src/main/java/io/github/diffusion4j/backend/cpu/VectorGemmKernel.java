package io.github.diffusion4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * GEMM micro-kernel on the Vector API: a 6 x 16 tile of C held in twelve 256-bit accumulators (two vectors
 * per row), updated with one broadcast of A and two fused multiply-adds per row and depth step. That is 12
 * accumulators + 2 B vectors + 1 broadcast = 15 registers, which fits the 16 ymm registers of AVX2.
 *
 * <p>This class is only loaded when the {@code jdk.incubator.vector} module is present (see
 * {@link CpuGemm}); nothing else may refer to it directly.
 */
final class VectorGemmKernel implements GemmKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
    private static final int MR = 6, NR = 16;

    /** True when 256-bit float vectors map to hardware registers (otherwise the Vector API is emulated and slow). */
    static boolean supported() {
        return FloatVector.SPECIES_PREFERRED.vectorBitSize() >= S.vectorBitSize();
    }

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
                if (mr == MR && nr == NR && (beta == 0f || beta == 1f)) {
                    tile6x16(kc, ap, ai, bp, bi, bStride, beta == 1f, c, cOff + i * ldc + j, ldc);
                } else {
                    if (tile == null) tile = new float[MR * NR];
                    tile6x16(kc, ap, ai, bp, bi, bStride, false, tile, 0, NR);
                    CpuGemm.mergeTile(tile, NR, mr, nr, beta, c, cOff + i * ldc + j, ldc);
                }
            }
        }
    }

    /**
     * C[6 x 16] at ci = A strip @ B strip, plus the old C when {@code accumulate}. The accumulators start from
     * zero or from C, so no branch follows the loop: the JDK 17 compiler boxes vectors that live across
     * control-flow joins, which costs a heap allocation per vector and several times the run time.
     */
    private static void tile6x16(int kc, float[] ap, int ai, float[] bp, int bi, int bStride, boolean accumulate,
                                 float[] c, int ci, int ldc) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate) {
            c00 = FloatVector.fromArray(S, c, ci);
            c01 = FloatVector.fromArray(S, c, ci + 8);
            c10 = FloatVector.fromArray(S, c, ci + ldc);
            c11 = FloatVector.fromArray(S, c, ci + ldc + 8);
            c20 = FloatVector.fromArray(S, c, ci + 2 * ldc);
            c21 = FloatVector.fromArray(S, c, ci + 2 * ldc + 8);
            c30 = FloatVector.fromArray(S, c, ci + 3 * ldc);
            c31 = FloatVector.fromArray(S, c, ci + 3 * ldc + 8);
            c40 = FloatVector.fromArray(S, c, ci + 4 * ldc);
            c41 = FloatVector.fromArray(S, c, ci + 4 * ldc + 8);
            c50 = FloatVector.fromArray(S, c, ci + 5 * ldc);
            c51 = FloatVector.fromArray(S, c, ci + 5 * ldc + 8);
        } else {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = FloatVector.zero(S);
        }
        for (int p = 0; p < kc; p++, ai += MR, bi += bStride) {
            FloatVector b0 = FloatVector.fromArray(S, bp, bi);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + 8);
            FloatVector a = FloatVector.broadcast(S, ap[ai]);
            c00 = a.fma(b0, c00);
            c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = a.fma(b0, c10);
            c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = a.fma(b0, c20);
            c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = a.fma(b0, c30);
            c31 = a.fma(b1, c31);
            a = FloatVector.broadcast(S, ap[ai + 4]);
            c40 = a.fma(b0, c40);
            c41 = a.fma(b1, c41);
            a = FloatVector.broadcast(S, ap[ai + 5]);
            c50 = a.fma(b0, c50);
            c51 = a.fma(b1, c51);
        }
        c00.intoArray(c, ci);
        c01.intoArray(c, ci + 8);
        c10.intoArray(c, ci + ldc);
        c11.intoArray(c, ci + ldc + 8);
        c20.intoArray(c, ci + 2 * ldc);
        c21.intoArray(c, ci + 2 * ldc + 8);
        c30.intoArray(c, ci + 3 * ldc);
        c31.intoArray(c, ci + 3 * ldc + 8);
        c40.intoArray(c, ci + 4 * ldc);
        c41.intoArray(c, ci + 4 * ldc + 8);
        c50.intoArray(c, ci + 5 * ldc);
        c51.intoArray(c, ci + 5 * ldc + 8);
    }
}
