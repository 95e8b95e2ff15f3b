package io.github.diffusion4j.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.diffusion4j.backend.cuda.CudaAvailability;
import io.github.diffusion4j.io.SafeTensors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bench --device cuda}: its figures are there and consistent, the timed training steps allocate no device
 * memory, and {@code bench --dump} on the GPU holds the same batch, output and gradients as on the CPU (the dump
 * is what bench/pytorch/parity.py checks against PyTorch). Tiny model, so it also runs on the CUDA emulator. No
 * assertion on speed. Skips cleanly without a GPU.
 */
@Tag("gpu")
class BenchCudaGpuTest {
    @BeforeAll static void gpu() {
        CudaAvailability a = CudaAvailability.probe();
        Assumptions.assumeTrue(a.available(), a.reason());
    }

    /** A quick bench of the tiny model at {@code batch} (training and sampling), plus {@code extra}. */
    static String[] quick(int batch, String... extra) {
        String[] q = {"bench", "--model", "tiny", "--image-size", "16", "--batch-size", Integer.toString(batch), "--warmup",
                "2", "--steps", "2", "--sample-batch", Integer.toString(batch), "--sample-steps", "2", "--sample-repeats", "1",
                "--eval-repeats", "1"};
        String[] a = java.util.Arrays.copyOf(q, q.length + extra.length);
        System.arraycopy(extra, 0, a, q.length, extra.length);
        return a;
    }

    static String[] with(String... extra) {
        return quick(2, extra);
    }

    @Test void figuresOnTheGpu() throws Exception {
        BenchCommandTest.Result r = BenchCommandTest.run(with("--device", "cuda", "--json"));
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        System.out.println("device: " + j.get("device").asText());
        assertTrue(j.at("/settings/cudnn_benchmark").asBoolean(), "bench times the convolution algorithms by default");
        assertEquals("cuda", j.get("backend").asText());
        JsonNode t = j.get("training");
        double ms = t.at("/ms_per_step/median").asDouble();
        assertTrue(ms > 0 && t.at("/ms_per_step/samples").size() == 2, "ms per step");
        assertEquals(2 * 1000.0 / ms, t.get("images_per_s").asDouble(), 0.01 * t.get("images_per_s").asDouble() + 0.01);
        assertTrue(Double.isFinite(t.get("loss_last").asDouble()));
        JsonNode m = t.get("memory");
        System.out.println("memory: " + m);
        assertEquals(0, m.get("allocations_during_timed_steps").asLong(), "the steady-state step allocates nothing");
        assertTrue(m.get("peak_device_bytes").asLong() >= m.get("model_state_bytes").asLong());
        assertTrue(m.get("device_to_host_copies_per_step").asDouble() <= 3, "only the logged scalars come back");
        JsonNode s = j.get("sampling");
        assertTrue(s.at("/ms_per_run/median").asDouble() > 0 && s.at("/ms_per_model_eval/median").asDouble() > 0);
    }

    /** The CUDA backend's options reach the backend and the settings the JSON reports. */
    @Test void cudaOptionsAreTheRunsSettings() throws Exception {
        BenchCommandTest.Result r = BenchCommandTest.run(quick(2, "--device", "cuda", "--json", "--no-training",
                "--tf32", "off", "--no-cudnn-deterministic", "--no-cudnn-benchmark", "--sync-launches", "--unet-split-concat"));
        assertEquals(0, r.code(), r.err());
        JsonNode s = new ObjectMapper().readTree(r.out()).get("settings");
        System.out.println("settings: " + s);
        assertEquals("off", s.get("tf32").asText());
        assertTrue(!s.get("tf32_gemm").asBoolean() && !s.get("tf32_conv").asBoolean(), s.toString());
        assertTrue(!s.get("cudnn_deterministic").asBoolean() && !s.get("cudnn_benchmark").asBoolean(), s.toString());
        assertTrue(s.get("sync_launches").asBoolean() && !s.get("trace_syncs").asBoolean(), s.toString());
        assertTrue(s.get("unet_split_concat").asBoolean(), s.toString());
        BenchCommandTest.Result d = BenchCommandTest.run(quick(2, "--device", "cuda", "--json", "--no-training"));
        assertEquals(0, d.code(), d.err());
        JsonNode ds = new ObjectMapper().readTree(d.out()).get("settings");
        assertEquals("default", ds.get("tf32").asText());
        assertTrue(ds.get("cudnn_deterministic").asBoolean() && !ds.get("sync_launches").asBoolean(), ds.toString());
    }

    /**
     * With --cuda-graphs every model evaluation after a run's first two is one graph launch beside the input copies,
     * and the untimed evaluation that counts launches is a replay too.
     */
    @Test void cudaGraphsReplayTheModelEvaluation() throws Exception {
        BenchCommandTest.Result r = BenchCommandTest.run(quick(2, "--device", "cuda", "--json", "--no-training",
                "--cuda-graphs"));
        assertEquals(0, r.code(), r.err());
        JsonNode s = new ObjectMapper().readTree(r.out()).get("sampling");
        System.out.println("cuda graphs: " + s.get("cuda_graphs") + "; launches per evaluation " + s.get("launches_per_model_eval"));
        assertTrue(s.at("/cuda_graphs/not_recorded_because").isNull(), s.toString());
        assertTrue(s.at("/cuda_graphs/replays").asLong() >= 4, s.toString());
        JsonNode l = s.get("launches_per_model_eval");
        assertEquals(1, l.get("graph_launches").asLong());
        assertEquals(0, l.get("library_calls").asLong(), "cuBLAS/cuDNN calls outside the graph");
    }

