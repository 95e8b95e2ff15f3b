package io.github.diffusion4j.nn;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.ArrayList;
import java.util.List;

import static io.github.diffusion4j.nn.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parameter counts from the architecture formulas, output shapes of the presets, and invalid configurations. */
class PresetsTest {
    private final Backend b = CpuBackend.get();

    // ------------------------------------------------------------------ counts derived from the architecture

    private static long conv(int in, int out, int k) { return (long) in * out * k * k + out; }

    private static long linear(int in, int out) { return (long) in * out + out; }

    private static long norm(int c) { return 2L * c; }

    private static long resBlock(int in, int out, int emb, boolean scaleShift) {
        return norm(in) + conv(in, out, 3) + linear(emb, scaleShift ? 2 * out : out) + norm(out) + conv(out, out, 3)
                + (in != out ? conv(in, out, 1) : 0);
    }

    private static long attention(int c) { return norm(c) + conv(c, 3 * c, 1) + conv(c, c, 1); }

    private static boolean has(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }

    /** The DDPM U-Net's parameter count, walked level by level from the paper's description. */
    static long unetFormula(int in, int size, int ch, int[] mult, int numRes, int[] attnRes, int classes, boolean ss) {
        int emb = 4 * ch;
        long n = linear(ch, emb) + linear(emb, emb) + (classes > 0 ? (long) (classes + 1) * emb : 0) + conv(in, ch, 3);
        List<Integer> skips = new ArrayList<>(List.of(ch));
        int cur = ch, res = size;
        for (int level = 0; level < mult.length; level++) {
            for (int i = 0; i < numRes; i++) {
                n += resBlock(cur, ch * mult[level], emb, ss) + (has(attnRes, res) ? attention(ch * mult[level]) : 0);
                cur = ch * mult[level];
                skips.add(cur);
            }
            if (level < mult.length - 1) {
                n += conv(cur, cur, 3);
                res /= 2;
                skips.add(cur);
            }
        }
        n += 2 * resBlock(cur, cur, emb, ss) + attention(cur);
        for (int level = mult.length - 1; level >= 0; level--) {
            for (int i = 0; i <= numRes; i++) {
                int skip = skips.remove(skips.size() - 1);
                n += resBlock(cur + skip, ch * mult[level], emb, ss) + (has(attnRes, res) ? attention(ch * mult[level]) : 0);
                cur = ch * mult[level];
            }
            if (level > 0) {
                n += conv(cur, cur, 3);
                res *= 2;
            }
        }
        return n + norm(cur) + conv(cur, in, 3);
    }

    static long unetFormula(UNetConfig c) {
        return unetFormula(c.inChannels(), c.imageSize(), c.baseChannels(), c.channelMult(), c.numResBlocks(),
                c.attnResolutions(), c.numClasses(), c.scaleShift());
    }

    /** SeedUNet: time MLP, conv0, 3 down blocks + 4x4 s2 convs, 2-conv bottleneck, 3 transposed convs + up blocks, 1x1 out. */
    static long seedFormula(int in, int[] c, int t) {
        long n = linear(t, t) + conv(in, c[0], 3);
        for (int i = 0; i < 3; i++) {
            n += conv(c[i], c[i + 1], 3) + norm(c[i + 1]) + linear(t, c[i + 1]) + conv(c[i + 1], c[i + 1], 3)
                    + norm(c[i + 1]) + conv(c[i + 1], c[i + 1], 4);
        }
        n += 2 * (conv(c[3], c[3], 3) + norm(c[3]));
        for (int i = 0; i < 3; i++) {
            int up = c[i + 1];
            n += conv(up, up, 4) + conv(2 * up, c[i], 3) + norm(c[i]) + linear(t, c[i]) + conv(c[i], c[i], 3) + norm(c[i]);
        }
        return n + conv(c[0], in, 1);
    }

