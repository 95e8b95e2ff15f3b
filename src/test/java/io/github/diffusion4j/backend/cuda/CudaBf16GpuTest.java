package io.github.diffusion4j.backend.cuda;

import io.github.diffusion4j.backend.TrainingStepComparison;
import io.github.diffusion4j.backend.TrainingStepComparison.Variant;
import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.nn.Ctx;
import io.github.diffusion4j.nn.Precision;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Philox;
import io.github.diffusion4j.tensor.Rounding;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import io.github.diffusion4j.tensor.UpdateGate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bf16 on the CUDA backend against the CPU backend's bf16 (the reference: bfloat16 storage rounded to nearest even on
 * every store, float32 arithmetic). Storage and conversions must agree to the bit; each op on bf16 tensors, whether a
 * native kernel (a template over the element type) or the float32 path of {@link DTypeStaging}, must give the CPU's
 * bf16 result within a bound derived from bf16 (below); a whole training step and a DDIM loop of the tiny U-Nets in
 * bf16 must track the CPU's bf16 run.
 *
 * <p>The per-op bound: both backends compute in float32 from the same bf16 inputs, so their float32 results differ
 * only by float32 rounding in another order (GEMMs, convolutions, double sums: ~1e-6 relative). Rounding that float32
 * result to bf16 turns such a tiny difference into a full bf16 step only where it straddles a rounding boundary: at
 * most one bf16 ulp, 2^-8 of the element's magnitude, i.e. at most 2^-8 max|ref| in the scaled error used here. Ops
 * in plain float arithmetic written in the CPU's order give the same float32 result, so they must agree bitwise.
 * Skips without CUDA (runs under the CUDA emulation in CI).
 */
@Tag("gpu")
class CudaBf16GpuTest {
    private static final double BF16_ULP = 0x1p-8;
    static CudaBackend gpu;
    static final CpuBackend CPU = CpuBackend.get();

    @BeforeAll static void start() { gpu = StrictGpu.open(); }

    @AfterAll static void stop() { if (gpu != null) gpu.close(); }

    static float[] random(int n, long seed) {
        float[] x = new float[n];
        Philox.fillNormal(x, 0, seed, 0, 0, n);
        return x;
    }

    static Tensor put(Backend b, float[] v, DType d, Shape s) {
        Tensor t = b.zeros(s, d);
        b.copyFromHost(t, v, 0);
        return t;
    }