    /**
     * The host's launch work per training step and per model evaluation does not grow with the batch size, and the
     * host waits for the GPU only where it must.
     */
    @Test void launchesDoNotGrowWithTheBatch() throws Exception {
        JsonNode[] runs = new JsonNode[2];
        int[] batches = {2, 5};
        for (int i = 0; i < 2; i++) {
            BenchCommandTest.Result r = BenchCommandTest.run(quick(batches[i], "--device", "cuda", "--json",
                    "--no-cudnn-benchmark", "--no-cuda-graphs"));
            assertEquals(0, r.code(), r.err());
            runs[i] = new ObjectMapper().readTree(r.out());
        }
        for (String path : new String[] {"/training/launches_per_step", "/sampling/launches_per_model_eval"}) {
            JsonNode a = runs[0].at(path), b = runs[1].at(path);
            System.out.println(path + ": batch 2 " + a + ", batch 5 " + b);
            assertTrue(a.get("total").asDouble() > 0, path);
            for (String count : new String[] {"kernels", "library_calls", "memory_ops", "total"}) {
                assertEquals(a.get(count), b.get(count), path + "/" + count + " depends on the batch size");
            }
            // the wall time splits into the host's waits and its own time
            assertEquals(a.get("wall_ms").asDouble(), a.get("host_wait_ms").asDouble() + a.get("host_busy_ms").asDouble(),
                    0.01, path);
            assertTrue(a.get("host_busy_ms").asDouble() > 0, path);
            assertEquals(0, a.get("staged_ops").asInt(), path + ": an fp32 run has no op to convert through float32");
        }
        // the host waits for the GPU only to read the gradient norm (for clipping) and the logged loss in a training
        // step, never inside a model evaluation. The loss is copied behind the backward pass and read after the norm:
        // when that copy has already landed the host does not wait for it (an event query, not a wait), so a real GPU
        // counts 1 or 2 waits per step depending on timing (the H100 counted 1, the emulator 2)
        for (JsonNode run : runs) {
            double waits = run.at("/training/launches_per_step/host_syncs").asDouble();
            assertTrue(waits >= 1.0 && waits <= 2.0, "host waits per training step: " + waits);
            assertEquals(0.0, run.at("/sampling/launches_per_model_eval/host_syncs").asDouble(),
                    "host waits per evaluation");
        }
    }

    @Test void theGpuDumpMatchesTheCpuDump(@TempDir Path dir) throws Exception {
        Path cpu = dir.resolve("cpu"), gpu = dir.resolve("gpu");
        assertEquals(0, BenchCommandTest.run(with("--device", "cpu", "--dump", cpu.toString())).code());
        BenchCommandTest.Result r = BenchCommandTest.run(with("--device", "cuda", "--dump", gpu.toString(),
                "--no-cudnn-benchmark"));
        assertEquals(0, r.code(), r.err());
        // a dump compares FP32 arithmetic: --tf32 defaults to off there
        assertTrue(r.out().contains("FP32 GEMMs, FP32 convolutions"), r.out());
        Map<String, SafeTensors.Entry> a = SafeTensors.read(cpu.resolve("batch.safetensors")).tensors();
        Map<String, SafeTensors.Entry> b = SafeTensors.read(gpu.resolve("batch.safetensors")).tensors();
        assertEquals(a.keySet(), b.keySet());
        double worst = 0;
        String worstName = "";
        for (var e : a.entrySet()) {
            float[] x = e.getValue().data(), y = b.get(e.getKey()).data();
            assertEquals(x.length, y.length, e.getKey());
            double num = 0, den = 0;
            for (int i = 0; i < x.length; i++) {
                num += (x[i] - y[i]) * (double) (x[i] - y[i]);
                den += x[i] * (double) x[i];
            }
            if (e.getKey().startsWith("after.") || e.getKey().startsWith("ema.")) {
                // AdamW's first step moves each weight by about lr * sign(grad): where a gradient is tiny its sign may
                // differ between backends, so a weight may differ by up to 2 lr (lr = 1e-3 in the dump), none by more
                double maxDiff = 0;
                for (int i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
                assertTrue(maxDiff <= 2.05e-3, e.getKey() + ": max difference " + maxDiff);
                continue;
            }
            double rel = Math.sqrt(num / Math.max(den, 1e-30));
            if (rel > worst) {
                worst = rel;
                worstName = e.getKey();
            }
            // the batch (x0, and xt / target from the shared Philox noise) is identical; the output, loss, gradients,
            // parameters and EMA after the step agree within TF32 rounding
            if (java.util.Set.of("x0", "xt", "timesteps", "target", "weights").contains(e.getKey())) {
                assertTrue(rel == 0, e.getKey() + " differs between the backends: rel L2 " + rel);
            }
        }
        System.out.printf("dump GPU vs CPU: worst rel L2 error %.2e (%s) over %d tensors%n", worst, worstName, a.size());
        assertTrue(worst <= 2e-2, worstName + ": rel L2 error " + worst);
    }
}
