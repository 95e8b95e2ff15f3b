package io.github.diffusion4j.dist;

import io.github.diffusion4j.nn.Param;
import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The data-parallel gradient all-reduce in buckets, as PyTorch's DDP reducer does it: the flat gradient buffer is
 * cut into contiguous buckets of whole parameters, in the reverse of their registration order (roughly the order
 * in which the backward pass produces their gradients: the output layers first), each at most {@code capBytes}
 * (DDP's default: 25 MB) except the first, which is at most {@code firstBytes} (DDP: 1 MB; never above the cap) so that communication
 * starts early in the backward pass. During an {@link #arm armed} backward pass a bucket's all-reduce starts at the
 * first {@link ParamStore#backwardProgress} after every parameter in it has been written and every earlier bucket
 * has started (all ranks start the same buckets in the same order, as MPI and NCCL require); {@link #finish} starts
 * the rest and makes the following work wait for the sums.
 *
 * <p>Only the last micro-batch of an accumulated step is armed (DDP's {@code no_sync} for the others): the sum of
 * the ranks' accumulated gradients is what one all-reduce of the total gives.
 */
public final class GradientBuckets implements ParamStore.GradListener, AutoCloseable {
    /** A contiguous range of the flat gradients: [from, to) in floats, and the parameters in it. */
    public record Bucket(long from, long to, List<Param> params) {
        public long bytes() { return (to - from) * Float.BYTES; }
    }

    public static final long DEFAULT_CAP_BYTES = 25L << 20, DEFAULT_FIRST_BYTES = 1L << 20;

    private final ParamStore store;
    private final AllReduce allReduce;
    private final List<Bucket> buckets;
    private final Map<Param, Integer> bucketOf = new IdentityHashMap<>(), indexOf = new IdentityHashMap<>();
    private final int[] remaining;     // per bucket: its parameters not taken yet in this pass
    private final boolean[] taken;     // per parameter: taken in this pass (a second take counts once)
    private int started;               // buckets [0, started) have been started
    private int earlyCount;
    private boolean armed;
    private final List<Tensor> views = new ArrayList<>();

    public GradientBuckets(ParamStore store, AllReduce allReduce, long capBytes, long firstBytes) {
        if (capBytes < Float.BYTES || firstBytes < Float.BYTES) throw new IllegalArgumentException("bucket sizes must be positive");
        this.store = store;
        this.allReduce = allReduce;
        this.buckets = plan(store.params(), capBytes, firstBytes);
        this.remaining = new int[buckets.size()];
        this.taken = new boolean[store.params().size()];
        for (Param p : store.params()) indexOf.put(p, indexOf.size());
        for (int k = 0; k < buckets.size(); k++) {
            for (Param p : buckets.get(k).params()) bucketOf.put(p, k);
            views.add(store.grads().view(buckets.get(k).from(), Shape.of(Math.toIntExact(buckets.get(k).to() - buckets.get(k).from()))));
        }
    }

    /**
     * Cuts the parameters (in registration order, ascending flat offsets) into buckets, last parameter first; a
     * parameter larger than the cap gets a bucket of its own.
     */
    public static List<Bucket> plan(List<Param> params, long capBytes, long firstBytes) {
        List<Bucket> out = new ArrayList<>();
        List<Param> cur = new ArrayList<>();
        long bytes = 0, cap = Math.min(firstBytes, capBytes);
        for (int i = params.size() - 1; i >= 0; i--) {
            Param p = params.get(i);
            long pb = p.shape().numel() * Float.BYTES;
            if (!cur.isEmpty() && bytes + pb > cap) {
                out.add(bucket(cur));
                cur = new ArrayList<>();
                bytes = 0;
                cap = capBytes;
            }
            cur.add(p);
            bytes += pb;
        }
        if (!cur.isEmpty()) out.add(bucket(cur));
        return out;
    }

    /** The parameters were taken last first: the range runs from the lowest offset to the end of the highest. */
    private static Bucket bucket(List<Param> ps) {
        Param lo = ps.get(ps.size() - 1), hi = ps.get(0);
        return new Bucket(lo.offset(), hi.offset() + hi.shape().numel(), List.copyOf(ps));
    }

    public List<Bucket> buckets() { return buckets; }

    /** The next backward pass is the last of the step: reduce its buckets as they become ready. */
    public void arm() {
        for (int k = 0; k < buckets.size(); k++) remaining[k] = buckets.get(k).params().size();
        java.util.Arrays.fill(taken, false);
        started = 0;
        armed = true;
        store.gradListener(this);
    }

    @Override public void writing(Param p) {
        Integer i = indexOf.get(p);
        if (i == null || taken[i]) return;
        taken[i] = true;
        remaining[bucketOf.get(p)]--;
    }

    @Override public void written() {
        while (armed && started < buckets.size() && remaining[started] == 0) allReduce.start(views.get(started++));
    }

    /** After the armed backward pass: starts the buckets not started yet and waits (as the backend does) for all. */
    public void finish(String what) {
        if (!armed) throw new IllegalStateException("finish() without arm()");
        store.gradListener(null);
        armed = false;
        earlyCount = started;
        while (started < buckets.size()) allReduce.start(views.get(started++));
        allReduce.finish(what);
    }

    /** How many buckets the last armed pass started during the backward pass (before {@link #finish}). */
    public int startedEarly() { return earlyCount; }

    @Override public void close() {
        store.gradListener(null);
        for (Tensor v : views) v.close();
        allReduce.close();
    }
}
