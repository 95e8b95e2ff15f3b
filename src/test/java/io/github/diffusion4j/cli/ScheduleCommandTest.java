package io.github.diffusion4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code schedule} subcommand: table, JSON, plot, and one-line errors with exit code 2. */
class ScheduleCommandTest {
    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void jsonHasTheClosedFormCosineTables() throws Exception {
        Result r = run("schedule", "--schedule", "cosine", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        for (String k : new String[] {"betas", "alphas_cumprod", "posterior_variance", "snr"}) {
            assertEquals(1000, j.get(k).size(), k);
        }
        double f0 = Math.pow(Math.cos(0.008 / 1.008 * Math.PI / 2), 2);
        double f1 = Math.pow(Math.cos((1 / 1000.0 + 0.008) / 1.008 * Math.PI / 2), 2);
        assertEquals(1 - f1 / f0, j.get("betas").get(0).asDouble(), 1e-9);
        assertEquals(f1 / f0, j.get("alphas_cumprod").get(0).asDouble(), 1e-7);
        assertEquals(0.0, j.get("posterior_variance").get(0).asDouble(), 0.0);
        assertEquals(0.999, j.get("betas").get(999).asDouble(), 1e-7);
        double ab = j.get("alphas_cumprod").get(500).asDouble();
        assertEquals(ab / (1 - ab), j.get("snr").get(500).asDouble(), 1e-5 * ab / (1 - ab));
        assertEquals("squaredcos_cap_v2", j.get("beta_schedule").asText());
    }

    @Test
    void tableAndPlot(@TempDir Path dir) throws Exception {
        Path png = dir.resolve("schedule.png");
        Result r = run("schedule", "--schedule", "linear", "--plot", png.toString());
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().split("\n");
        System.out.println(String.join("\n", java.util.Arrays.copyOf(lines, 5)) + "\n...");
        assertTrue(r.out().contains("alpha_bar") && r.out().contains("posterior_var"), r.out());
        assertTrue(r.out().contains("\n   999  "), "last row is shown");
        assertTrue(r.out().contains("\n   950  "), "every T/20-th row");
        assertTrue(!r.out().contains("\n   951  "));
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(1000, img.getWidth());
        assertEquals(440, img.getHeight());
        Result all = run("schedule", "--schedule", "sigmoid", "--timesteps", "50", "--all");
        assertEquals(0, all.code());
        assertEquals(2 + 50, all.out().split("\n").length, "title, header and 50 rows, no footer");
        assertEquals(0, run("schedule", "--schedule", "scaled-linear", "--beta-start", "0.00085", "--beta-end", "0.012",
                "--zero-snr").code());
    }

    @Test
    void badInputIsOneLineExitTwo(@TempDir Path dir) {
        String[][] bad = {
                {"schedule", "--schedule", "exponential"},
                {"schedule", "--timesteps", "1"},
                {"schedule", "--schedule", "cosine", "--beta-start", "0.001"},
                {"schedule", "--beta-end", "1.5"},
                {"schedule", "--plot", dir.resolve("missing/dir/x.png").toString()},
        };
        for (String[] args : bad) {
            Result r = run(args);
            System.out.print(String.join(" ", args) + " -> exit " + r.code() + ": " + r.err());
            assertEquals(2, r.code());
            assertEquals(1, r.err().strip().split("\n").length, "one line: " + r.err());
            assertTrue(r.err().startsWith("error: "));
        }
    }
}
