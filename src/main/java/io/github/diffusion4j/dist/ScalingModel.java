package io.github.diffusion4j.dist;

/**
 * Predicts data-parallel step time from a profiled single-GPU step: when each gradient bucket became ready during
 * the backward pass ({@code bench --scaling} measures it with {@link GradientBuckets} and stream events) and the
 * all-reduce bus bandwidth of the interconnect.
 *
 * <p>The model: one all-reduce of S bytes over n ranks takes {@code latency + 2 (n - 1) / n * S / busBW} (ring
 * all-reduce; busBW as nccl-tests define it, so that the formula holds with their published figures). The buckets
 * run one after another on the communication stream in bucket order: bucket k starts when it is ready and the
 * previous one is done. The optimizer update waits for the last one, so the step grows by whatever communication
 * is still running when the backward pass ends (the exposed part); per-GPU work is unchanged (weak scaling: the
 * same images per GPU). Efficiency = single-GPU step / predicted step. Ignored: contention between NCCL's kernels
 * and the compute kernels for SMs and memory bandwidth, stragglers, and the host's per-step MPI scalars.
 */
public final class ScalingModel {
    private ScalingModel() {}

    /**
     * A profiled step: its time, when the backward pass ended, and each bucket's bytes and the time it became ready
     * (all in milliseconds from the start of the step).
     */
    public record Profile(double stepMs, double backwardEndMs, double[] readyMs, long[] bucketBytes) {
        public Profile {
            if (readyMs.length != bucketBytes.length) throw new IllegalArgumentException("one ready time per bucket");
            if (!(stepMs > 0) || backwardEndMs > stepMs) throw new IllegalArgumentException("bad step times");
        }

        public long totalBytes() {
            long t = 0;
            for (long b : bucketBytes) t += b;
            return t;
        }
    }

    /** An interconnect: NCCL all-reduce bus bandwidth (GB/s = 1e9 bytes/s) and per-call latency (µs). */
    public record Link(String name, double busGBps, double latencyUs) {}

    /** The prediction for one world size. */
    public record Prediction(int gpus, String link, double commMs, double exposedMs, double stepMs, double efficiency) {}

    /** One ring all-reduce of {@code bytes} over {@code n} ranks, in ms (0 for one rank: nothing to do). */
    public static double allReduceMs(long bytes, int n, Link link) {
        if (n <= 1) return 0;
        return link.latencyUs() / 1e3 + 2.0 * (n - 1) / n * bytes / (link.busGBps() * 1e9) * 1e3;
    }

    public static Prediction predict(Profile p, int gpus, Link link) {
        double end = 0, comm = 0;
        for (int k = 0; k < p.readyMs().length; k++) {
            double t = allReduceMs(p.bucketBytes()[k], gpus, link);
            comm += t;
            end = Math.max(end, p.readyMs()[k]) + t;
        }
        double exposed = Math.max(0, end - p.backwardEndMs());
        double step = p.stepMs() + exposed;
        return new Prediction(gpus, link.name(), comm, exposed, step, p.stepMs() / step);
    }
}
