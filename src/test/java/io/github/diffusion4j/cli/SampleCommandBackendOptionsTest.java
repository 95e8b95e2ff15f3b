package io.github.diffusion4j.cli;

import io.github.diffusion4j.backend.cpu.Parallel;
import io.github.diffusion4j.backend.cuda.CudaBackend;
import io.github.diffusion4j.backend.cuda.CudaOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code sample} takes the backend settings of {@link BackendOptions}: accepted on the CPU, bad values one line. */
class SampleCommandBackendOptionsTest {
    @TempDir static Path shared;
    static Path run;

    @BeforeAll
    static void trainOnce() {
        run = shared.resolve("run");
        CliRun.trainTiny(run, 1).ok();
    }

    private static CliRun.Result sample(Path png, String... extra) {
        String[] base = {"sample", "--run", run.toString(), "--device", "cpu", "--sampler", "ddim", "--steps", "2",
                "--count", "1", "--out", png.toString()};
        return CliRun.run(CliRun.concat(base, extra));
    }

    @Test
    void threadsAndTf32AreAccepted(@TempDir Path tmp) {
        int threads = Parallel.threads();
        try {
            Path png = tmp.resolve("s.png");
            CliRun.Result r = sample(png, "--threads", "1", "--tf32", "off", "--no-cudnn-deterministic", "--sync-launches")
                    .ok();
            assertEquals(1, Parallel.threads(), "--threads 1 set the CPU thread count: " + r.describe());
            assertTrue(r.out().contains("backend: cpu"), r.describe());
            assertTrue(Files.isRegularFile(png), r.describe());
        } finally {
            Parallel.setThreads(threads);
        }
    }

    @Test
    void badValuesAreOneLineErrors(@TempDir Path tmp) {
        int threads = Parallel.threads();
        Path png = tmp.resolve("s.png");
        sample(png, "--tf32", "maybe").oneLineError("--tf32 must be default, on or off, got 'maybe'");
        sample(png, "--threads", "0").oneLineError("--threads must be >= 1, got 0");
        sample(png, "--conv-layout", "chwn").oneLineError("--conv-layout must be nchw or nhwc, got 'chwn'");
        assertEquals(threads, Parallel.threads(), "a refused command leaves the thread count alone");
        assertFalse(Files.exists(png), "no grid from a refused command");
    }

    /** A --count whose images cannot be held is refused before anything is allocated (not an OutOfMemoryError). */
    @Test
    void aCountThatCannotBeHeldIsRefused(@TempDir Path tmp) {
        Path png = tmp.resolve("s.png");
        CliRun.run("sample", "--run", run.toString(), "--count", "2000000000", "--device", "cpu", "--out", png.toString())
                .oneLineError("--count 2000000000 images", "sample fewer at a time");
    }

    /** What the options do to the CUDA backend's settings (checked without a GPU). */
    @Test
    void optionsChangeTheCudaSettings() {
        CudaOptions d = CudaOptions.defaults(0);
        assertEquals(d, parsed().apply(d), "no options: PyTorch's defaults");
        CudaOptions o = parsed("--tf32", "off", "--no-cudnn-deterministic", "--sync-launches").apply(d);
        assertEquals("off", o.tf32Mode());
        assertFalse(o.tf32Gemm() || o.tf32Conv() || o.deterministicConv());
        assertTrue(o.syncEveryLaunch());
        assertEquals("on", parsed("--tf32", "on").apply(d).tf32Mode());
        assertEquals("default", parsed("--tf32", "DEFAULT").apply(d.withTf32("off")).tf32Mode());
        assertTrue(parsed("--conv-layout", "nhwc").apply(d).nhwcConv());
        assertFalse(parsed("--conv-layout", "NCHW").apply(d.withNhwcConv(true)).nhwcConv());
        assertFalse(o.nhwcConv(), "NCHW unless asked");
    }

    private static BackendOptions parsed(String... args) {
        SampleCommand c = new SampleCommand();
        String[] a = new String[args.length + 2];
        a[0] = "--run";
        a[1] = "unused";
        System.arraycopy(args, 0, a, 2, args.length);
        new CommandLine(c).parseArgs(a);
        return c.backendOptions;
    }

    /** NAMES (what train's resume check compares) are the mixin's options, the negatable one by its positive name. */
    @Test
    void namesAreTheOptionsLongestNames() {
        CommandLine cl = new CommandLine(new SampleCommand());
        cl.parseArgs("--run", "unused", "--tf32", "on", "--no-cudnn-deterministic", "--sync-launches", "--conv-layout", "nhwc",
                "--threads", "2");
        java.util.List<String> matched = cl.getParseResult().matchedOptions().stream()
                .map(CommandLine.Model.OptionSpec::longestName).filter(n -> !n.equals("--run")).toList();
        assertEquals(BackendOptions.NAMES, matched);
    }

    @Test
    void helpListsTheBackendOptions() {
        String help = CliRun.run("sample", "--help").ok().out();
        for (String o : new String[] {"--tf32", "--[no-]cudnn-deterministic", "--sync-launches", "--conv-layout", "--threads", "--device",
                "--gpu"}) {
            assertTrue(help.contains(o), o + " in sample --help:\n" + help);
        }
    }
}
