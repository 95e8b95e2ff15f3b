package io.github.diffusion4j.tensor;

import java.util.Arrays;

/** An immutable tensor shape (row-major, NCHW for images). */
public final class Shape {
    private final int[] dims;
    private final long numel;

    private Shape(int[] dims) {
        long n = 1;
        for (int d : dims) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(dims));
            n = Math.multiplyExact(n, d);
        }
        this.dims = dims;
        this.numel = n;
    }

    public static Shape of(int... dims) {
        return new Shape(dims.clone());
    }

    public int rank() { return dims.length; }

    /** Dimension i; negative i counts from the end. */
    public int dim(int i) { return dims[i < 0 ? dims.length + i : i]; }

    public int[] dims() { return dims.clone(); }

    public long numel() { return numel; }

    /** numel as an int (CPU storage is a float[]). */
    public int size() {
        if (numel > Integer.MAX_VALUE) throw new IllegalStateException("tensor too large for one array: " + this);
        return (int) numel;
    }

    /** Product of the dimensions from index {@code from} (inclusive) to the end. */
    public int sizeFrom(int from) {
        long n = 1;
        for (int i = from; i < dims.length; i++) n *= dims[i];
        return Math.toIntExact(n);
    }

    /** Product of the dimensions before index {@code to} (exclusive): the rows of a matrix view over the last axes. */
    public int sizeBefore(int to) {
        long n = 1;
        for (int i = 0; i < to; i++) n *= dims[i];
        return Math.toIntExact(n);
    }

    // NCHW accessors (valid for rank-4 shapes; for rank-2 [N,C] H=W=1)
    public int n() { return dims[0]; }
    public int c() { return dims.length > 1 ? dims[1] : 1; }
    public int h() { return dims.length > 2 ? dims[2] : 1; }
    public int w() { return dims.length > 3 ? dims[3] : 1; }

    /** Size of one channel plane: product of the dimensions after the channel axis. */
    public int spatial() { return sizeFrom(2); }

    public Shape withDim(int i, int value) {
        int[] d = dims.clone();
        d[i < 0 ? d.length + i : i] = value;
        return new Shape(d);
    }

    @Override public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    @Override public int hashCode() { return Arrays.hashCode(dims); }

    @Override public String toString() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < dims.length; i++) {
            if (i > 0) sb.append(", ");
            sb.append(dims[i]);
        }
        return sb.append(']').toString();
    }
}
