package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * Multi-head self-attention over the H×W positions of a feature map, with its own GroupNorm and a residual
 * connection (the DDPM {@code attn_block}): h = GN(x); q, k, v = 1×1 conv(h) (one conv with 3C outputs,
 * channel order q | k | v, each split into heads of C/heads channels);
 * out = x + proj(softmax(qᵀk / √d) applied to v). The output projection is zero-initialised.
 */
public final class SelfAttention {
    public final GroupNorm norm;
    public final Conv2d qkv;
    public final Conv2d proj;
    public final int channels, heads, headDim;
    private Tensor qkvOut, attn;
    private Shape inShape;

    public SelfAttention(ParamStore.Scope scope, int channels, int heads, int groups) {
        if (heads <= 0 || channels % heads != 0) {
            throw new IllegalArgumentException(channels + " channels cannot be split into " + heads + " heads");
        }
        this.channels = channels;
        this.heads = heads;
        this.headDim = channels / heads;
        this.norm = new GroupNorm(scope.child("norm"), channels, groups, 1e-6f);
        this.qkv = new Conv2d(scope.child("qkv"), channels, 3 * channels, 1, 1, 0);
        this.proj = new Conv2d(scope.child("proj"), channels, channels, 1, 1, 0, true, Init.ZEROS);
    }

    private float scale() { return (float) (1.0 / Math.sqrt(headDim)); }

    /** [heads, rows, cols] view of part {@code part} (0 q, 1 k, 2 v) of sample n in a [N, 3C, P] tensor. */
    private Tensor part(Tensor t, int n, int part, int p) {
        return t.view(((long) n * 3 + part) * channels * p, Shape.of(heads, headDim, p));
    }

    public Tensor forward(Tensor x) {
        Backend b = x.backend();
        inShape = x.shape();
        int n = x.dim(0), p = x.shape().spatial();
        qkvOut = qkv.forward(norm.forward(x));
        attn = b.scratch(Shape.of(n, heads, p, p));
        Tensor mixed = b.scratch(x.shape());
        for (int s = 0; s < n; s++) {
            Tensor scores = attn.slice0(s);
            b.batchedMatmul(scores, part(qkvOut, s, 0, p), part(qkvOut, s, 1, p), true, false, scale(), 0f);
            b.softmax(scores, scores);
            // out[d, i] = sum_j v[d, j] A[i, j]
            b.batchedMatmul(mixed.slice0(s).reshape(heads, headDim, p), part(qkvOut, s, 2, p), scores, false, true, 1f, 0f);
        }
        Tensor h = proj.forward(mixed);
        Tensor y = b.scratch(x.shape());
        b.add(y, x, h);
        return y;
    }

    public Tensor backward(Tensor dy) {
        Backend b = dy.backend();
        int n = inShape.n(), p = inShape.spatial();
        Tensor dMixed = proj.backward(dy);
        Tensor dQkv = b.scratch(qkvOut.shape());
        Tensor dScores = b.scratch(Shape.of(heads, p, p));
        float sc = scale();
        for (int s = 0; s < n; s++) {
            Tensor a = attn.slice0(s);
            Tensor dOut = dMixed.slice0(s).reshape(heads, headDim, p);
            // dv = dOut A ; dA = dOutᵀ v
            b.batchedMatmul(part(dQkv, s, 2, p), dOut, a, false, false, 1f, 0f);
            b.batchedMatmul(dScores, dOut, part(qkvOut, s, 2, p), true, false, 1f, 0f);
            b.softmaxBackward(dScores, dScores, a);
            // S = sc qᵀk: dq = sc k dSᵀ ; dk = sc q dS
            b.batchedMatmul(part(dQkv, s, 0, p), part(qkvOut, s, 1, p), dScores, false, true, sc, 0f);
            b.batchedMatmul(part(dQkv, s, 1, p), part(qkvOut, s, 0, p), dScores, false, false, sc, 0f);
        }
        Tensor dx = norm.backward(qkv.backward(dQkv));
        b.addInPlace(dx, dy);
        return dx;
    }
}