    @Test void storageHostCopiesFillAndConversionsAreTheCpusBits() {
        float[] x = random(70_001, 3);   // more than one ring slot: the chunked staging path
        x[5] = Float.NaN;
        x[6] = Float.POSITIVE_INFINITY;
        x[7] = 1.0078125f + 0x1p-8f;   // a tie between bf16 neighbours: to even
        Tensor h = put(gpu, x, DType.BF16, Shape.of(x.length));
        assertEquals(DType.BF16, h.dtype());
        assertEquals(2L * x.length, h.storage().bytes());
        float[] back = gpu.toHost(h);
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.floatToIntBits(Rounding.bf16(x[i])), Float.floatToIntBits(back[i]), "element " + i);
        }
        // small copies go through the ring, in both directions
        Tensor small = put(gpu, new float[] {1.00390625f, -3.3f, 65504.7f}, DType.BF16, Shape.of(3));
        float[] s = gpu.toHostLater(small).get();
        assertEquals(Rounding.bf16(1.00390625f), s[0], 0f);
        assertEquals(Rounding.bf16(-3.3f), s[1], 0f);
        assertEquals(Rounding.bf16(65504.7f), s[2], 0f);
        // conversions: f32 -> bf16 rounds as the host does, bf16 -> f32 is exact; a view converts only its elements
        Tensor f = gpu.fromArray(x, x.length);
        Tensor h2 = gpu.zeros(Shape.of(x.length), DType.BF16);
        gpu.copy(h2, f);
        assertArrayBits(back, gpu.toHost(h2), "copy f32 -> bf16");
        Tensor f2 = gpu.zeros(x.length);
        gpu.copy(f2, h2);
        assertArrayBits(back, gpu.toHost(f2), "copy bf16 -> f32");
        gpu.fill(h2.view(100, Shape.of(51)), 1.0078125f + 0x1p-10f);   // rounds down to 1.0078125
        float[] all = gpu.toHost(h2);
        for (int i = 0; i < x.length; i++) {
            float want = i >= 100 && i < 151 ? 1.0078125f : back[i];
            assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(all[i]), "element " + i + " after fill");
        }
        // scratch tensors of bf16 in the step's arena
        gpu.beginStep();
        Tensor sc = gpu.scratch(Shape.of(3, 5), DType.BF16);
        gpu.copyFromHost(sc, x, 0);
        assertArrayBits(java.util.Arrays.copyOf(back, 15), gpu.toHost(sc), "bf16 scratch");
        for (Tensor t : new Tensor[] {h, small, f, h2, f2}) t.close();
    }

    /** One op on both backends: the output tensors' values after {@code op} ran on tensors built by {@code in}. */
    record Case(String name, boolean bitwise, BiFunction<Backend, Integer, Tensor[]> op) {}

    /**
     * The ops of a bf16 U-Net, each with the dtypes a bf16 model gives them (bf16 activations and weight copies, f32
     * biases, norms' statistics and affine parameters, the time embedding and the loss), on random inputs.
     */
    static List<Case> cases() {
        DType h = DType.BF16, f = DType.F32;
        Shape img = Shape.of(2, 8, 6, 6);
        List<Case> c = new ArrayList<>();
        c.add(new Case("axpby", true, (b, s) -> {
            Tensor o = b.zeros(img, h);
            b.axpby(o, 0.7f, put(b, random(img.size(), s), h, img), -1.3f, put(b, random(img.size(), s + 1), h, img));
            return new Tensor[] {o};
        }));
        c.add(new Case("mul, scale, clamp", true, (b, s) -> {
            Tensor x = put(b, random(img.size(), s), h, img), o = b.zeros(img, h);
            b.mul(o, x, put(b, random(img.size(), s + 1), h, img));
            b.scale(o, o, 1.7f);
            Tensor k = b.zeros(img, h);
            b.clamp(k, o, -0.5f, 0.75f);
            return new Tensor[] {o, k};
        }));
        c.add(new Case("silu and its backward", false, (b, s) -> {
            Tensor x = put(b, random(img.size(), s), h, img), y = b.zeros(img, h), dx = b.zeros(img, h);
            b.silu(y, x);
            b.siluBackward(dx, put(b, random(img.size(), s + 1), h, img), x);
            return new Tensor[] {y, dx};
        }));
        c.add(new Case("addBias (f32 bias), biasGrad into f32", false, (b, s) -> {
            Tensor y = b.zeros(img, h), db = put(b, random(8, s + 2), f, Shape.of(8));
            b.addBias(y, put(b, random(img.size(), s), h, img), put(b, random(8, s + 1), f, Shape.of(8)));
            b.biasGrad(db, y);
            return new Tensor[] {y, db};
        }));
        c.add(new Case("addPerSampleChannel (f32 time embedding)", true, (b, s) -> {
            Tensor y = b.zeros(img, h);
            b.addPerSampleChannel(y, put(b, random(img.size(), s), h, img), put(b, random(16, s + 1), f, Shape.of(2, 8)));
            return new Tensor[] {y};
        }));
        c.add(new Case("dropout and its backward", true, (b, s) -> {
            Tensor x = put(b, random(img.size(), s), h, img), y = b.zeros(img, h), dx = b.zeros(img, h);
            b.dropout(y, x, 0.3f, 11L, 5L);
            b.dropoutBackward(dx, put(b, random(img.size(), s + 1), h, img), 0.3f, 11L, 5L);
            return new Tensor[] {y, dx};
        }));
        c.add(new Case("addBiasAdd (bf16 residual, f32 biases), addBiasPerSampleChannel, scaleShift", true, (b, s) -> {
            Tensor x = put(b, random(img.size(), s), h, img), o = put(b, random(img.size(), s + 1), h, img);
            Tensor bias = put(b, random(8, s + 2), f, Shape.of(8)), ob = put(b, random(8, s + 3), f, Shape.of(8));
            Tensor v = put(b, random(16, s + 4), f, Shape.of(2, 8)), y1 = b.zeros(img, h), y2 = b.zeros(img, h);
            Tensor y3 = b.zeros(img, h);
            b.addBiasAdd(y1, x, bias, o, ob);
            b.addBiasPerSampleChannel(y2, x, bias, v);
            b.scaleShift(y3, x, v, put(b, random(16, s + 5), f, Shape.of(2, 8)));
            return new Tensor[] {y1, y2, y3};
        }));
        c.add(new Case("matmul bf16 x bf16 -> bf16 and -> f32 (accumulated)", false, (b, s) -> {
            Tensor a = put(b, random(12 * 40, s), h, Shape.of(12, 40)), w = put(b, random(24 * 40, s + 1), h, Shape.of(24, 40));
            Tensor y = b.zeros(Shape.of(12, 24), h), g = put(b, random(24 * 40, s + 2), f, Shape.of(24, 40));
            b.matmul(y, a, w, false, true, 1f, 0f);
            b.matmul(g, y, a, true, false, 1f, 1f);   // a weight gradient: f32 += bf16^T bf16
            return new Tensor[] {y, g};
        }));
        c.add(new Case("batchedMatmul: f32 scores of bf16 q, k", false, (b, s) -> {
            Tensor q = put(b, random(3 * 16 * 8, s), h, Shape.of(3, 16, 8)), k = put(b, random(3 * 16 * 8, s + 1), h, Shape.of(3, 16, 8));
            Tensor sc = b.zeros(Shape.of(3, 16, 16), f);
            b.batchedMatmul(sc, q, k, false, true, 0.35f, 0f);
            return new Tensor[] {sc};
        }));
        c.add(new Case("conv2d forward (f32 bias), backward data, backward filter into f32", false, (b, s) -> {
            Shape ws = Shape.of(5, 8, 3, 3), ys = Shape.of(2, 5, 6, 6);
            Tensor x = put(b, random(img.size(), s), h, img), w = put(b, random(ws.size(), s + 1), h, ws);
            Tensor y = b.zeros(ys, h), dx = b.zeros(img, h);
            b.conv2d(y, x, w, put(b, random(5, s + 2), f, Shape.of(5)), 1, 1);
            b.conv2dBackwardData(dx, y, w, 1, 1);
            Tensor dw = put(b, random(ws.size(), s + 3), f, ws), dbias = put(b, random(5, s + 4), f, Shape.of(5));
            b.conv2dBackwardFilter(dw, dbias, y, x, 1, 1);
            return new Tensor[] {y, dx, dw, dbias};
        }));
        c.add(new Case("groupNormSilu and its backward (f32 statistics, gamma, beta)", false, (b, s) -> {
            Tensor x = put(b, random(img.size(), s), h, img), y = b.zeros(img, h);
            Tensor mean = b.zeros(Shape.of(8), f), rstd = b.zeros(Shape.of(8), f);
            Tensor gamma = put(b, random(8, s + 1), f, Shape.of(8)), beta = put(b, random(8, s + 2), f, Shape.of(8));
            b.groupNormSilu(y, mean, rstd, x, null, null, gamma, beta, 4, 1e-5f, 0f, 0, 0);
            Tensor dx = b.zeros(img, h), dg = b.zeros(Shape.of(8), f), dbe = b.zeros(Shape.of(8), f);
            b.groupNormSiluBackward(dx, dg, dbe, put(b, random(img.size(), s + 3), h, img), x, null, null, mean, rstd,
                    gamma, beta, 4, 1e-5f, null);
            return new Tensor[] {y, mean, rstd, dx, dg, dbe};
        }));
        c.add(new Case("perSampleChannelSum into f32, scaleShiftBackward (f32 scale and its gradients)", false, (b, s) -> {
            Tensor g = put(b, random(img.size(), s), h, img), in = put(b, random(img.size(), s + 1), h, img);
            Tensor dv = b.zeros(Shape.of(2, 8), f), dIn = b.zeros(img, h);
            Tensor ds = b.zeros(Shape.of(2, 8), f), dsh = b.zeros(Shape.of(2, 8), f);
            b.perSampleChannelSum(dv, g);
            b.scaleShiftBackward(dIn, ds, dsh, g, in, put(b, random(16, s + 2), f, Shape.of(2, 8)));
            return new Tensor[] {dv, dIn, ds, dsh};
        }));
        for (Shape gs : new Shape[] {img, Shape.of(2, 8, 5, 5)}) {   // float4 paths (S % 4 == 0) and scalar ones
            c.add(new Case("groupNorm and its backward, " + gs, false, (b, s) -> {
                Tensor x = put(b, random(gs.size(), s), h, gs), y = b.zeros(gs, h);
                Tensor mean = b.zeros(Shape.of(4), f), rstd = b.zeros(Shape.of(4), f);   // 2 groups of 4 channels
                Tensor gamma = put(b, random(8, s + 1), f, Shape.of(8)), beta = put(b, random(8, s + 2), f, Shape.of(8));
                b.groupNorm(y, mean, rstd, x, gamma, beta, 2, 1e-5f);
                Tensor dx = b.zeros(gs, h), dg = b.zeros(Shape.of(8), f), dbe = b.zeros(Shape.of(8), f);
                b.groupNormBackward(dx, dg, dbe, put(b, random(gs.size(), s + 3), h, gs), x, mean, rstd, gamma, 2);
                return new Tensor[] {y, mean, rstd, dx, dg, dbe};
            }));
            c.add(new Case("groupNormSilu with input offsets and dropout, backward with an addend, " + gs, false, (b, s) -> {
                Tensor x = put(b, random(gs.size(), s), h, gs), y = b.zeros(gs, h);
                Tensor xb = put(b, random(8, s + 4), f, Shape.of(8)), xa = put(b, random(16, s + 5), f, Shape.of(2, 8));
                Tensor mean = b.zeros(Shape.of(8), f), rstd = b.zeros(Shape.of(8), f);
                Tensor gamma = put(b, random(8, s + 1), f, Shape.of(8)), beta = put(b, random(8, s + 2), f, Shape.of(8));
                b.groupNormSilu(y, mean, rstd, x, xb, xa, gamma, beta, 4, 1e-5f, 0.2f, 7L, 3L);
                Tensor dx = b.zeros(gs, h), dg = b.zeros(Shape.of(8), f), dbe = b.zeros(Shape.of(8), f);
                b.groupNormSiluBackward(dx, dg, dbe, put(b, random(gs.size(), s + 3), h, gs), x, xb, xa, mean, rstd,
                        gamma, beta, 4, 1e-5f, put(b, random(gs.size(), s + 6), h, gs));
                return new Tensor[] {y, mean, rstd, dx, dg, dbe};
            }));
        }
        c.add(new Case("softmax of f32 scores into bf16 probabilities, its backward (f32 dy, bf16 y and dx)", false, (b, s) -> {
            Shape ss = Shape.of(48, 20);   // as SelfAttention: scores and their gradient f32, the probabilities bf16
            Tensor sc = put(b, random(ss.size(), s), f, ss), p = b.zeros(ss, h), dx = b.zeros(ss, h);
            b.softmax(p, sc);
            b.softmaxBackward(dx, put(b, random(ss.size(), s + 1), f, ss), p);
            return new Tensor[] {p, dx};
        }));
        for (Shape rs : new Shape[] {img, Shape.of(2, 8, 5, 5)}) {   // grouped copies (S % 4 == 0) and scalar ones
            c.add(new Case("upsample and its backward, concat, split at a channel offset, " + rs, true, (b, s) -> {
                Shape up = Shape.of(2, 8, 2 * rs.dim(2), 2 * rs.dim(3)), cs = Shape.of(2, 16, rs.dim(2), rs.dim(3));
                Tensor x = put(b, random(rs.size(), s), h, rs), u = b.zeros(up, h), dx = b.zeros(rs, h);
                b.upsampleNearest2x(u, x);
                b.upsampleNearest2xBackward(dx, put(b, random(up.size(), s + 1), h, up));
                Tensor cat = b.zeros(cs, h);
                b.concatChannels(cat, x, put(b, random(rs.size(), s + 2), h, rs));
                Shape s4 = Shape.of(2, 4, rs.dim(2), rs.dim(3)), s12 = Shape.of(2, 12, rs.dim(2), rs.dim(3));
                Tensor a = b.zeros(s4, h), rest = b.zeros(s12, h);
                b.splitChannels(new Tensor[] {a, rest}, cat);
                return new Tensor[] {u, dx, cat, a, rest};
            }));
        }
        c.add(new Case("adamw writes the bf16 weight copy", true, (b, s) -> {
            int n = 1000;
            Tensor p = put(b, random(n, s), f, Shape.of(n)), copy = b.zeros(Shape.of(n), h);
            Tensor g = put(b, random(n, s + 1), f, Shape.of(n)), m = b.zeros(n), v = b.zeros(n);
            Tensor gate = b.zeros(UpdateGate.SIZE);
            UpdateGate ug = new UpdateGate(1f, 1, 0.9f, 0.999f, 0, 0.999f, 1, 1);
            b.updateGate(gate, g, ug);
            b.adamw(p, copy, g, m, v, null, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, gate);
            return new Tensor[] {p, copy, m, v};
        }));
        return c;
    }

    @Test void everyOpOfABf16ModelMatchesTheCpusBf16() {
        List<String> report = new ArrayList<>();
        long staged0 = gpu.stagedOps();
        int seed = 40;
        for (Case k : cases()) {
            gpu.beginStep();
            Tensor[] r = k.op().apply(CPU, seed), t = k.op().apply(gpu, seed);
            seed += 10;
            for (int i = 0; i < r.length; i++) {
                assertEquals(r[i].dtype(), t[i].dtype(), k.name() + " output " + i + " dtype");
                float[] a = r[i].toArray(), g = t[i].toArray();
                double max = 0, err = 0;
                for (int j = 0; j < a.length; j++) {
                    max = Math.max(max, Math.abs(a[j]));
                    err = Math.max(err, Math.abs((double) a[j] - g[j]));
                }
                double scaled = err / Math.max(max, Float.MIN_NORMAL);
                report.add(String.format(Locale.ROOT, "%-70s out %d (%s): scaled err %.2e", k.name(), i, r[i].dtype(),
                        scaled));
                double bound = k.bitwise() ? 0 : BF16_ULP * 1.01;
                assertTrue(scaled <= bound, k.name() + " output " + i + ": scaled error " + scaled + " > " + bound);
            }
        }
        report.forEach(System.out::println);
        System.out.println("ops through float32 copies (DTypeStaging): " + (gpu.stagedOps() - staged0));
        // every op of a bf16 model has a native kernel in the dtypes the model gives it
        assertEquals(0, gpu.stagedOps() - staged0, "ops through float32 copies: " + gpu.stagedByOp());
    }

    /**
     * Dtype combinations no kernel takes (a model never makes them, so every op above runs natively) still run, through
     * float32 copies (DTypeStaging), with the CPU's bits: an op of mixed dtypes, and one in place whose output is also
     * an input (one shared copy, written back once).
     */
    @Test void mixedDtypesRunThroughFloat32CopiesWithTheCpusBits() {
        DType h = DType.BF16, f = DType.F32;
        Shape s = Shape.of(3, 7, 5);
        BiFunction<Backend, Integer, Tensor[]> op = (b, seed) -> {
            Tensor o = b.zeros(s, f), x = put(b, random(s.size(), seed), h, s), y = put(b, random(s.size(), seed + 1), f, s);
            b.axpby(o, 0.3f, x, -1.7f, y);   // f32 <- bf16, f32
            b.mul(x, x, y);                   // bf16 <- bf16 (the same tensor), f32
            return new Tensor[] {o, x};
        };
        gpu.beginStep();
        long staged0 = gpu.stagedOps();
        Tensor[] want = op.apply(CPU, 3), got = op.apply(gpu, 3);
        assertEquals(2, gpu.stagedOps() - staged0, "both ops staged: " + gpu.stagedByOp());
        assertTrue(gpu.stagedByOp().containsKey("axpby") && gpu.stagedByOp().containsKey("mul"), gpu.stagedByOp().toString());
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i].dtype(), got[i].dtype());
            assertArrayBits(want[i].toArray(), got[i].toArray(), "output " + i);
        }
    }

    /**
     * A bf16 training step of the tiny U-Nets on the GPU against the CPU's (same seeds, weights and batch), up to and
     * including the AdamW pass that writes the bf16 weight copy. Both round every stored activation to bf16 at the
     * same points (the per-op test above: bitwise or within one bf16 ulp), so they differ only where a float32
     * difference in summation order (1e-7 relative) moves a value across a bf16 rounding boundary, by one bf16 ulp
     * there, which the layers downstream spread further. How far is measured, not derived: the CPU's bf16 step
     * against itself with only its GEMM kernel's summation order changed (vector against scalar, float32 gradients
     * 3.4e-7 apart) gives gradients 2.0e-3 apart. So the bound is relative: the GPU's bf16 gradients must be closer
     * to the CPU's bf16 ones than bf16 is to FP32 on the CPU (measured under the CUDA emulation: 0.57-0.59 of it;
     * a GPU that skipped bf16 rounding somewhere, or rounded where the CPU does not, moves towards 1 or beyond).
     */
    @Test void bf16TrainingStepMatchesTheCpusBf16() {
        for (Variant v : Variant.values()) {
            TrainingStepComparison.Result gap = TrainingStepComparison.compareTraining(CPU, Precision.FP32, CPU,
                    Precision.BF16, v, 1);
            long staged0 = gpu.stagedOps();
            TrainingStepComparison.Result r = TrainingStepComparison.compareTraining(CPU, Precision.BF16, gpu,
                    Precision.BF16, v, 1);
            System.out.printf(Locale.ROOT, "[%s] bf16 training step on cuda: %d ops through float32 copies (all so far: %s)%n",
                    v, gpu.stagedOps() - staged0, gpu.stagedByOp());
            assertEquals(0, gpu.stagedOps() - staged0, v + ": ops of a bf16 training step through float32 copies "
                    + gpu.stagedByOp());
            double mean = meanGradErr(r), bf16Gap = meanGradErr(gap);
            System.out.printf(Locale.ROOT, "[%s] mean gradient rel L2 err: cuda bf16 vs cpu bf16 %.2e, cpu bf16 vs cpu "
                    + "fp32 %.2e (ratio %.2f)%n", v, mean, bf16Gap, mean / bf16Gap);
            assertTrue(r.lossRelErr() < 1e-3, v + " loss rel err " + r.lossRelErr());
            assertTrue(mean < 0.85 * bf16Gap, v + " mean gradient rel L2 err " + mean + " against bf16's own " + bf16Gap);
            assertTrue(r.worstGradRelErr() < gap.worstGradRelErr(), v + " worst gradient rel L2 err "
                    + r.worstGradRelErr() + " (" + r.worstGrad() + ") against bf16's own " + gap.worstGradRelErr());
            assertEquals(0, r.zeroGradTensors(), v + ": every parameter tensor gets a gradient");
            assertTrue(r.paramsDiffering() < r.paramCount() / 40, v + ": " + r.paramsDiffering() + " of "
                    + r.paramCount() + " weights updated differently");
        }
    }

    static double meanGradErr(TrainingStepComparison.Result r) {
        return r.gradRelErr().values().stream().mapToDouble(Double::doubleValue).average().orElse(1);
    }

    /** A DDIM-4 loop in bf16 on both; bf16 against FP32 on the CPU is bounded by 2e-2 (Bf16TrainingStepTest). */
    @Test void bf16SamplingMatchesTheCpusBf16() {
        for (Variant v : Variant.values()) {
            float[] a = TrainingStepComparison.ddimSamples(CPU, Precision.BF16, v, 4, null,
                    m -> (xt, ts, l) -> m.forward(Ctx.inference(CPU), xt, ts, l));
            long staged0 = gpu.stagedOps();
            float[] g = TrainingStepComparison.ddimSamples(gpu, Precision.BF16, v, 4, null,
                    m -> (xt, ts, l) -> m.forward(Ctx.inference(gpu), xt, ts, l));
            assertEquals(0, gpu.stagedOps() - staged0, v + ": ops of bf16 sampling through float32 copies "
                    + gpu.stagedByOp());
            double err = TrainingStepComparison.relL2(a, g);
            System.out.printf(Locale.ROOT, "[%s] DDIM-4 samples, cuda bf16 vs cpu bf16: rel L2 err %.2e%n", v, err);
            assertTrue(err > 0 && err < 1.2e-2, v + " samples rel L2 err " + err);
        }
    }

    /**
     * bf16 sampling through RecordedDenoiser (a CUDA graph of the model's forward pass, replayed every step, including
     * the float32 copies DTypeStaging would make for a dtype combination without a kernel) gives exactly the samples of the direct bf16 forward pass.
     */
    @Test void recordedBf16SamplingIsBitwiseTheDirectOne() {
        int steps = 5;
        for (Variant v : Variant.values()) {
            float[] direct = TrainingStepComparison.ddimSamples(gpu, Precision.BF16, v, steps, null,
                    io.github.diffusion4j.train.ModelDenoiser::new);
            io.github.diffusion4j.train.RecordedDenoiser[] rd = new io.github.diffusion4j.train.RecordedDenoiser[1];
            float[] recorded = TrainingStepComparison.ddimSamples(gpu, Precision.BF16, v, steps, null,
                    m -> rd[0] = new io.github.diffusion4j.train.RecordedDenoiser(m));
            System.out.printf(Locale.ROOT, "[%s] bf16: %d recordings, %d replays%n", v, rd[0].recordings(), rd[0].replays());
            assertEquals(null, rd[0].recordingFailure(), v + ": the bf16 forward pass could not be recorded");
            assertEquals(1, rd[0].recordings(), v.toString());
            assertEquals(steps - 1, rd[0].replays(), v.toString());
            assertArrayBits(direct, recorded, v + ": replayed bf16 sampling");
        }
    }

    static void assertArrayBits(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what + " length");
        for (int i = 0; i < want.length; i++) {
            assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]), what + ": element " + i);
        }
    }
}
