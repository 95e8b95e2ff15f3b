package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.TrainingStepComparison;
import io.github.diffusion4j.backend.TrainingStepComparison.Variant;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.nn.Precision;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Rounding;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static io.github.diffusion4j.backend.cuda.CudaBf16GpuTest.put;
import static io.github.diffusion4j.backend.cuda.CudaBf16GpuTest.random;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Convolutions run in NHWC ({@code --conv-layout nhwc}, {@link ConvOps}): the layout-changing kernel against its
 * definition, every convolution pass in F32 and BF16 against the CPU backend (NCHW, the numerical reference), and
 * whole training steps against the CPU. Nothing above the backend knows the layout, so the same layer code must
 * give the CPU's numbers. Tolerances: F32 as CudaOpsGpuTest's strict convolutions (the sums' order differs: 1e-5 of
 * the largest reference value); BF16 one bf16 step, 2^-8 of the largest value, as CudaBf16GpuTest derives. Under the
 * CUDA emulation (CI) the NHWC descriptors are read by the emulated cuDNN's own layout indexing (cudnn_emu_math.c). Skips without CUDA.
 */
@Tag("gpu")
class NhwcConvGpuTest {
    static CudaBackend nhwc;
    static final CpuBackend CPU = CpuBackend.get();

    @BeforeAll static void start() {
        StrictGpu.open().close();   // skips without CUDA, with the reason
        nhwc = CudaBackend.create(CudaOptions.strictFp32(0).withNhwcConv(true));
    }

    @AfterAll static void stop() { if (nhwc != null) nhwc.close(); }

    /** y[n, b, a] = x[n, a, b] exactly, in both dtypes, across partial 32 x 32 tiles and single rows. */
    @Test void transposeInnerIsTheTransposeOfEachSample() {
        int[][] shapes = {{2, 37, 45}, {1, 1, 5}, {3, 64, 64}, {2, 33, 1}};
        for (DType d : new DType[] {DType.F32, DType.BF16}) {
            for (int[] s : shapes) {
                int n = s[0], a = s[1], b = s[2];
                float[] x = random(n * a * b, 11 + a);
                Tensor xt = put(nhwc, x, d, Shape.of(n * a * b)), yt = put(nhwc, random(n * a * b, 3), d, Shape.of(n * a * b));
                nhwc.transposeInner(nhwc.a(yt), nhwc.a(xt), d, n, a, b);
                float[] y = yt.toArray();
                for (int k = 0; k < n; k++) {
                    for (int i = 0; i < a; i++) {
                        for (int j = 0; j < b; j++) {
                            float want = d == DType.BF16 ? Rounding.bf16(x[(k * a + i) * b + j]) : x[(k * a + i) * b + j];
                            assertEquals(want, y[(k * b + j) * a + i], 0f, d + " " + n + "x" + a + "x" + b + " at " + k + "," + i + "," + j);
                        }
                    }
                }
            }
        }
    }

    /** One convolution case: forward with bias, accumulate, backward data and backward filter (accumulating). */
    static Tensor[] passes(Backend b, DType d, DType gradType, int n, int cin, int h, int w, int cout, int k, int stride, int pad) {
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        Shape xs = Shape.of(n, cin, h, w), ws = Shape.of(cout, cin, k, k), ys = Shape.of(n, cout, ho, wo);
        long seed = 100L * cin + k + stride;
        Tensor x = put(b, random(xs.size(), seed), d, xs), wt = put(b, random(ws.size(), seed + 1), d, ws);
        Tensor bias = put(b, random(cout, seed + 2), DType.F32, Shape.of(cout));
        Tensor y = b.zeros(ys, d), acc = put(b, random(ys.size(), seed + 3), d, ys), dx = b.zeros(xs, d);
        b.conv2d(y, x, wt, bias, stride, pad);
        b.conv2dAccumulate(acc, x, wt, stride, pad);
        Tensor dy = put(b, random(ys.size(), seed + 4), d, ys);
        b.conv2dBackwardData(dx, dy, wt, stride, pad);
        Tensor dw = put(b, random(ws.size(), seed + 5), gradType, ws), db = put(b, random(cout, seed + 6), DType.F32, Shape.of(cout));
        b.conv2dBackwardFilter(dw, db, dy, x, stride, pad);
        return new Tensor[] {y, acc, dx, dw, db};
    }

