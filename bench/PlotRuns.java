// Draws one metric of several runs' metrics.jsonl in one plot (for bench/results figures), with the engine's Plot.
// Usage: java -cp target/diffusion4j.jar bench/PlotRuns.java OUT.png METRIC [--log] [--smooth N] NAME=RUN_DIR ...
// METRIC is a field of the rows (loss, fd, ...); rows without it are skipped; --smooth N draws a trailing mean over
// N rows (the raw logged values are noisy per step).
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.diffusion4j.io.Plot;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

public class PlotRuns {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: PlotRuns OUT.png METRIC [--log] [--smooth N] NAME=RUN_DIR ...");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        String metric = args[1];
        boolean log = false;
        int smooth = 1;
        List<Plot.Series> series = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (int i = 2; i < args.length; i++) {
            if (args[i].equals("--log")) { log = true; continue; }
            if (args[i].equals("--smooth")) { smooth = Integer.parseInt(args[++i]); continue; }
            String[] kv = args[i].split("=", 2);
            List<double[]> rows = new ArrayList<>();
            for (String line : Files.readAllLines(Path.of(kv[1]).resolve("metrics.jsonl"))) {
                if (line.isBlank()) continue;
                JsonNode r = json.readTree(line);
                if (r.has(metric) && r.has("step")) rows.add(new double[] {r.get("step").asDouble(), r.get(metric).asDouble()});
            }
            double[] x = new double[rows.size()], y = new double[rows.size()];
            double sum = 0;
            for (int k = 0; k < rows.size(); k++) {
                sum += rows.get(k)[1];
                if (k >= smooth) sum -= rows.get(k - smooth)[1];
                x[k] = rows.get(k)[0];
                y[k] = sum / Math.min(k + 1, smooth);
            }
            series.add(new Plot.Series(kv[0], x, y));
            System.out.printf("%s: %d rows of %s, last %.5g%n", kv[0], rows.size(), metric, rows.isEmpty() ? Double.NaN : y[y.length - 1]);
        }
        Plot.lines(out, metric + (smooth > 1 ? " (trailing mean of " + smooth + " rows)" : ""), "step", metric, series, log);
    }
}
