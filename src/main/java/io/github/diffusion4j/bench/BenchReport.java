package io.github.diffusion4j.bench;

import java.util.Locale;
import java.util.Map;

/** The readable table of a {@link Benchmark} result (the JSON form has every figure; this shows the main ones). */
public final class BenchReport {
    private BenchReport() {}

    @SuppressWarnings("unchecked")
    public static String format(Map<String, Object> r) {
        StringBuilder sb = new StringBuilder();
        Map<String, Object> model = (Map<String, Object>) r.get("model");
        line(sb, "device", r.get("backend") + ": " + r.get("device"));
        if (r.get("precision") != null) line(sb, "precision", String.valueOf(r.get("precision")));
        Map<String, Object> gpu = (Map<String, Object>) r.get("gpu");
        if (gpu != null) {
            line(sb, "gpu clocks (max)", gpu.getOrDefault("sm_clock_max_mhz", "?") + " MHz SM, "
                    + gpu.getOrDefault("mem_clock_max_mhz", "?") + " MHz memory");
        }
        line(sb, "settings", String.valueOf(r.get("settings")));
        line(sb, "timing", String.valueOf(r.get("timing")));
        line(sb, "model", String.format(Locale.ROOT, "%s, %,d parameters, %sx%sx%s, %.3f GFLOP forward per image",
                model.get("preset"), ((Number) model.get("parameters")).longValue(), model.get("channels"),
                model.get("image_size"), model.get("image_size"), ((Number) model.get("forward_gflop_per_image")).doubleValue()));
        if (r.get("note") != null) line(sb, "note", String.valueOf(r.get("note")));
        Map<String, Object> t = (Map<String, Object>) r.get("training");
        if (t != null) {
            Map<String, Object> ms = (Map<String, Object>) t.get("ms_per_step");
            sb.append("training (forward + backward + clip + AdamW + EMA)\n");
            line(sb, "  batch", t.get("batch_size") + " (" + t.get("warmup_steps") + " warm-up, " + t.get("timed_steps") + " timed steps)");
            line(sb, "  ms per step", String.format(Locale.ROOT, "%.3f median (min %.3f, max %.3f)", d(ms.get("median")),
                    d(ms.get("min")), d(ms.get("max"))));
            line(sb, "  images/s", String.format(Locale.ROOT, "%.2f", d(t.get("images_per_s"))));
            line(sb, "  achieved TFLOP/s", String.format(Locale.ROOT, "%.4f (3 x forward FLOPs)", d(t.get("achieved_tflops"))));
            line(sb, "  loss", String.format(Locale.ROOT, "%.5f -> %.5f", d(t.get("loss_first_timed")), d(t.get("loss_last"))));
            Map<String, Object> mem = (Map<String, Object>) t.get("memory");
            if (mem.containsKey("peak_device_bytes")) {
                line(sb, "  peak device memory", String.format(Locale.ROOT, "%.1f MiB (ours; driver reports %.1f MiB in use)",
                        mib(mem.get("peak_device_bytes")), mib(mem.getOrDefault("driver_used_bytes", 0))));
                line(sb, "  per step", String.format(Locale.ROOT, "%s device allocations in all timed steps, %s H2D and %s D2H copies per step",
                        mem.get("allocations_during_timed_steps"), mem.get("host_to_device_copies_per_step"),
                        mem.get("device_to_host_copies_per_step")));
                if (t.get("launches_per_step") instanceof Map<?, ?> l) {
                    line(sb, "  launches per step", String.format(Locale.ROOT, "%s (%s kernels, %s cuBLAS/cuDNN calls, %s memsets/copies); "
                            + "%s host waits", l.get("total"), l.get("kernels"), l.get("library_calls"), l.get("memory_ops"),
                            l.get("host_syncs")));
                }
            } else {
                line(sb, "  peak Java heap", String.format(Locale.ROOT, "%.1f MiB (model state %.1f MiB)",
                        mib(mem.get("java_heap_peak_bytes")), mib(mem.get("model_state_bytes"))));
            }
        }
        Map<String, Object> s = (Map<String, Object>) r.get("sampling");
        if (s != null) {
            Map<String, Object> run = (Map<String, Object>) s.get("ms_per_run");
            Map<String, Object> ev = (Map<String, Object>) s.get("ms_per_model_eval");
            sb.append(String.format(Locale.ROOT, "sampling (DDIM-%s, eta 0, batch %s, %s timed runs)%n", s.get("ddim_steps"),
                    s.get("batch_size"), s.get("timed_runs")));
            line(sb, "  ms per run", String.format(Locale.ROOT, "%.3f median (min %.3f, max %.3f)", d(run.get("median")),
                    d(run.get("min")), d(run.get("max"))));
            line(sb, "  images/s", String.format(Locale.ROOT, "%.2f", d(s.get("images_per_s"))));
            line(sb, "  ms per DDIM step", String.format(Locale.ROOT, "%.3f", d(s.get("ms_per_ddim_step"))));
            line(sb, "  ms per model eval", String.format(Locale.ROOT, "%.3f median (min %.3f, max %.3f)", d(ev.get("median")),
                    d(ev.get("min")), d(ev.get("max"))));
            if (s.get("launches_per_model_eval") instanceof Map<?, ?> l) {
                line(sb, "  launches per eval", String.format(Locale.ROOT, "%s (%s kernels, %s cuBLAS/cuDNN calls, %s memsets/copies); "
                        + "%s host waits", l.get("total"), l.get("kernels"), l.get("library_calls"), l.get("memory_ops"),
                        l.get("host_syncs")));
            }
            line(sb, "  achieved TFLOP/s", String.format(Locale.ROOT, "%.4f", d(s.get("achieved_tflops"))));
        }
        return sb.toString();
    }

    private static void line(StringBuilder sb, String k, String v) {
        sb.append(String.format(Locale.ROOT, "%-22s %s%n", k, v));
    }

    private static double d(Object o) { return o == null ? Double.NaN : ((Number) o).doubleValue(); }

    private static double mib(Object o) { return d(o) / (1 << 20); }
}
