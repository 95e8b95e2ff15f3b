package io.github.diffusion4j.bench;

import io.github.diffusion4j.dist.ScalingModel;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code bench --scaling}'s report: the profile and the predictions, as JSON-ready maps and as text. */
public final class ScalingReport {
    private ScalingReport() {}

    public static Map<String, Object> of(BucketProfile.Result r, String preset, String precision, String device,
                                         double busGbps, double interNodeGbps, List<Double> whatIfStepMs) {
        ScalingModel.Profile p = r.profile();
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("what", "data-parallel scaling PREDICTED from a profiled single-device step (not measured on several GPUs)");
        j.put("device", device);
        j.put("model", preset);
        j.put("precision", precision + " (gradients all-reduced in FP32)");
        j.put("batch_per_gpu", r.batchSize());
        j.put("timed_steps", r.steps());
        j.put("step_ms", Stats.round(p.stepMs()));
        j.put("backward_end_ms", Stats.round(p.backwardEndMs()));
        j.put("gradient_bytes", p.totalBytes());
        List<Map<String, Object>> buckets = new ArrayList<>();
        for (int k = 0; k < p.readyMs().length; k++) {
            Map<String, Object> b = new LinkedHashMap<>();
            b.put("bytes", p.bucketBytes()[k]);
            b.put("ready_ms", Stats.round(p.readyMs()[k]));
            buckets.add(b);
        }
        j.put("buckets", buckets);
        ScalingModel.Link node = new ScalingModel.Link("one node, NCCL bus bandwidth " + fmt(busGbps) + " GB/s, 15 us per call", busGbps, 15);
        ScalingModel.Link nodes = new ScalingModel.Link("2 nodes, " + fmt(interNodeGbps) + " GB/s, 30 us per call", interNodeGbps, 30);
        List<Map<String, Object>> preds = new ArrayList<>();
        List<Double> lengths = new ArrayList<>();
        lengths.add(null);
        lengths.addAll(whatIfStepMs);
        for (Double target : lengths) {
            ScalingModel.Profile q = target == null ? p : scaled(p, p.stepMs() / target);
            for (int n : new int[] {2, 4, 8, 16}) {
                ScalingModel.Prediction x = ScalingModel.predict(q, n, n <= 8 ? node : nodes);
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("gpus", n);
                m.put("compute", target == null ? "as profiled" : "what-if: a " + fmt(target) + " ms step");
                m.put("link", x.link());
                m.put("all_reduce_ms", Stats.round(x.commMs()));
                m.put("exposed_ms", Stats.round(x.exposedMs()));
                m.put("step_ms", Stats.round(x.stepMs()));
                m.put("efficiency", Stats.round(x.efficiency()));
                m.put("no_overlap_efficiency", Stats.round(q.stepMs() / (q.stepMs() + x.commMs())));
                preds.add(m);
            }
        }
        j.put("predictions", preds);
        return j;
    }

    /** The profile with every time divided by {@code speedup} (the same buckets, faster compute). */
    static ScalingModel.Profile scaled(ScalingModel.Profile p, double speedup) {
        double[] r = p.readyMs().clone();
        for (int i = 0; i < r.length; i++) r[i] /= speedup;
        return new ScalingModel.Profile(p.stepMs() / speedup, p.backwardEndMs() / speedup, r, p.bucketBytes());
    }

    @SuppressWarnings("unchecked")
    public static String format(Map<String, Object> j) {
        StringBuilder s = new StringBuilder();
        s.append(j.get("what")).append('\n');
        s.append(String.format(Locale.ROOT, "profile: %s, %s, %s, batch %s per GPU: step %s ms, backward done at %s ms, "
                + "%.1f MB of gradients in %d buckets%n", j.get("device"), j.get("model"), j.get("precision"),
                j.get("batch_per_gpu"), j.get("step_ms"), j.get("backward_end_ms"),
                ((Number) j.get("gradient_bytes")).longValue() / 1048576.0, ((List<?>) j.get("buckets")).size()));
        for (Map<String, Object> b : (List<Map<String, Object>>) j.get("buckets")) {
            s.append(String.format(Locale.ROOT, "  bucket %6.2f MB ready at %s ms%n", ((Number) b.get("bytes")).longValue() / 1048576.0, b.get("ready_ms")));
        }
        s.append("| GPUs | compute | link | all-reduce ms | exposed ms | step ms | efficiency | without overlap |\n");
        s.append("|---|---|---|---|---|---|---|---|\n");
        for (Map<String, Object> m : (List<Map<String, Object>>) j.get("predictions")) {
            s.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %.1f%% | %.1f%% |%n", m.get("gpus"),
                    m.get("compute"), m.get("link"), m.get("all_reduce_ms"), m.get("exposed_ms"), m.get("step_ms"),
                    100 * ((Number) m.get("efficiency")).doubleValue(), 100 * ((Number) m.get("no_overlap_efficiency")).doubleValue()));
        }
        return s.toString();
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
