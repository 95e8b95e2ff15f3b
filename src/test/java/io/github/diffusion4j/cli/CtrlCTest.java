package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.train.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Ctrl-C: a training process that gets SIGINT finishes its step, writes a loadable checkpoint, says how to
 * continue, and {@code train --resume} carries on from that step.
 */
@EnabledOnOs(OS.LINUX)
class CtrlCTest {

    /** Collects a child's output line by line; counts down when a line starts with {@code prefix}. */
    static final class Drain extends Thread {
        final StringBuffer text = new StringBuffer();
        final CountDownLatch seen = new CountDownLatch(1);
        private final InputStream in;
        private final String prefix;

        Drain(InputStream in, String prefix) {
            this.in = in;
            this.prefix = prefix;
            setDaemon(true);
        }

        @Override public void run() {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    text.append(line).append('\n');
                    if (prefix != null && line.startsWith(prefix)) seen.countDown();
                }
            } catch (IOException ignored) {
                // the child is gone
            }
        }
    }

    /** Whether {@code pid} ignores SIGINT (inherited from a non-interactive shell's background job). */
    static boolean ignoresSigint(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("SigIgn:")) return (Long.parseUnsignedLong(line.substring(7).trim(), 16) & 2L) != 0;
        }
        return false;
    }

    @Test
    void sigintWritesACheckpointThatResumes(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-Xmx1g", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "train", "--model", "tiny", "--image-size", "16", "--batch-size", "4",
                "--steps", "100000", "--sample-count", "0", "--checkpoint-every", "0", "--device", "cpu",
                "--out", run.toString()));
        Process p = new ProcessBuilder(cmd).start();
        Drain out = new Drain(p.getInputStream(), "step 1/"), err = new Drain(p.getErrorStream(), null);
        out.start();
        err.start();
        try {
            if (!out.seen.await(90, TimeUnit.SECONDS)) fail("no first step within 90 s\nstdout:\n" + out.text + "\nstderr:\n" + err.text);
            Thread.sleep(2000);
            assertTrue(p.isAlive(), () -> "training ended early\nstdout:\n" + out.text + "\nstderr:\n" + err.text);
            // A JVM keeps SIGINT ignored when it starts that way (background job of a non-interactive shell); SIGTERM
            // then takes the same path (the shutdown hook), so the test still checks what Ctrl-C does.
            String signal = ignoresSigint(p.pid()) ? "-TERM" : "-INT";
            if (signal.equals("-TERM")) System.out.println("CtrlCTest: SIGINT is ignored in this environment; sending SIGTERM");
            assertEquals(0, new ProcessBuilder("kill", signal, Long.toString(p.pid())).inheritIO().start().waitFor());
            if (!p.waitFor(60, TimeUnit.SECONDS)) fail("still running 60 s after " + signal + "\nstdout:\n" + out.text);
        } finally {
            if (p.isAlive()) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        out.join(5000);
        err.join(5000);
        String stdout = out.text.toString(), stderr = err.text.toString().replaceAll("(?m)^WARNING: Using incubator modules.*\n", "");
        String both = "exit " + p.exitValue() + "\nstdout:\n" + stdout + "\nstderr:\n" + stderr;
        System.out.println(stdout);
        assertFalse(stderr.contains("error") || stderr.contains("Exception"), () -> "no error on the way out\n" + both);
        Matcher m = Pattern.compile("interrupted at step (\\d+); continue with: train --resume --out (.+)").matcher(stdout);
        assertTrue(m.find(), () -> "says where it stopped and how to continue\n" + both);
        long step = Long.parseLong(m.group(1));
        assertEquals(run.toString(), m.group(2).strip());
        assertTrue(step >= 1, both);

        // the checkpoint: latest points at it, it loads, and it is the step the message names
        Path dir = Checkpoint.resolve(run);
        assertEquals(Checkpoint.folderName(step), dir.getFileName().toString());
        Checkpoint.Info info = Checkpoint.readInfo(dir);
        assertEquals(step, info.step());
        assertEquals(step, info.adamStep());
        assertEquals(step * 4, info.position().index(), "data position after " + step + " batches of 4");
        Model model = Checkpoint.buildModel(info);
        model.params().allocate(CpuBackend.get(), 0);
        try {
            for (boolean ema : new boolean[] {false, true}) {
                Checkpoint.loadWeights(info, model, ema);
                for (float v : model.params().values().toArray()) assertTrue(Float.isFinite(v));
            }
        } finally {
            model.params().close();
        }
        assertTrue(Files.isRegularFile(run.resolve("loss.png")), "the loss plot is written on the way out");
        assertTrue(Files.readAllLines(run.resolve("metrics.jsonl")).size() >= step / 10, "metrics up to the stop");

        // resume for two more steps
        CliRun.Result r = CliRun.run("train", "--resume", "--out", run.toString(), "--steps", Long.toString(step + 2),
                "--sample-count", "0", "--device", "cpu").ok();
        assertTrue(r.out().contains("resuming at step " + step), r.describe());
        Checkpoint.Info after = Checkpoint.readInfo(Checkpoint.resolve(run));
        assertEquals(step + 2, after.step());
        assertEquals(step + 2, after.adamStep());
        assertEquals((step + 2) * 4, after.position().index());
        assertFalse(r.out().contains("interrupted"), r.describe());
    }
}
