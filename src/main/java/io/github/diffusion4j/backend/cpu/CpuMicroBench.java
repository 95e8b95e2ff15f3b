package io.github.diffusion4j.backend.cpu;

import io.github.diffusion4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Micro-benchmark of the CPU backend's GEMM and convolutions (not a test: it only prints). Runs every
 * available GEMM path (the Vector API one only when started with {@code --add-modules jdk.incubator.vector})
 * and reports GFLOP/s as the best and the median of repeated timed runs after a warm-up.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp target/classes io.github.diffusion4j.backend.cpu.CpuMicroBench [quick]
 * </pre>
 */
public final class CpuMicroBench {
    private static final SplittableRandom RNG = new SplittableRandom(42);
    private static double secondsPerCase = 2;

    private CpuMicroBench() {}

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("quick")) secondsPerCase = 0.5;
        System.out.println("CpuMicroBench: " + CpuBackend.get().description());
        System.out.println("threads " + Parallel.threads() + ", Java " + Runtime.version()
                + ", Vector API module " + (CpuGemm.vectorAvailable() ? "present" : "absent"));
        boolean[] paths = CpuGemm.vectorAvailable() ? new boolean[] {true, false} : new boolean[] {false};
        for (boolean vector : paths) {
            CpuGemm.useVectorApi(vector);
            String path = vector ? "vector" : "scalar";
            System.out.println();
            System.out.println("== GEMM, " + path + " path (GFLOP/s: best / median) ==");
            gemm(path, "square", false, false, 256, 256, 256, 1);
            gemm(path, "square", false, false, 512, 512, 512, 1);
            gemm(path, "square", false, false, 1024, 1024, 1024, 1);
            gemm(path, "square A^T", true, false, 1024, 1024, 1024, 1);
            gemm(path, "square B^T", false, true, 1024, 1024, 1024, 1);
            gemm(path, "conv3x3 fwd C=128 8x32x32", false, false, 128, 8192, 1152, 1);
            gemm(path, "conv3x3 bwd-data C=128", true, false, 1152, 8192, 128, 1);
            gemm(path, "conv3x3 bwd-filter C=128", false, true, 128, 1152, 8192, 1);
            gemm(path, "linear 128x512x128", false, false, 128, 512, 128, 1);
            gemm(path, "time-MLP m=8 512x128", false, false, 8, 512, 128, 1);
            gemm(path, "attention QK^T 64x64x32 x256", false, true, 64, 64, 32, 256);
            gemm(path, "attention PV 256x32x256 x64", false, false, 256, 32, 256, 64);
            System.out.println();
            System.out.println("== conv2d, " + path + " path (GFLOP/s: best / median) ==");
            conv(path, 32, 128, 128, 32, 32, 3, 1, 1);
            conv(path, 32, 64, 64, 32, 32, 3, 1, 1);
            conv(path, 32, 256, 256, 8, 8, 3, 1, 1);
            conv(path, 32, 128, 256, 16, 16, 1, 1, 0);
            conv(path, 32, 128, 128, 32, 32, 3, 2, 1);
            conv(path, 32, 128, 128, 32, 32, 4, 2, 1);
            conv(path, 64, 32, 32, 32, 32, 3, 1, 1);
        }
    }

    private static void gemm(String path, String label, boolean ta, boolean tb, int m, int n, int k, int batch) {
        float[] a = random(batch * m * k), b = random(batch * k * n), c = new float[batch * m * n];
        int lda = ta ? m : k, ldb = tb ? k : n;
        double flops = 2.0 * m * n * k * batch;
        CpuBackend be = CpuBackend.get();
        Runnable op;
        if (batch == 1) {
            op = () -> CpuGemm.sgemm(ta, tb, m, n, k, 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, n);
        } else {
            Tensor ta3 = be.fromArray(a, batch, ta ? k : m, ta ? m : k);
            Tensor tb3 = be.fromArray(b, batch, tb ? n : k, tb ? k : n);
            Tensor tc3 = be.zeros(batch, m, n);
            op = () -> be.batchedMatmul(tc3, ta3, tb3, ta, tb, 1f, 0f);
        }
        report(path, String.format(Locale.ROOT, "%-32s m=%d n=%d k=%d%s", label, m, n, k,
                batch > 1 ? " batch=" + batch : ""), flops, op);
    }

    private static void conv(String path, int n, int cin, int cout, int h, int w, int kk, int stride, int pad) {
        CpuBackend be = CpuBackend.get();
        int ho = (h + 2 * pad - kk) / stride + 1, wo = (w + 2 * pad - kk) / stride + 1;
        Tensor x = be.fromArray(random(n * cin * h * w), n, cin, h, w);
        Tensor wt = be.fromArray(random(cout * cin * kk * kk), cout, cin, kk, kk);
        Tensor bias = be.fromArray(random(cout), cout);
        Tensor y = be.zeros(n, cout, ho, wo), dy = be.fromArray(random(n * cout * ho * wo), n, cout, ho, wo);
        Tensor dx = be.zeros(n, cin, h, w), dw = be.zeros(cout, cin, kk, kk), db = be.zeros(cout);
        double flops = 2.0 * n * cout * ho * wo * cin * kk * kk;
        String shape = String.format(Locale.ROOT, "N=%d Cin=%d Cout=%d %dx%d k=%d s=%d p=%d", n, cin, cout, h, w, kk, stride, pad);
        double f = report(path, String.format(Locale.ROOT, "%-10s %s", "forward", shape), flops,
                () -> be.conv2d(y, x, wt, bias, stride, pad));
        double d = report(path, String.format(Locale.ROOT, "%-10s %s", "bwd-data", shape), flops,
                () -> be.conv2dBackwardData(dx, dy, wt, stride, pad));
        double g = report(path, String.format(Locale.ROOT, "%-10s %s", "bwd-filter", shape), flops,
                () -> be.conv2dBackwardFilter(dw, db, dy, x, stride, pad));
        System.out.printf(Locale.ROOT, "  %s %-10s %-58s %7.1f GFLOP/s (from the best times)%n", path, "fwd+bwd",
                shape, 3 / (1 / f + 1 / d + 1 / g));
    }

    /**
     * Times op at least five times, for about {@code secondsPerCase}, after a warm-up of at least three runs
     * (so the JIT has compiled the kernels), and prints best / median GFLOP/s; returns the best.
     */
    private static double report(String path, String label, double flops, Runnable op) {
        long warmEnd = System.nanoTime() + (long) (0.5 * secondsPerCase * 1e9);
        for (int i = 0; i < 3 || System.nanoTime() < warmEnd; i++) op.run();
        double[] times = new double[1000];
        int runs = 0;
        long end = System.nanoTime() + (long) (secondsPerCase * 1e9);
        while (runs < times.length && (runs < 5 || System.nanoTime() < end)) {
            long t0 = System.nanoTime();
            op.run();
            times[runs++] = (System.nanoTime() - t0) * 1e-9;
        }
        double[] t = Arrays.copyOf(times, runs);
        Arrays.sort(t);
        double best = flops / t[0] * 1e-9, median = flops / t[runs / 2] * 1e-9;
        System.out.printf(Locale.ROOT, "  %s %-69s %7.1f / %7.1f GFLOP/s  (%d runs, best %.3f ms)%n",
                path, label, best, median, runs, t[0] * 1e3);
        return best;
    }

    private static float[] random(int size) {
        float[] x = new float[size];
        for (int i = 0; i < size; i++) x[i] = (float) (RNG.nextDouble() * 2 - 1);
        return x;
    }
}
