package io.github.diffusion4j.nn;

import io.github.diffusion4j.backend.cpu.CpuBackend;
import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static io.github.diffusion4j.nn.GradCheck.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Finite-difference gradient checks for every layer of nn/, on the CPU backend. */
class LayerGradCheckTest {
    /** Layers linear in each input and parameter (convolutions, linear, resampling, dropout). */
    static final double TOL_LINEAR = 2e-3;
    /** Layers with normalisation or non-linearities. */
    static final double TOL_NONLINEAR = 5e-3;

    private final Backend b = CpuBackend.get();

    // ------------------------------------------------------------------ convolutions

    private GradCheck.Result conv(String name, int cin, int cout, int k, int s, int p, boolean bias, int h, int w) {
        ParamStore store = new ParamStore();
        Conv2d conv = new Conv2d(store.root(), cin, cout, k, s, p, bias, Init.DEFAULT);
        GradCheck.allocateRandom(store, b, 7);
        Tensor x = randn(b, 11, 1f, 2, cin, h, w);
        return GradCheck.of(name, b).input("x", x).params(store)
                .forward(() -> conv.forward(x))
                .backward(dy -> new Tensor[] {conv.backward(dy)})
                .tol(TOL_LINEAR)
                .run();
    }

    @Test void conv2d3x3Stride1() { conv("conv2d 3x3 s1 p1", 3, 4, 3, 1, 1, true, 6, 6); }

    @Test void conv2d3x3Stride2() { conv("conv2d 3x3 s2 p1", 3, 4, 3, 2, 1, true, 6, 6); }

    @Test void conv2d1x1() { conv("conv2d 1x1", 5, 3, 1, 1, 0, true, 4, 4); }

    @Test void conv2d4x4Stride2() { conv("conv2d 4x4 s2 p1", 3, 4, 4, 2, 1, true, 6, 6); }

    @Test void conv2dNoBias() { conv("conv2d 3x3 s1 p1 no bias", 3, 4, 3, 1, 1, false, 5, 5); }

    @Test void conv2dNonSquare() {
        conv("conv2d 3x3 s1 p1 5x7", 2, 3, 3, 1, 1, true, 5, 7);
        conv("conv2d 3x3 s2 p1 7x4", 2, 3, 3, 2, 1, true, 7, 4);
    }

