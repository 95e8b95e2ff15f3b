package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
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

    /*
     * The 1x1 qkv conv gives [N, 3C, P]: per sample n, q, k and v are the blocks at n 3CP, n 3CP + CP and n 3CP + 2CP,
     * each a stack of `heads` matrices [headDim, P]. The products read them where they lie (stridedBatchedMatmul:
     * per head, one strided-batched GEMM over the N samples at stride 3CP), and the backward pass writes dq, dk, dv
     * straight into dQkv's blocks, so q, k, v are never copied out (nor their gradients copied back in): one GEMM per
     * product for the usual single head, whatever the batch size. Each (sample, head) product is the same GEMM as on
     * copied-out matrices: bitwise the same results on the CPU, and within cuBLAS's rounding on a GPU.
     */
    public Tensor forward(Tensor x) {
        Backend b = x.backend();
        inShape = x.shape();
        int n = x.dim(0), p = x.shape().spatial();
        qkvOut = qkv.forward(norm.forward(x));
        long cp = (long) channels * p, hp = (long) headDim * p, pp = (long) p * p;
        // the scores and the softmax in float32 whatever the activations' dtype; the probabilities are then stored in
        // that dtype, which the product with v reads
        DType act = x.dtype();
        Tensor scores = b.scratch(Shape.of(n * heads, p, p));
        attn = act == DType.F32 ? scores : b.scratch(scores.shape(), act);
        Tensor mixed = b.scratch(x.shape(), act);
        for (int h = 0; h < heads; h++) {
            // S = scale q^T k  ([P, P] per sample and head)
            b.stridedBatchedMatmul(from(scores, h * pp), heads * pp, from(qkvOut, h * hp), 3 * cp, from(qkvOut, cp + h * hp),
                    3 * cp, n, p, p, headDim, true, false, scale(), 0f);
        }
        b.softmax(attn, scores);
        for (int h = 0; h < heads; h++) {
            // out[d, i] = sum_j v[d, j] A[i, j]
            b.stridedBatchedMatmul(from(mixed, h * hp), cp, from(qkvOut, 2 * cp + h * hp), 3 * cp, from(attn, h * pp),
                    heads * pp, n, headDim, p, p, false, true, 1f, 0f);
        }
        // the output is written over the projection's (which the backward pass does not read)
        if (proj.bias != null) {
            Tensor y = proj.forwardBeforeBias(mixed);
            b.addBiasAdd(y, y, proj.bias.value(), x, null);   // the bias and the residual, one pass
            return y;
        }
        Tensor y = proj.forward(mixed);
        b.add(y, x, y);
        return y;
    }

    public Tensor backward(Tensor dy) {
        Backend b = dy.backend();
        int n = inShape.n(), p = inShape.spatial();
        long cp = (long) channels * p, hp = (long) headDim * p, pp = (long) p * p;
        Tensor dOut = proj.backward(dy);
        DType act = dy.dtype();
        Tensor dAttn = b.scratch(Shape.of(n * heads, p, p));   // float32, as the scores
        Tensor dQkv = b.scratch(Shape.of(n, 3 * channels, p), act);
        float sc = scale();
        for (int h = 0; h < heads; h++) {
            long ah = h * pp, qh = h * hp, vh = 2 * cp + h * hp;
            // dv = dOut A ; dA = dOut^T v
            b.stridedBatchedMatmul(from(dQkv, vh), 3 * cp, from(dOut, qh), cp, from(attn, ah), heads * pp, n, headDim, p, p,
                    false, false, 1f, 0f);
            b.stridedBatchedMatmul(from(dAttn, ah), heads * pp, from(dOut, qh), cp, from(qkvOut, vh), 3 * cp, n, p, p,
                    headDim, true, false, 1f, 0f);
        }
        // the scores' gradient in the activations' dtype, for the products with q and k
        Tensor dScores = act == DType.F32 ? dAttn : b.scratch(dAttn.shape(), act);
        b.softmaxBackward(dScores, dAttn, attn);
        for (int h = 0; h < heads; h++) {
            long ah = h * pp, qh = h * hp, kh = cp + h * hp;
            // S = sc q^T k: dq = sc k dS^T ; dk = sc q dS
            b.stridedBatchedMatmul(from(dQkv, qh), 3 * cp, from(qkvOut, kh), 3 * cp, from(dScores, ah), heads * pp, n,
                    headDim, p, p, false, true, sc, 0f);
            b.stridedBatchedMatmul(from(dQkv, kh), 3 * cp, from(qkvOut, qh), 3 * cp, from(dScores, ah), heads * pp, n,
                    headDim, p, p, false, false, sc, 0f);
        }
        Tensor dx = norm.backwardInPlace(qkv.backward(dQkv.reshape(inShape.withDim(1, 3 * channels))));
        b.addInPlace(dx, dy);
        return dx;
    }

    /** The elements of t from element {@code offset} on (where a strided batch of matrices starts). */
    private static Tensor from(Tensor t, long offset) {
        return t.view(offset, Shape.of(Math.toIntExact(t.numel() - offset)));
    }
}
