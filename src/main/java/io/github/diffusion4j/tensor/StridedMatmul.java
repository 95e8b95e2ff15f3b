package io.github.diffusion4j.tensor;

/** Argument checks of {@link Backend#stridedBatchedMatmul}, shared by the backends. */
public final class StridedMatmul {
    private StridedMatmul() {}

    /** Throws IllegalArgumentException unless every tensor holds its batch of matrices at its stride. */
    public static void check(Tensor c, long strideC, Tensor a, long strideA, Tensor b, long strideB, int batch, int m,
                             int n, int k) {
        if (batch < 0 || m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("stridedBatchedMatmul: negative size (batch " + batch + ", " + m + "x" + n
                    + "x" + k + ")");
        }
        holds("C", c, strideC, batch, (long) m * n);
        holds("A", a, strideA, batch, (long) m * k);
        holds("B", b, strideB, batch, (long) k * n);
    }

    private static void holds(String what, Tensor t, long stride, int batch, long size) {
        if (stride < size) {
            throw new IllegalArgumentException("stridedBatchedMatmul: " + what + " stride " + stride + " is below its "
                    + "matrix size " + size);
        }
        if (batch > 0 && size > 0 && (batch - 1) * stride + size > t.numel()) {
            throw new IllegalArgumentException("stridedBatchedMatmul: " + batch + " matrices of " + size + " at stride "
                    + stride + " do not fit in " + what + " " + t.shape());
        }
    }
}
