package io.github.diffusion4j.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the command line in-process with captured stdout and stderr (for the end-to-end tests). */
public final class CliRun {
    /** Exit code and what the command printed. */
    public record Result(int code, String out, String err, String[] args) {
        /** Asserts success, showing the output otherwise. */
        public Result ok() {
            assertEquals(0, code, () -> describe());
            return this;
        }

        /**
         * Asserts exit code 2 with exactly one line on stderr, starting with "error: ", containing every one of
         * {@code mentions}, and no stack trace. Returns the line.
         */
        public String oneLineError(String... mentions) {
            assertEquals(2, code, () -> describe());
            String e = err.strip();
            assertFalse(e.isEmpty(), () -> "no message on stderr: " + describe());
            assertFalse(e.contains("\n"), () -> "more than one line on stderr: " + describe());
            assertTrue(e.startsWith("error: "), () -> describe());
            assertFalse(e.contains("Exception") || e.contains("\tat ") || e.contains("internal error"), () -> describe());
            for (String m : mentions) assertTrue(e.contains(m), () -> "stderr does not mention '" + m + "': " + describe());
            return e;
        }

        public String describe() {
            return "diffusion4j " + String.join(" ", args) + "\n--- exit " + code + "\n--- stdout:\n" + out + "\n--- stderr:\n" + err;
        }
    }

    private CliRun() {}

    public static Result run(String... args) {
        var cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString(), args);
    }

    /** {@code train} of the tiny preset on 16x16 shapes, batch 4, on the CPU, into {@code out}, plus {@code extra}. */
    /** {@code a} followed by {@code b}: a base command line with more arguments. */
    public static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    public static Result trainTiny(Path out, long steps, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", "tiny", "--image-size", "16", "--batch-size", "4",
                "--steps", Long.toString(steps), "--sample-count", "0", "--device", "cpu", "--out", out.toString()));
        a.addAll(List.of(extra));
        return run(a.toArray(String[]::new));
    }
}