    @Test void ddpmCifar10HasTheHoEtAlParameterCount() {
        Model m = Presets.create("ddpm-cifar10", 3, 32, 0);
        // Ho et al. 2020 report 35.7M; 35,746,307 is also the count of the widely used PyTorch port
        assertEquals(35_746_307L, m.params().count());
        assertEquals(35_746_307L, unetFormula(3, 32, 128, new int[] {1, 2, 2, 2}, 2, new int[] {16}, 0, false));
        long rows = 0;
        for (Model.LayerRow r : m.summary()) rows += r.parameters();
        assertEquals(m.params().count(), rows, "summary rows add up to the parameter count");
        assertEquals(Shape.of(1, 3, 32, 32), m.summary().get(m.summary().size() - 1).output());
    }

    @Test void ddpmCifar10ForwardKeepsTheInputShape() {
        // about 12 GFLOP for one image: one forward pass, batch 1 (a few seconds on the CPU)
        Model m = Presets.create("ddpm-cifar10", 3, 32, 0);
        m.params().allocate(b, 1);
        // conv_out is zero-initialised; give it random weights so the output depends on the whole network
        Param out = m.params().get("conv_out.weight");
        b.randn(out.value(), 3, 0);
        b.scale(out.value(), out.value(), 0.05f);
        Tensor x = randn(b, 1, 1f, 1, 3, 32, 32);
        Tensor y = m.forward(Ctx.inference(b), x, b.fromArray(new float[] {500}, 1), null);
        assertEquals(x.shape(), y.shape());
        assertTrue(b.allFinite(y) && b.sumSquares(y) > 0);
        m.params().close();
    }

    @Test void tinyParameterCountByHand() {
        // tiny: ch 16, mult {1, 2}, 1 res block, attention at 8x8, 3 image channels, emb 64
        long timeEmbed = (16 * 64 + 64) + (64 * 64 + 64);                                   // 5248
        long convIn = 3 * 16 * 9 + 16;                                                      // 448
        long res16to16 = 2 * 16 + (16 * 16 * 9 + 16) + (64 * 16 + 16) + 2 * 16 + (16 * 16 * 9 + 16); // 5744
        long downsample16 = 16 * 16 * 9 + 16;                                               // 2320
        long res16to32 = 2 * 16 + (16 * 32 * 9 + 32) + (64 * 32 + 32) + 2 * 32 + (32 * 32 * 9 + 32) + (16 * 32 + 32); // 16608
        long attn32 = 2 * 32 + (32 * 96 + 96) + (32 * 32 + 32);                             // 4288
        long res32to32 = 2 * 32 + (32 * 32 * 9 + 32) + (64 * 32 + 32) + 2 * 32 + (32 * 32 * 9 + 32); // 20704
        long mid = 2 * res32to32 + attn32;
        long up1b0 = 2 * 64 + (64 * 32 * 9 + 32) + (64 * 32 + 32) + 2 * 32 + (32 * 32 * 9 + 32) + (64 * 32 + 32); // 32+32 in
        long up1b1 = 2 * 48 + (48 * 32 * 9 + 32) + (64 * 32 + 32) + 2 * 32 + (32 * 32 * 9 + 32) + (48 * 32 + 32); // 32+16 in
        long upsample32 = 32 * 32 * 9 + 32;
        long up0b0 = 2 * 48 + (48 * 16 * 9 + 16) + (64 * 16 + 16) + 2 * 16 + (16 * 16 * 9 + 16) + (48 * 16 + 16); // 32+16 in
        long up0b1 = 2 * 32 + (32 * 16 * 9 + 16) + (64 * 16 + 16) + 2 * 16 + (16 * 16 * 9 + 16) + (32 * 16 + 16); // 16+16 in
        long out = 2 * 16 + (16 * 3 * 9 + 3);
        long expected = timeEmbed + convIn + res16to16 + downsample16 + res16to32 + attn32 + mid
                + up1b0 + attn32 + up1b1 + attn32 + upsample32 + up0b0 + up0b1 + out;
        assertEquals(177_427L, expected);
        Model m = Presets.create("tiny", 3, 16, 0);
        assertEquals(expected, m.params().count());
        // class conditioning adds (classes + 1) x emb; scale-shift doubles every embedding projection
        assertEquals(expected + 4 * 64, Presets.create("tiny", 3, 16, 3).params().count());
        UNetConfig ss = new UNetConfig(3, 3, 16, 16, new int[] {1, 2}, 1, new int[] {8}, 0f, 4, 2, 0, true);
        assertEquals(unetFormula(ss), new UNet("tiny-ss", ss).params().count());
        assertTrue(unetFormula(ss) > expected);
    }

