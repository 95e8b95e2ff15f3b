package io.github.diffusion4j.dist;

/**
 * The part of a global batch that one rank computes: samples {@code [offset, offset + count)} of {@code total}.
 * Every random draw of a training step is indexed by the sample's place in the global batch, so the ranks' slices
 * together draw exactly what one process with the whole batch would (data order, flips, timesteps, noise, label
 * dropout, dropout masks).
 */
public record BatchSlice(int offset, int count, int total) {
    public BatchSlice {
        if (total <= 0 || count <= 0 || offset < 0 || offset + count > total) {
            throw new IllegalArgumentException("bad batch slice [" + offset + ", " + (offset + count) + ") of " + total);
        }
    }

    /** The whole batch of {@code total} samples. */
    public static BatchSlice whole(int total) { return new BatchSlice(0, total, total); }

    /** Rank {@code rank}'s equal share of a batch of {@code total} over {@code size} ranks (total divisible by size). */
    public static BatchSlice ofRank(int total, int rank, int size) {
        if (size <= 0 || rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " of " + size);
        if (total % size != 0) {
            throw new IllegalArgumentException("the batch size " + total + " is not divisible by the " + size
                    + " ranks (each rank takes an equal share)");
        }
        int c = total / size;
        return new BatchSlice(rank * c, c, total);
    }

    public boolean isWhole() { return count == total; }
}
