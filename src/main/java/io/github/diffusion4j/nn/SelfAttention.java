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
    private Tensor q, k, v, attn;
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

    /*
     * The 1x1 qkv conv gives [N, 3C, P]; split into q, k, v of [N, C, P] each, every one of them is a contiguous
     * stack of N * heads matrices [headDim, P] with one stride, so each product below is ONE strided-batched GEMM
     * over all samples and heads (not a loop over samples): a constant number of launches per layer whatever the
     * batch size. Each (sample, head) product is the same GEMM as before, so the CPU results are unchanged.
     */
    private Shape stack(int n, int p) { return Shape.of(n * heads, headDim, p); }

    public Tensor forward(Tensor x) {
        Backend b = x.backend();
        inShape = x.shape();
        int n = x.dim(0), p = x.shape().spatial();
        Tensor qkvOut = qkv.forward(norm.forward(x));
        q = b.scratch(Shape.of(n, channels, p));
        k = b.scratch(Shape.of(n, channels, p));
        v = b.scratch(Shape.of(n, channels, p));
        b.splitChannels(new Tensor[] {q, k, v}, qkvOut.reshape(n, 3 * channels, p));
        attn = b.scratch(Shape.of(n * heads, p, p));
        b.batchedMatmul(attn, q.reshape(stack(n, p)), k.reshape(stack(n, p)), true, false, scale(), 0f);
        b.softmax(attn, attn);
        // out[d, i] = sum_j v[d, j] A[i, j]
        Tensor mixed = b.scratch(x.shape());
        b.batchedMatmul(mixed.reshape(stack(n, p)), v.reshape(stack(n, p)), attn, false, true, 1f, 0f);
        Tensor y = b.scratch(x.shape());
        if (b.fusesBiasAdds() && proj.bias != null) {
            b.addBiasAdd(y, proj.forwardBeforeBias(mixed), proj.bias.value(), x);   // the same rounding, one pass
        } else {
            b.add(y, x, proj.forward(mixed));
        }
        return y;
    }

    public Tensor backward(Tensor dy) {
        Backend b = dy.backend();
        int n = inShape.n(), p = inShape.spatial();
        Tensor dOut = proj.backward(dy).reshape(stack(n, p));
        Tensor dq = b.scratch(stack(n, p)), dk = b.scratch(stack(n, p)), dv = b.scratch(stack(n, p));
        Tensor dScores = b.scratch(Shape.of(n * heads, p, p));
        float sc = scale();
        // dv = dOut A ; dA = dOutᵀ v
        b.batchedMatmul(dv, dOut, attn, false, false, 1f, 0f);
        b.batchedMatmul(dScores, dOut, v.reshape(stack(n, p)), true, false, 1f, 0f);
        b.softmaxBackward(dScores, dScores, attn);
        // S = sc qᵀk: dq = sc k dSᵀ ; dk = sc q dS
        b.batchedMatmul(dq, k.reshape(stack(n, p)), dScores, false, true, sc, 0f);
        b.batchedMatmul(dk, q.reshape(stack(n, p)), dScores, false, false, sc, 0f);
        Tensor dQkv = b.scratch(Shape.of(n, 3 * channels, p));
        b.concatChannels(dQkv, dq.reshape(n, channels, p), dk.reshape(n, channels, p), dv.reshape(n, channels, p));
        Tensor dx = norm.backward(qkv.backward(dQkv.reshape(inShape.withDim(1, 3 * channels))));
        b.addInPlace(dx, dy);
        return dx;
    }
}