    @Test void otherPresetsMatchTheFormulas() {
        for (String p : List.of("tiny", "small", "medium", "ddpm-cifar10")) {
            UNetConfig c = Presets.unetConfig(p);
            assertEquals(unetFormula(c), Presets.create(p, 3, c.imageSize(), 0).params().count(), p);
            assertEquals(unetFormula(c.withImage(1, c.imageSize()).withClasses(10)),
                    Presets.create(p, 1, c.imageSize(), 10).params().count(), p + " greyscale, 10 classes");
        }
        assertEquals(seedFormula(3, new int[] {32, 64, 128, 256}, 32), Presets.create("seed", 3, 32, 0).params().count());
        assertEquals(seedFormula(1, new int[] {4, 8, 8, 8}, 8),
                new SeedUNet("seed-tiny", 1, 8, new int[] {4, 8, 8, 8}, 8, 4).params().count());
    }

    @Test void presetsKeepTheInputShape() {
        for (String p : List.of("tiny", "small", "medium", "seed")) {
            int size = Presets.defaultImageSize(p);
            for (int channels : new int[] {3, 1}) {
                if (channels == 1 && !p.equals("tiny")) continue; // one greyscale model is enough
                Model m = Presets.create(p, channels, size, 0);
                m.params().allocate(b, 1);
                Tensor x = randn(b, 2, 1f, 2, channels, size, size);
                Tensor y = m.forward(Ctx.training(b, 1), x, b.fromArray(new float[] {0, 999}, 2), null);
                assertEquals(x.shape(), y.shape(), p);
                assertTrue(b.allFinite(y), p);
                if (m instanceof UNet) {
                    // DDPM initialisation: conv_out is zero, so an untrained U-Net predicts exactly 0
                    assertEquals(0.0, b.sumSquares(y), p);
                } else {
                    assertTrue(b.sumSquares(y) > 0, p);
                }
                m.params().close();
            }
        }
        Model cond = Presets.create("tiny", 3, 16, 10);
        cond.params().allocate(b, 1);
        GradCheck.randomize(cond.params(), 2, 1.0);
        Tensor x = randn(b, 2, 1f, 2, 3, 16, 16);
        Tensor t = b.fromArray(new float[] {3, 3}, 2);
        Tensor y0 = cond.forward(Ctx.inference(b), x, t, b.fromArray(new float[] {0, 10}, 2));
        assertEquals(x.shape(), y0.shape());
        float[] a = b.toHost(y0);
        float[] c = b.toHost(cond.forward(Ctx.inference(b), x, t, b.fromArray(new float[] {4, 10}, 2)));
        // the label changes sample 0 only
        int per = a.length / 2;
        double d0 = 0, d1 = 0;
        for (int i = 0; i < per; i++) {
            d0 += Math.abs(a[i] - c[i]);
            d1 += Math.abs(a[per + i] - c[per + i]);
        }
        assertTrue(d0 > 0 && d1 == 0, "label effect " + d0 + ", " + d1);
    }

    // ------------------------------------------------------------------ invalid configurations