    @Test void everyConvolutionPassMatchesTheCpuInBothDtypes() {
        // n, cin, h, w, cout, k, stride, pad: 3x3 same, 3x3 stride 2 (Downsample), 1x1 (skip), odd sizes throughout
        int[][] cases = {{2, 5, 9, 11, 7, 3, 1, 1}, {2, 6, 10, 10, 6, 3, 2, 1}, {3, 8, 7, 5, 4, 1, 1, 0}, {1, 3, 16, 16, 33, 3, 1, 1}};
        String[] names = {"y", "y += conv", "dx", "dw", "dbias"};
        for (DType d : new DType[] {DType.F32, DType.BF16}) {
            for (DType g : d == DType.F32 ? new DType[] {DType.F32} : new DType[] {DType.BF16, DType.F32}) {
                for (int[] c : cases) {
                    Tensor[] ref = passes(CPU, d, g, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
                    Tensor[] got = passes(nhwc, d, g, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
                    for (int i = 0; i < ref.length; i++) {
                        float[] r = ref[i].toArray(), t = got[i].toArray();
                        double max = 0, err = 0;
                        for (int j = 0; j < r.length; j++) {
                            max = Math.max(max, Math.abs(r[j]));
                            err = Math.max(err, Math.abs(r[j] - t[j]));
                        }
                        double tol = (ref[i].dtype() == DType.BF16 ? 0x1p-8 : 1e-5) * max;
                        assertTrue(err <= tol, String.format(Locale.ROOT, "%s (grad %s) case %s: %s max err %.3g > %.3g",
                                d, g, java.util.Arrays.toString(c), names[i], err, tol));
                    }
                }
            }
        }
    }

    @Test void trainingStepsMatchTheCpu() {
        for (Variant v : Variant.values()) {
            CudaTrainingGpuTest.checkStep(TrainingStepComparison.compareTraining(CPU, nhwc, v, 2), 1e-5, 1e-3, 0.01);
        }
        // bf16: as CudaBf16GpuTest's bar, the GPU's bf16 step nearer the CPU's bf16 step than bf16 is to FP32
        TrainingStepComparison.Result gap = TrainingStepComparison.compareTraining(CPU, Precision.FP32, CPU, Precision.BF16, Variant.TINY, 1);
        TrainingStepComparison.Result r = TrainingStepComparison.compareTraining(CPU, Precision.BF16, nhwc, Precision.BF16, Variant.TINY, 1);
        assertTrue(r.lossRelErr() < 1e-3, "bf16 loss rel err " + r.lossRelErr());
        assertTrue(CudaBf16GpuTest.meanGradErr(r) < 0.85 * CudaBf16GpuTest.meanGradErr(gap),
                "bf16 mean gradient rel L2 err " + CudaBf16GpuTest.meanGradErr(r) + " against bf16's own " + CudaBf16GpuTest.meanGradErr(gap));
    }

    /** Sampling through CUDA graphs in NHWC: the recording replays the staging transposes, bitwise as the direct run. */
    @Test void recordedSamplingIsBitwiseTheDirectOne() {
        int steps = 4;
        float[] direct = TrainingStepComparison.ddimSamples(nhwc, Variant.TINY, steps, null, io.github.diffusion4j.train.ModelDenoiser::new);
        io.github.diffusion4j.train.RecordedDenoiser[] rd = new io.github.diffusion4j.train.RecordedDenoiser[1];
        float[] recorded = TrainingStepComparison.ddimSamples(nhwc, Variant.TINY, steps, null,
                m -> rd[0] = new io.github.diffusion4j.train.RecordedDenoiser(m));
        assertEquals(null, rd[0].recordingFailure());
        assertEquals(steps - 1, rd[0].replays());
        org.junit.jupiter.api.Assertions.assertArrayEquals(direct, recorded, "replayed NHWC sampling differs from the direct one");
        float[] cpu = TrainingStepComparison.ddimSamples(CPU, Variant.TINY, steps, null, io.github.diffusion4j.train.ModelDenoiser::new);
        assertTrue(StrictGpu.maxRelDiff(cpu, direct) < 1e-4, "NHWC sampling against the CPU: " + StrictGpu.maxRelDiff(cpu, direct));
    }
}
