package io.github.diffusion4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.diffusion4j.io.Plot;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code <run>/metrics.jsonl}: one JSON object per log interval (step, loss, loss_q0..3, lr, grad_norm, ema_decay,
 * images_per_s, elapsed_s). On resume, rows after the resumed step (written after the checkpoint by a run that
 * was then stopped) are dropped so the file stays one consistent history. Also draws {@code loss.png}.
 */
final class MetricsLog implements AutoCloseable {
    static final String FILE = "metrics.jsonl";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private final List<double[]> losses = new ArrayList<>();   // (step, loss)
    private BufferedWriter out;

    MetricsLog(Path runDir, long resumedStep) throws IOException {
        this.file = runDir.resolve(FILE);
        List<String> keep = new ArrayList<>();
        if (Files.isRegularFile(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isBlank()) continue;
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (IOException e) {
                    continue;   // a line cut short by a crash
                }
                long s = n.path("step").asLong(-1);
                if (s < 0 || s > resumedStep) continue;
                keep.add(line);
                losses.add(new double[] {s, n.path("loss").asDouble(Double.NaN)});
            }
            Files.write(file, keep, StandardCharsets.UTF_8);
        }
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    void append(Map<String, Object> row) {
        try {
            out.write(JSON.writeValueAsString(row));
            out.write('\n');
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
        Object loss = row.get("loss");
        losses.add(new double[] {((Number) row.get("step")).doubleValue(), loss instanceof Number n ? n.doubleValue() : Double.NaN});
    }

    void flush() throws IOException { out.flush(); }

    /** Loss against step (log scale), with a trailing moving average (window n/25 points) to show the trend. */
    void plot(Path png) throws IOException {
        if (losses.isEmpty()) return;
        int n = losses.size();
        int window = Math.max(1, n / 25);
        double[] x = new double[n], y = new double[n], smooth = new double[n];
        double sum = 0;
        int count = 0;
        for (int i = 0; i < n; i++) {
            x[i] = losses.get(i)[0];
            y[i] = losses.get(i)[1];
            if (Double.isFinite(y[i])) {
                sum += y[i];
                count++;
            }
            if (i >= window && Double.isFinite(y[i - window])) {
                sum -= y[i - window];
                count--;
            }
            smooth[i] = count > 0 ? sum / count : Double.NaN;
        }
        Plot.lines(png, "training loss", "step", "loss",
                List.of(new Plot.Series("loss", x, y), new Plot.Series("moving average (" + window + " points)", x, smooth)), true);
    }

    @Override public void close() {
        try {
            out.close();
        } catch (IOException ignored) {
            // nothing more to write
        }
    }
}