    private GradCheck.Result convT(String name, int cin, int cout, int k, int s, int p, boolean bias, int h, int w) {
        ParamStore store = new ParamStore();
        ConvTranspose2d conv = new ConvTranspose2d(store.root(), cin, cout, k, s, p, bias, Init.DEFAULT);
        GradCheck.allocateRandom(store, b, 8);
        Tensor x = randn(b, 12, 1f, 2, cin, h, w);
        Tensor y = conv.forward(x);
        // PyTorch: H_out = (H - 1) stride - 2 pad + kernel
        assertEquals(Shape.of(2, cout, (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k), y.shape());
        return GradCheck.of(name, b).input("x", x).params(store)
                .forward(() -> conv.forward(x))
                .backward(dy -> new Tensor[] {conv.backward(dy)})
                .tol(TOL_LINEAR)
                .run();
    }

    @Test void convTranspose4x4Stride2() {
        GradCheck.Result r = convT("convT 4x4 s2 p1", 3, 4, 4, 2, 1, true, 3, 3);
        assertEquals(4 * 3 * 4 * 4, r.analytic.get("weight").length);
        convT("convT 4x4 s2 p1 3x5 no bias", 2, 3, 4, 2, 1, false, 3, 5);
    }

    @Test void convTranspose3x3Stride1() { convT("convT 3x3 s1 p1", 3, 2, 3, 1, 1, true, 4, 5); }

    // ------------------------------------------------------------------ linear, norms, activations

    @Test void linear() {
        for (boolean bias : new boolean[] {true, false}) {
            ParamStore store = new ParamStore();
            Linear lin = new Linear(store.root(), 5, 4, bias, Init.DEFAULT);
            GradCheck.allocateRandom(store, b, 9);
            Tensor x = randn(b, 13, 1f, 3, 5);
            GradCheck.of("linear 5->4" + (bias ? "" : " no bias"), b).input("x", x).params(store)
                    .forward(() -> lin.forward(x))
                    .backward(dy -> new Tensor[] {lin.backward(dy)})
                    .tol(TOL_LINEAR)
                    .run();
        }
    }

    @Test void groupNorm() {
        for (int groups : new int[] {1, 2, 4, 8}) {
            ParamStore store = new ParamStore();
            GroupNorm gn = new GroupNorm(store.root(), 8, groups, 1e-6f);
            GradCheck.allocateRandom(store, b, 10);
            // a non-zero mean and a non-unit scale, so the normalisation does something
            Tensor x = randn(b, 14 + groups, 1.5f, 2, 8, 3, 3);
            float[] xs = b.toHost(x);
            for (int i = 0; i < xs.length; i++) xs[i] += 0.7f;
            b.copyFromHost(x, xs, 0);
            GradCheck.of("groupnorm C8 G" + groups, b).input("x", x).params(store)
                    .forward(() -> gn.forward(x))
                    .backward(dy -> new Tensor[] {gn.backward(dy)})
                    .tol(TOL_NONLINEAR)
                    .run();
        }
    }

    @Test void silu() {
        SiLU act = new SiLU();
        Tensor x = randn(b, 15, 2.5f, 2, 3, 4, 4);
        GradCheck.of("silu", b).input("x", x)
                .forward(() -> act.forward(x))
                .backward(dy -> new Tensor[] {act.backward(dy)})
                .elements(96, 96)
                .tol(TOL_NONLINEAR)
                .run();
    }

    @Test void dropoutTraining() {
        float p = 0.3f;
        Dropout drop = new Dropout(p);
        Tensor x = randn(b, 16, 1f, 2, 3, 4, 4);
        // the same mask in every evaluation: a fresh Ctx with the same seed for each forward
        GradCheck.Result r = GradCheck.of("dropout p0.3 (training)", b).input("x", x)
                .forward(() -> drop.forward(Ctx.training(b, 99), x))
                .backward(dy -> new Tensor[] {drop.backward(dy)})
                .elements(96, 96)
                .tol(TOL_LINEAR)
                .run();
        // the check is not vacuous: some elements are dropped (zero gradient), the kept ones scaled by 1/(1-p)
        float[] g = r.analytic.get("x");
        float[] y = b.toHost(drop.forward(Ctx.training(b, 99), x));
        float[] xs = b.toHost(x);
        int dropped = 0;
        for (int i = 0; i < xs.length; i++) {
            if (y[i] == 0f) dropped++;
            else assertEquals(xs[i] / (1 - p), y[i], 1e-6f * Math.max(1f, Math.abs(y[i])));
            if (y[i] == 0f) assertEquals(0f, g[i]);
        }
        assertTrue(dropped > 0.15 * xs.length && dropped < 0.45 * xs.length, "dropped " + dropped + " of " + xs.length);
        // inference mode is the identity
        assertArrayEquals(xs, b.toHost(drop.forward(Ctx.inference(b), x)));
    }

    @Test void softmax() {
        Tensor x = randn(b, 17, 2f, 3, 7);
        Tensor[] y = new Tensor[1];
        GradCheck.of("softmax", b).input("x", x)
                .forward(() -> {
                    y[0] = b.zeros(x.shape());
                    b.softmax(y[0], x);
                    return y[0];
                })
                .backward(dy -> {
                    Tensor dx = b.zeros(x.shape());
                    b.softmaxBackward(dx, dy, y[0]);
                    return new Tensor[] {dx};
                })
                .tol(TOL_NONLINEAR)
                .run();
        // in place (dx = dy) gives the same gradient
        b.softmax(y[0], x);
        Tensor dy = randn(b, 18, 1f, 3, 7);
        Tensor dx = b.zeros(x.shape());
        b.softmaxBackward(dx, dy, y[0]);
        b.softmaxBackward(dy, dy, y[0]);
        assertArrayEquals(b.toHost(dx), b.toHost(dy));
    }

    // ------------------------------------------------------------------ attention and embeddings

    private void attention(int heads) {
        ParamStore store = new ParamStore();
        SelfAttention attn = new SelfAttention(store.root(), 8, heads, 2);
        GradCheck.allocateRandom(store, b, 20 + heads);
        Tensor x = randn(b, 21, 1f, 2, 8, 4, 4);
        GradCheck.Result r = GradCheck.of("attention C8 4x4 heads " + heads, b).input("x", x).params(store)
                .forward(() -> attn.forward(x))
                .backward(dy -> new Tensor[] {attn.backward(dy)})
                .tol(TOL_NONLINEAR)
                .run();
        // softmax is invariant to a per-row constant, so the key bias (qkv.bias[C..2C)) gets no gradient,
        // while the query and value biases do
        float[] gb = r.analytic.get("qkv.bias");
        double q = 0, k = 0, v = 0;
        for (int c = 0; c < 8; c++) {
            q += Math.abs(gb[c]);
            k += Math.abs(gb[8 + c]);
            v += Math.abs(gb[16 + c]);
        }
        assertTrue(q > 1e-2 && v > 1e-2, "query/value bias gradients " + q + ", " + v);
        assertTrue(k < 1e-4 * (q + v), "key bias gradient should vanish: " + k);
    }

    @Test void selfAttentionOneHead() { attention(1); }

    @Test void selfAttentionTwoHeads() { attention(2); }

    @Test void timeEmbedding() {
        ParamStore store = new ParamStore();
        TimeEmbedding te = new TimeEmbedding(store.root(), 8, 16);
        GradCheck.allocateRandom(store, b, 22);
        Tensor t = b.fromArray(new float[] {3f, 517f, 999f}, 3);
        GradCheck.of("time embedding 8->16", b).params(store)
                .forward(() -> te.forward(t))
                .backward(dy -> {
                    te.backward(dy);
                    return null;
                })
                .tol(TOL_NONLINEAR)
                .run();
    }

    // ------------------------------------------------------------------ residual blocks, resampling

    private void resBlock(String name, int cin, int cout, boolean scaleShift, float dropout) {
        int embDim = 6;
        ParamStore store = new ParamStore();
        ResBlock rb = new ResBlock(store.root(), cin, cout, embDim, dropout, 2, scaleShift);
        GradCheck.allocateRandom(store, b, 30);
        Tensor x = randn(b, 31, 1f, 2, cin, 4, 4);
        Tensor emb = randn(b, 32, 1f, 2, embDim);
        GradCheck.Result r = GradCheck.of(name, b).input("x", x).input("embAct", emb).params(store)
                .forward(() -> rb.forward(dropout > 0 ? Ctx.training(b, 5) : Ctx.inference(b), x, emb))
                .backward(dy -> {
                    Tensor dEmb = b.zeros(emb.shape());
                    Tensor dx = rb.backward(dy, dEmb);
                    return new Tensor[] {dx, dEmb};
                })
                .tol(TOL_NONLINEAR)
                .run();
        assertEquals(scaleShift ? 2 * cout : cout, rb.embProj.out);
        assertEquals(cin != cout, rb.skip != null);
        // backward adds into dEmbAct (does not overwrite it)
        Tensor y = rb.forward(dropout > 0 ? Ctx.training(b, 5) : Ctx.inference(b), x, emb);
        Tensor dy = randn(b, 1234, 1f, y.shape().dims());
        Tensor dEmb = b.fromArray(new float[] {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6}, 2, embDim);
        rb.backward(dy, dEmb);
        float[] got = b.toHost(dEmb), g = r.analytic.get("embAct");
        for (int i = 0; i < got.length; i++) {
            float pre = i < 6 ? i + 1 : -(i - 5);
            assertEquals(pre + g[i], got[i], 1e-5 * (1 + Math.abs(g[i])), "dEmbAct[" + i + "] accumulates");
        }
    }

    @Test void resBlockSameChannels() { resBlock("resblock 8->8", 8, 8, false, 0f); }

    @Test void resBlockChangedChannels() { resBlock("resblock 4->8 (1x1 skip)", 4, 8, false, 0f); }

    @Test void resBlockScaleShift() { resBlock("resblock 4->6 scale-shift", 4, 6, true, 0f); }

    @Test void resBlockDropout() { resBlock("resblock 8->8 dropout 0.3 (training)", 8, 8, false, 0.3f); }

    @Test void downsample() {
        ParamStore store = new ParamStore();
        Downsample ds = new Downsample(store.root(), 3);
        GradCheck.allocateRandom(store, b, 40);
        Tensor x = randn(b, 41, 1f, 2, 3, 6, 4);
        assertEquals(Shape.of(2, 3, 3, 2), ds.forward(x).shape());
        GradCheck.of("downsample", b).input("x", x).params(store)
                .forward(() -> ds.forward(x))
                .backward(dy -> new Tensor[] {ds.backward(dy)})
                .tol(TOL_LINEAR)
                .run();
    }

    @Test void upsample() {
        ParamStore store = new ParamStore();
        Upsample us = new Upsample(store.root(), 3);
        GradCheck.allocateRandom(store, b, 42);
        Tensor x = randn(b, 43, 1f, 2, 3, 3, 2);
        assertEquals(Shape.of(2, 3, 6, 4), us.forward(x).shape());
        GradCheck.of("upsample", b).input("x", x).params(store)
                .forward(() -> us.forward(x))
                .backward(dy -> new Tensor[] {us.backward(dy)})
                .tol(TOL_LINEAR)
                .run();
    }

    // ------------------------------------------------------------------ accumulation semantics

    @Test void parameterGradientsAccumulate() {
        ParamStore store = new ParamStore();
        Conv2d conv = new Conv2d(store.root().child("conv"), 3, 4, 3, 2, 1);
        ConvTranspose2d convT = new ConvTranspose2d(store.root().child("convT"), 4, 3, 4, 2, 1);
        GroupNorm gn = new GroupNorm(store.root().child("norm"), 3, 3, 1e-6f);
        Linear lin = new Linear(store.root().child("lin"), 6, 5);
        GradCheck.allocateRandom(store, b, 50);
        Tensor x = randn(b, 51, 1f, 2, 3, 6, 6);
        Tensor v = randn(b, 52, 1f, 4, 6);
        Tensor[] ys = new Tensor[2];
        // two independent branches whose outputs are packed into one tensor
        GradCheck.assertAccumulates("conv2d + convT + groupnorm + linear", b, store,
                () -> {
                    ys[0] = gn.forward(convT.forward(conv.forward(x)));
                    ys[1] = lin.forward(v);
                    Tensor out = b.zeros(ys[0].size() + ys[1].size());
                    b.copy(out.view(0, ys[0].shape()), ys[0]);
                    b.copy(out.view(ys[0].size(), ys[1].shape()), ys[1]);
                    return out;
                },
                dy -> {
                    Tensor dx = conv.backward(convT.backward(gn.backward(dy.view(0, ys[0].shape()))));
                    Tensor dv = lin.backward(dy.view(ys[0].size(), ys[1].shape()));
                    return new Tensor[] {dx, dv};
                });
    }

    @Test void resBlockAndAttentionGradientsAccumulate() {
        ParamStore store = new ParamStore();
        ResBlock rb = new ResBlock(store.root().child("res"), 4, 8, 6, 0.2f, 2, true);
        SelfAttention attn = new SelfAttention(store.root().child("attn"), 8, 2, 2);
        GradCheck.allocateRandom(store, b, 53);
        Tensor x = randn(b, 54, 1f, 2, 4, 4, 4);
        Tensor emb = randn(b, 55, 1f, 2, 6);
        GradCheck.assertAccumulates("resblock + attention", b, store,
                () -> attn.forward(rb.forward(Ctx.training(b, 3), x, emb)),
                dy -> {
                    Tensor dEmb = b.zeros(emb.shape());
                    return new Tensor[] {rb.backward(attn.backward(dy), dEmb), dEmb};
                });
    }
}
