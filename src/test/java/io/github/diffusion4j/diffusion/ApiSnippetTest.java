package io.github.diffusion4j.diffusion;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java example of README.md compiles and runs: the code between the markers below must equal the
 * markdown's java block between its markers (up to common indentation).
 */
class ApiSnippetTest {
    static final Path DOC = Path.of("README.md");
    static final Path SELF = Path.of("src", "test", "java", "io", "github", "diffusion4j", "diffusion", "ApiSnippetTest.java");

    @Test
    void snippetRuns() {
        long seed = 7, step = 0;
        Backend backend0 = CpuBackend.get();
        Tensor images = backend0.zeros(4, 3, 32, 32);
        // BEGIN diffusion-api snippet
        Backend backend = CpuBackend.get();

        // A DDIM scheduler, configured with diffusers' names and semantics
        SchedulerConfig config = SchedulerConfig.builder()
                .betaSchedule(BetaSchedule.SCALED_LINEAR).betaStart(0.00085).betaEnd(0.012)
                .predictionType(PredictionType.EPSILON)
                .timestepSpacing(TimestepSpacing.TRAILING)
                .clipSample(false)
                .build();
        Scheduler scheduler = new DdimScheduler(config);
        scheduler.setTimesteps(25);

        // The model: (x_t, timesteps, labels) -> predicted noise. The U-Net implements Denoiser.
        Denoiser model = (xt, timesteps, labels) -> backend.zeros(xt.shape());

        // Sampling by hand: start from Gaussian noise, one fused step per timestep ...
        NoiseStream rng = new NoiseStream(42);
        Tensor x = backend.zeros(4, 3, 32, 32);
        backend.randn(x, rng.seed(), rng.take(x.numel()));
        Tensor t = backend.zeros(4);
        for (int ts : scheduler.timesteps()) {
            backend.fill(t, ts);
            Tensor eps = model.predict(x, t, null);
            scheduler.step(x, null, eps, ts, x, rng);      // in place: x becomes x at the next timestep
        }

        // ... or with the Sampler (same seed, same noise; also guidance, img2img and inpainting)
        Tensor samples = new Sampler(scheduler, model).seed(42).sample(backend, Shape.of(4, 3, 32, 32));

        // Training: draw t and noise, run the model, get the loss and its gradient w.r.t. the output
        TrainingObjective objective = TrainingObjective.builder(scheduler.schedule()).minSnrWeighting(5).build();
        TrainingObjective.Batch batch = objective.prepare(images, null, seed, step);
        Tensor out = model.predict(batch.xt(), batch.timesteps(), batch.labels());
        TrainingObjective.LossResult loss = objective.loss(batch, out);   // loss.loss(), loss.dOut(), loss.metrics()
        // END diffusion-api snippet

        assertArrayEquals(x.toArray(), samples.toArray(), "the hand-written loop and the Sampler agree");
        assertEquals(25, scheduler.timesteps().length);
        assertEquals(999, scheduler.timesteps()[0]);
        assertTrue(loss.loss() > 0 && Double.isFinite(loss.loss()));
        assertEquals(out.shape(), loss.dOut().shape());
    }

    static List<String> between(List<String> lines, String begin, String end) {
        int a = -1, b = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).contains(begin) && a < 0) a = i;
            else if (lines.get(i).contains(end) && a >= 0) {
                b = i;
                break;
            }
        }
        if (a < 0 || b < 0) throw new AssertionError("markers " + begin + " / " + end + " not found");
        List<String> body = lines.subList(a + 1, b);
        int indent = body.stream().filter(s -> !s.isBlank()).mapToInt(s -> s.length() - s.stripLeading().length())
                .min().orElse(0);
        return body.stream().map(s -> s.isBlank() ? "" : s.substring(indent).stripTrailing()).toList();
    }

    @Test
    void markdownContainsTheSnippetVerbatim() throws IOException {
        List<String> doc = Files.readAllLines(DOC);
        List<String> md = between(doc, "<!-- BEGIN diffusion-api snippet -->", "<!-- END diffusion-api snippet -->");
        // inside the markers: a ```java fence around the code
        assertEquals("```java", md.get(0), "the snippet is a java code block");
        assertEquals("```", md.get(md.size() - 1));
        List<String> code = md.subList(1, md.size() - 1);
        List<String> test = between(Files.readAllLines(SELF), "// BEGIN diffusion-api " + "snippet",
                "// END diffusion-api " + "snippet");
        assertEquals(String.join("\n", test), String.join("\n", code),
                "README.md and ApiSnippetTest must show the same code");
        System.out.println("README.md snippet: " + code.size() + " lines, identical to the tested code; "
                + Arrays.asList(code.get(0).split(" ")).get(0) + " ...");
    }
}
