package io.github.diffusion4j.bench;

import io.github.diffusion4j.backend.cpu.Parallel;
import io.github.diffusion4j.backend.cuda.CudaBackend;
import io.github.diffusion4j.backend.cuda.CudaOptions;
import io.github.diffusion4j.diffusion.DdimScheduler;
import io.github.diffusion4j.diffusion.Sampler;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.nn.UNet;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.train.ModelDenoiser;
import io.github.diffusion4j.train.RecordedDenoiser;
import io.github.diffusion4j.diffusion.Denoiser;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The measurements behind {@code diffusion4j bench}: a training step (forward, backward, clipping, AdamW, EMA; see
 * {@link BenchTraining}) and DDIM sampling with one model, on random data, after warm-up; every figure is the median
 * of repeats timed with CUDA events on a GPU and {@code System.nanoTime} elsewhere (see {@link BenchTimer}).
 *
 * <p>FLOPs are counted from the layer shapes ({@link Model#macsPerImage()}: convolutions, linear layers and the two
 * attention products; 2 FLOPs per multiply-add; normalisation and elementwise work not counted). A training step is
 * counted as 3 forward passes (the backward pass computes gradients for inputs and weights, each about one forward).
 *
 * <p>The result is a JSON-friendly map (see {@code bench/README.md} for the keys).
 */
public final class Benchmark {
    private final BenchOptions o;
    private final Backend b;
    private final Consumer<String> progress;
    private final BenchTimer timer;
    private boolean unetSplitConcat;

    public Benchmark(BenchOptions options, Backend backend, Consumer<String> progress) {
        this.o = options;
        this.b = backend;
        this.progress = progress;
        this.timer = BenchTimer.forBackend(backend);
    }

    /**
     * {@code bench --unet-split-concat}: a U-Net runs inference on [h, skip] as two parts instead of their
     * concatenation ({@link UNet#splitConcatInInference(boolean)}; off by default, until this A/B measurement says).
     */
    public Benchmark unetSplitConcat(boolean on) {
        this.unetSplitConcat = on;
        return this;
    }

    public Map<String, Object> run() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("tool", "diffusion4j bench");
        String v = Benchmark.class.getPackage().getImplementationVersion();
        root.put("version", v == null ? "dev" : v);
        root.put("date", Instant.now().toString());
        root.put("backend", b.name());
        root.put("device", b.description());
        root.put("java", Runtime.version().toString());
        root.put("timing", timer.method() + "; median of repeats after warm-up");
        root.put("settings", backendSettings());
        TrainSettings ts = TrainSettings.benchmark();
        root.put("train_settings", ts.toMap());

        Model model = Presets.create(o.model(), o.channels(), o.imageSize(), o.classes());
        long macs = model.macsPerImage();
        Map<String, Object> mm = new LinkedHashMap<>();
        mm.put("preset", o.model());
        mm.put("parameters", model.params().count());
        mm.put("image_size", o.imageSize());
        mm.put("channels", o.channels());
        mm.put("classes", o.classes());
        if (model instanceof UNet u) {
            u.splitConcatInInference(unetSplitConcat);
            mm.put("dropout", u.config().dropout());
            mm.put("config", u.config().toMap());
        }
        mm.put("macs_per_image", macs);
        mm.put("forward_gflop_per_image", Stats.round(2.0 * macs / 1e9));
        root.put("model", mm);

        model.params().allocate(b, o.seed());
        try {
            root.put("precision", o.precision().apply(model).cliName());
            if (o.training()) root.put("training", training(model, ts, macs));
            if (o.sampling()) root.put("sampling", sampling(model, ts, macs));
            if (b instanceof CudaBackend cuda) {
                root.put("gpu", CudaDeviceInfo.query(cuda));
                // the algorithm cuDNN was chosen for each convolution shape and direction (to explain slow shapes)
                root.put("conv_plans", cuda.convPlanSummary());
            }
        } finally {
            model.params().close();
        }
        return root;
    }

    private Map<String, Object> backendSettings() {
        Map<String, Object> s = new LinkedHashMap<>();
        if (b instanceof CudaBackend cuda) {
            CudaOptions opt = cuda.options();
            s.put("tf32", opt.tf32Mode());
            s.put("tf32_gemm", opt.tf32Gemm());
            s.put("tf32_conv", opt.tf32Conv());
            s.put("groupnorm_statistics", "one read (shifted sums)");
            s.put("unet_split_concat", unetSplitConcat);
            s.put("cudnn_deterministic", opt.deterministicConv());
            s.put("cudnn_benchmark", opt.autotuneConv());
            s.put("sync_launches", opt.syncEveryLaunch());
            s.put("trace_syncs", opt.traceSyncs());
            s.put("conv_workspace_limit_bytes", opt.convWorkspaceLimit());
            s.put("layout", "NCHW");
            s.put("cuda_graphs", o.cudaGraphs() ? "sampling: the model's forward pass replayed from a CUDA graph" : "off");
            s.put("arithmetic", "float32" + (opt.tf32Conv() || opt.tf32Gemm() ? ", TF32 tensor cores where enabled" : ""));
        } else {
            s.put("threads", Parallel.threads());
            s.put("unet_split_concat", unetSplitConcat);
            s.put("arithmetic", "float32");
        }
        return s;
    }

    // ------------------------------------------------------------------ training

    private Map<String, Object> training(Model model, TrainSettings settings, long macs) {
        int n = o.batchSize();
        Shape shape = Shape.of(n, o.channels(), o.imageSize(), o.imageSize());
        Map<String, Object> r = new LinkedHashMap<>();
        try (Tensor x0 = b.empty(shape); Tensor labels = labels(n, 1);
             BenchTraining step = new BenchTraining(model, settings, o.seed())) {
            // images-like data: N(0, 1) clamped to [-1, 1], fixed on the device (no data loading in the timing)
            b.randn(x0, o.seed() ^ 0x5EEDL, 0);
            b.clamp(x0, x0, -1f, 1f);
            long s = 0;
            progress.accept(String.format(Locale.ROOT, "training: %d warm-up + %d timed steps, batch %d", o.warmup(), o.steps(), n));
            BenchTraining.Result[] last = new BenchTraining.Result[1];
            for (int i = 0; i < o.warmup(); i++) {
                long k = ++s;
                double w = timer.millis(() -> last[0] = step.run(x0, labels, k));
                progress.accept(String.format(Locale.ROOT, "  warm-up step %d: %.3f ms", k, w));
            }
            List<MemoryPoolMXBean> heap = heapPools();
            heap.forEach(MemoryPoolMXBean::resetPeakUsage);
            CudaBackend.MemoryStats before = b instanceof CudaBackend c ? c.memoryStats() : null;
            CudaBackend.Transfers tBefore = b instanceof CudaBackend c ? c.transfers() : null;
            double[] ms = new double[o.steps()];
            double firstLoss = Double.NaN;
            for (int i = 0; i < ms.length; i++) {
                long k = ++s;
                ms[i] = timer.millis(() -> last[0] = step.run(x0, labels, k));
                if (i == 0) firstLoss = last[0].loss();
                progress.accept(String.format(Locale.ROOT, "  step %d: %.3f ms, loss %.5f", k, ms[i], last[0].loss()));
            }
            Stats st = Stats.of(ms);
            r.put("batch_size", n);
            r.put("warmup_steps", o.warmup());
            r.put("timed_steps", o.steps());
            r.put("ms_per_step", st.toMap());
            r.put("images_per_s", Stats.round(n * 1000.0 / st.median()));
            double flop = 3.0 * 2.0 * macs * n;
            r.put("flop_per_step", flop);
            r.put("achieved_tflops", Stats.round(flop / (st.median() / 1000.0) / 1e12));
            r.put("loss_first_timed", firstLoss);
            r.put("loss_last", last[0].loss());
            r.put("grad_norm_last", last[0].gradNorm());
            r.put("step_contents", "zero grads, q_sample (Philox timesteps and noise), forward (training mode), weighted MSE "
                    + "+ gradient, backward, global grad norm (read by the host), clip folded into AdamW, AdamW, EMA");
            r.put("memory", memory(before, tBefore, heap, model, o.steps()));
            if (b instanceof CudaBackend c) {
                // one more step, untimed, to count its launches and host waits without the timer's
                c.synchronize();
                CudaBackend.Launches l0 = c.launches();
                long staged0 = c.stagedOps();
                long w0 = System.nanoTime();
                long k = ++s;
                step.run(x0, labels, k);
                r.put("launches_per_step", launches(c, l0, staged0, w0));
                if (o.profile()) {
                    // the first profiled step runs the profiling code for the first time (JIT, string concatenation
                    // bootstraps): its host time would land in the GPU gaps of a few operations, so it is discarded
                    c.startProfile();
                    step.run(x0, labels, ++s);
                    c.stopProfile();
                    c.startProfile();
                    step.run(x0, labels, ++s);
                    r.put("profile_one_step", profile(c.stopProfile(), "training step"));
                }
            }
        }
        return r;
    }

    // ------------------------------------------------------------------ sampling

    private Map<String, Object> sampling(Model model, TrainSettings settings, long macs) {
        int n = o.sampleBatch();
        Shape shape = Shape.of(n, o.channels(), o.imageSize(), o.imageSize());
        Map<String, Object> r = new LinkedHashMap<>();
        RecordedDenoiser recorded = o.cudaGraphs() && b instanceof CudaBackend ? new RecordedDenoiser(model) : null;
        Denoiser denoiser = recorded != null ? recorded : new ModelDenoiser(model);
        try (DdimScheduler ddim = new DdimScheduler(settings.schedulerConfig()); Tensor labels = labels(n, 2);
             RecordedDenoiser closeLater = recorded) {
            progress.accept(String.format(Locale.ROOT, "sampling: DDIM-%d at batch %d, 1 short warm-up + %d timed runs; "
                    + "%d timed model evaluations", o.sampleSteps(), n, o.sampleRepeats(), o.evalRepeats()));
            // warm-up at the same batch: sizes the arena for it and builds the inference plans
            ddim.setTimesteps(Math.min(2, o.sampleSteps()));
            Sampler warm = new Sampler(ddim, denoiser).seed(o.seed()).labels(labels);
            double w = timer.millis(() -> warm.sample(b, shape).close());
            progress.accept(String.format(Locale.ROOT, "  warm-up (DDIM-%d): %.3f ms", Math.min(2, o.sampleSteps()), w));

            ddim.setTimesteps(o.sampleSteps());
            double[] runs = new double[o.sampleRepeats()];
            for (int i = 0; i < runs.length; i++) {
                Sampler s = new Sampler(ddim, denoiser).seed(o.seed() + i).labels(labels);
                runs[i] = timer.millis(() -> s.sample(b, shape).close());
                progress.accept(String.format(Locale.ROOT, "  DDIM-%d run %d: %.3f ms", o.sampleSteps(), i + 1, runs[i]));
            }
            Stats rs = Stats.of(runs);

            try (Tensor x = b.empty(shape); Tensor t = b.empty(Shape.of(n))) {
                b.randn(x, o.seed(), 1L << 40);
                b.fill(t, settings.timesteps() / 2f);
                timer.millis(() -> denoiser.predict(x, t, labels));
                double[] evals = new double[o.evalRepeats()];
                for (int i = 0; i < evals.length; i++) evals[i] = timer.millis(() -> denoiser.predict(x, t, labels));
                if (b instanceof CudaBackend c) {
                    c.synchronize();
                    CudaBackend.Launches l0 = c.launches();
                long staged0 = c.stagedOps();   // one more evaluation, untimed, to count its launches
                    long w0 = System.nanoTime();
                    denoiser.predict(x, t, labels);
                    r.put("launches_per_model_eval", launches(c, l0, staged0, w0));
                    if (o.profile()) {
                        // direct forward passes (a replayed graph would show as one operation); the first, discarded
                        // pass runs the profiling code once, as for the training step
                        ModelDenoiser direct = new ModelDenoiser(model);
                        c.startProfile();
                        direct.predict(x, t, labels);
                        c.stopProfile();
                        c.startProfile();
                        direct.predict(x, t, labels);
                        r.put("profile_one_model_eval", profile(c.stopProfile(), "model evaluation"));
                    }
                }
                progress.accept(String.format(Locale.ROOT, "  model evaluations: %s ms", java.util.Arrays.toString(evals)));
                Stats es = Stats.of(evals);
                r.put("sampler", "ddim");
                r.put("eta", 0.0);
                r.put("ddim_steps", o.sampleSteps());
                r.put("batch_size", n);
                r.put("timed_runs", o.sampleRepeats());
                r.put("ms_per_run", rs.toMap());
                r.put("images_per_s", Stats.round(n * 1000.0 / rs.median()));
                r.put("ms_per_ddim_step", Stats.round(rs.median() / o.sampleSteps()));
                r.put("ms_per_model_eval", es.toMap());
                double flop = 2.0 * macs * n * o.sampleSteps();
                r.put("achieved_tflops", Stats.round(flop / (rs.median() / 1000.0) / 1e12));
                r.put("model_eval_tflops", Stats.round(2.0 * macs * n / (es.median() / 1000.0) / 1e12));
                r.put("run_contents", "initial Philox noise, then per step: fill timesteps, model forward (inference), "
                        + "fused DDIM step (x0 clipped to [-1, 1]); raw (not EMA) weights");
                if (recorded != null) {
                    Map<String, Object> g = new LinkedHashMap<>();
                    g.put("recordings", recorded.recordings());
                    g.put("replays", recorded.replays());
                    g.put("not_recorded_because", recorded.recordingFailure());
                    r.put("cuda_graphs", g);
                    if (recorded.recordingFailure() != null) {
                        progress.accept("  CUDA graphs: not used (" + recorded.recordingFailure() + ")");
                    }
                }
            }
            if (b instanceof CudaBackend c) r.put("memory_after", cudaMemory(c));
        }
        return r;
    }

    /** Random class ids in [0, classes) (a different stream per use), or null for an unconditional model. */
    private Tensor labels(int n, int stream) {
        if (o.classes() == 0) return null;
        Philox.Stream rng = new Philox.Stream(o.seed() + stream, 0);
        float[] l = new float[n];
        for (int i = 0; i < n; i++) l[i] = rng.nextInt(o.classes());
        return b.fromArray(l, n);
    }

    /**
     * A profile as JSON (every operation: calls, total GPU ms, share of the summed time) and, through the progress
     * output, a table of the operations that take 0.5 % or more.
     */
    private List<Map<String, Object>> profile(List<CudaBackend.OpTime> ops, String what) {
        double total = 0;
        for (CudaBackend.OpTime op : ops) total += op.millis();
        progress.accept(String.format(Locale.ROOT, "profile of one %s (GPU time between events around each operation; "
                + "%.3f ms in all):", what, total));
        progress.accept(String.format(Locale.ROOT, "  %9s %6s %6s  %s", "ms", "%", "calls", "operation"));
        List<Map<String, Object>> out = new ArrayList<>();
        double shown = 0;
        for (CudaBackend.OpTime op : ops) {
            double pct = total > 0 ? 100.0 * op.millis() / total : 0;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("op", op.op());
            m.put("calls", op.calls());
            m.put("ms", Stats.round(op.millis()));
            m.put("percent", Stats.round(pct));
            out.add(m);
            if (pct >= 0.5) {
                shown += pct;
                progress.accept(String.format(Locale.ROOT, "  %9.3f %6.2f %6d  %s", op.millis(), pct, op.calls(), op.op()));
            }
        }
        progress.accept(String.format(Locale.ROOT, "  (%.1f %% of the time in the lines above)", shown));
        return out;
    }

    /**
     * Launches of the step just queued (since {@code l0}, taken on an idle GPU at {@code System.nanoTime() = w0}): our
     * kernels, cuBLAS/cuDNN calls, memsets and device copies, their total and the host's waits for the GPU. Then waits
     * for the step to finish and splits its wall time into the host's waits and the rest, the host's own time issuing
     * the work: when that comes near the wall time, the step is bound by launch overhead rather than by the GPU.
     * {@code staged_ops}: the ops that ran through float32 copies (bf16 tensors without a native kernel; 0 in FP32).
     */
    private static Map<String, Object> launches(CudaBackend c, CudaBackend.Launches l0, long staged0, long w0) {
        CudaBackend.Launches d = c.launches().minus(l0);
        c.synchronize();
        long wallNanos = System.nanoTime() - w0;
        long waitNanos = c.launches().minus(l0).hostWaitNanos();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kernels", d.kernels());
        m.put("library_calls", d.libraryCalls());
        m.put("memory_ops", d.memoryOps());
        m.put("graph_launches", d.graphLaunches());
        m.put("total", d.total());
        m.put("host_syncs", d.hostSyncs());
        m.put("staged_ops", c.stagedOps() - staged0);
        m.put("wall_ms", Stats.round(wallNanos / 1e6));
        m.put("host_wait_ms", Stats.round(waitNanos / 1e6));
        m.put("host_busy_ms", Stats.round((wallNanos - waitNanos) / 1e6));
        return m;
    }

    // ------------------------------------------------------------------ memory

    private Map<String, Object> memory(CudaBackend.MemoryStats before, CudaBackend.Transfers tBefore,
                                       List<MemoryPoolMXBean> heap, Model model, int steps) {
        Map<String, Object> m = new LinkedHashMap<>();
        // values, gradients, AdamW m and v, AdamW decay mask, EMA: six flat buffers of the parameter layout
        m.put("model_state_bytes", 6L * 4L * model.params().flatSize());
        if (b instanceof CudaBackend c) {
            CudaBackend.MemoryStats after = c.memoryStats();
            m.putAll(cudaMemory(c));
            m.put("allocations_during_timed_steps", after.allocations() - before.allocations());
            CudaBackend.Transfers d = c.transfers().minus(tBefore);
            m.put("host_to_device_copies_per_step", Stats.round((double) d.hostToDeviceCount() / steps));
            m.put("device_to_host_copies_per_step", Stats.round((double) d.deviceToHostCount() / steps));
        } else {
            long peak = 0;
            for (MemoryPoolMXBean p : heap) peak += p.getPeakUsage().getUsed();
            m.put("java_heap_peak_bytes", peak);
            m.put("java_heap_max_bytes", Runtime.getRuntime().maxMemory());
            m.put("note", "CPU: peak of the JVM heap pools during the timed steps (summed over pools; includes garbage "
                    + "not yet collected)");
        }
        return m;
    }

    private static Map<String, Object> cudaMemory(CudaBackend c) {
        CudaBackend.MemoryStats s = c.memoryStats();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("owned_bytes", s.ownedBytes());
        m.put("arena_capacity_bytes", s.arenaCapacity());
        m.put("arena_peak_demand_bytes", s.arenaPeak());
        m.put("cudnn_workspace_bytes", s.workspaceBytes());
        m.put("peak_device_bytes", s.ownedBytes() + s.arenaCapacity() + s.workspaceBytes());
        m.put("peak_device_bytes_note", "owned tensors + activation arena + cuDNN workspace (the arena is sized to "
                + "the largest step; the 32 MiB cuBLAS workspace and library/context memory are not included)");
        m.putAll(CudaDeviceInfo.memory());
        return m;
    }

    private static List<MemoryPoolMXBean> heapPools() {
        return ManagementFactory.getMemoryPoolMXBeans().stream().filter(p -> p.getType() == MemoryType.HEAP).toList();
    }
}