    private static void rejects(Executable e, String... fragments) {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
        String msg = ex.getMessage();
        assertTrue(msg != null && !msg.isBlank(), "no message");
        for (String f : fragments) assertTrue(msg.contains(f), "message '" + msg + "' should mention '" + f + "'");
    }

    @Test void invalidConfigurationsAreRejected() {
        // channels not divisible by the GroupNorm groups
        rejects(() -> new UNetConfig(3, 3, 32, 30, new int[] {1, 2}, 1, new int[] {}, 0f, 8, 1, 0, false), "30", "8 groups");
        rejects(() -> new UNetConfig(3, 3, 32, 32, new int[] {1, 3}, 1, new int[] {}, 0f, 64, 1, 0, false), "divisible");
        rejects(() -> new GroupNorm(new ParamStore().root(), 6, 4, 1e-6f), "6", "4");
        rejects(() -> new SeedUNet("s", 3, 32, new int[] {6, 8, 8, 8}, 8, 4), "6", "4 groups");
        // image size not divisible by 2^(levels - 1)
        rejects(() -> new UNetConfig(3, 3, 20, 32, new int[] {1, 2, 2, 2}, 1, new int[] {}, 0f, 8, 1, 0, false), "20", "8");
        rejects(() -> Presets.create("ddpm-cifar10", 3, 36, 0), "36", "8");
        rejects(() -> Presets.create("tiny", 3, 15, 0), "15", "2");
        rejects(() -> new SeedUNet("s", 3, 20, new int[] {4, 8, 8, 8}, 8, 4), "20", "8");
        // unknown preset
        rejects(() -> Presets.create("huge", 3, 32, 0), "huge", "tiny");
        rejects(() -> Presets.unetConfig("seed"), "seed");
        rejects(() -> Presets.defaultImageSize("nope"), "nope");
        // other invalid settings
        rejects(() -> Presets.create("seed", 3, 32, 10), "seed");
        rejects(() -> new SelfAttention(new ParamStore().root(), 8, 3, 2), "8", "3 heads");
        rejects(() -> new Dropout(1f), "1.0");
        rejects(() -> new UNetConfig(3, 3, 32, 32, new int[] {1}, 0, new int[] {}, 0f, 8, 1, 0, false), "numResBlocks");
        rejects(() -> new UNetConfig(3, 3, 32, 32, new int[] {1}, 1, new int[] {}, 1f, 8, 1, 0, false), "dropout");
    }

    @Test void wrongInputsAreRejected() {
        Model m = Presets.create("tiny", 3, 16, 0);
        m.params().allocate(b, 1);
        Tensor t = b.fromArray(new float[] {1, 2}, 2);
        rejects(() -> m.forward(Ctx.inference(b), randn(b, 1, 1f, 2, 3, 8, 8), t, null), "[N, 3, 16, 16]", "[2, 3, 8, 8]");
        rejects(() -> m.forward(Ctx.inference(b), randn(b, 1, 1f, 2, 1, 16, 16), t, null), "[N, 3, 16, 16]");
        rejects(() -> m.forward(Ctx.inference(b), randn(b, 1, 1f, 2, 3, 16, 16), t, b.fromArray(new float[] {0, 1}, 2)),
                "unconditional");
        Model cond = Presets.create("tiny", 3, 16, 3);
        cond.params().allocate(b, 1);
        Tensor x = randn(b, 1, 1f, 2, 3, 16, 16);
        rejects(() -> cond.forward(Ctx.inference(b), x, t, null), "needs labels");
        rejects(() -> cond.forward(Ctx.inference(b), x, t, b.fromArray(new float[] {0, 4}, 2)), "4");
        Model seed = new SeedUNet("seed-tiny", 1, 8, new int[] {4, 8, 8, 8}, 8, 4);
        seed.params().allocate(b, 1);
        rejects(() -> seed.forward(Ctx.inference(b), randn(b, 1, 1f, 2, 1, 16, 16), t, null), "[N, 1, 8, 8]");
    }
}
