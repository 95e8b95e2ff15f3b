package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.diffusion.BetaSchedule;
import io.github.diffusion4j.diffusion.DpmSolverMultistepScheduler;
import io.github.diffusion4j.diffusion.EdmPreconditioning;
import io.github.diffusion4j.diffusion.EdmScheduler;
import io.github.diffusion4j.diffusion.NoiseSchedule;
import io.github.diffusion4j.diffusion.PredictionType;
import io.github.diffusion4j.diffusion.Scheduler;
import io.github.diffusion4j.diffusion.SchedulerConfig;
import io.github.diffusion4j.diffusion.TrainingObjective;
import io.github.diffusion4j.diffusion.VpSigmaParameterization;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * EDM and the new samplers on the GPU against the CPU with the same seeds and a fixed linear "model": the EDM
 * objective's preconditioned input and target; EDM's Heun and Euler with churn (fused steps drawing the churn
 * noise, the derivative buffer, the input scaling); Heun on a VP model in sigma space; DPM-Solver++ on Karras
 * sigmas and its SDE variant.
 */
@Tag("gpu")
class EdmGpuTest {
    static CudaBackend gpu;

    @BeforeAll static void start() { gpu = StrictGpu.open(); }

    @AfterAll static void stop() { if (gpu != null) gpu.close(); }

    float[][] prepare(Backend b, float[] x0) {
        NoiseSchedule s = NoiseSchedule.of(SchedulerConfig.builder().build());
        try (TrainingObjective o = TrainingObjective.builder(s).edm(EdmPreconditioning.of(0.5), -1.2, 1.2).build();
             Tensor x = b.fromArray(x0, Shape.of(4, 3, 8, 8))) {
            TrainingObjective.Batch batch = o.prepare(x, null, 7, 2);
            return new float[][] {batch.xt().toArray(), batch.target().toArray(), batch.timesteps().toArray()};
        } finally {
            s.close();
        }
    }

    @Test
    void objectiveMatchesTheCpu() {
        float[] x0 = new float[4 * 3 * 8 * 8];
        Philox.fillUniform(x0, 0, 3, 0, 0, x0.length);
        float[][] c = prepare(CpuBackend.get(), x0), g = prepare(gpu, x0);
        for (int k = 0; k < 3; k++) assertTrue(StrictGpu.maxRelDiff(c[k], g[k]) < 1e-5, "part " + k + ": " + StrictGpu.maxRelDiff(c[k], g[k]));
    }

    @Test
    void samplingLoopsMatchTheCpu() {
        EdmScheduler.Churn churn = new EdmScheduler.Churn(20, 0.05, 50, 1.003);
        VpSigmaParameterization vp = new VpSigmaParameterization(NoiseSchedule.of(SchedulerConfig.builder().build()),
                PredictionType.V_PREDICTION);
        java.util.Map<String, Supplier<Scheduler>> cases = new java.util.LinkedHashMap<>();
        cases.put("edm heun churn", () -> new EdmScheduler(EdmPreconditioning.of(0.5), true, true, churn, 1000));
        cases.put("edm euler churn", () -> new EdmScheduler(EdmPreconditioning.of(0.5), false, true, churn, 1000));
        cases.put("vp heun", () -> new EdmScheduler(vp, true, false, EdmScheduler.Churn.NONE, 1000));
        cases.put("dpmpp karras", () -> new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults()
                .useKarrasSigmas(true).build()));
        cases.put("dpmpp-sde karras cosine", () -> new DpmSolverMultistepScheduler(DpmSolverMultistepScheduler.defaults()
                .betaSchedule(BetaSchedule.SQUAREDCOS_CAP_V2).predictionType(PredictionType.V_PREDICTION)
                .useKarrasSigmas(true).sde(true).build()));
        for (var e : cases.entrySet()) {
            float[] c = StrictGpu.linearSamples(CpuBackend.get(), e.getValue().get(), 6);
            float[] g = StrictGpu.linearSamples(gpu, e.getValue().get(), 6);
            assertTrue(StrictGpu.maxRelDiff(c, g) < 2e-5, e.getKey() + ": " + StrictGpu.maxRelDiff(c, g));
        }
    }
}
