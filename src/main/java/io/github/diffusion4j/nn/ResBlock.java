package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

/**
 * The DDPM residual block: h = Conv(SiLU(GN(x))); h += Linear(SiLU(temb)) per channel (or, with
 * scale-shift, GN(h)·(1 + scale) + shift as in Improved DDPM); h = Conv(Dropout(SiLU(GN(h)))) with the last
 * conv zero-initialised; out = skip(x) + h, skip a 1×1 conv when the channel count changes.
 *
 * <p>The block receives the already activated embedding SiLU(temb) (shared by all blocks of a U-Net) and
 * accumulates its gradient into the tensor passed to {@link #backward}.
 */
public final class ResBlock {
    public final int inChannels, outChannels;
    public final boolean scaleShift;
    public final GroupNorm norm1, norm2;
    public final Conv2d conv1, conv2;
    public final Linear embProj;
    public final Conv2d skip;
    private final SiLU act2 = new SiLU();   // after scale-shift only; otherwise part of norm2's groupNormSilu
    private final Dropout dropout;
    // cached for backward
    private Tensor normed2, scale, shift;

    public ResBlock(ParamStore.Scope scope, int inChannels, int outChannels, int embDim, float dropout, int groups,
                    boolean scaleShift) {
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.scaleShift = scaleShift;
        this.norm1 = new GroupNorm(scope.child("norm1"), inChannels, groups, 1e-6f);
        this.conv1 = new Conv2d(scope.child("conv1"), inChannels, outChannels, 3, 1, 1);
        this.embProj = new Linear(scope.child("emb_proj"), embDim, scaleShift ? 2 * outChannels : outChannels);
        this.norm2 = new GroupNorm(scope.child("norm2"), outChannels, groups, 1e-6f);
        this.dropout = new Dropout(dropout);
        this.conv2 = new Conv2d(scope.child("conv2"), outChannels, outChannels, 3, 1, 1, true, Init.ZEROS);
        this.skip = inChannels != outChannels ? new Conv2d(scope.child("skip"), inChannels, outChannels, 1, 1, 0) : null;
    }

    /** x [N, Cin, H, W], embAct = SiLU(temb) [N, embDim] → [N, Cout, H, W]. */
    public Tensor forward(Ctx ctx, Tensor x, Tensor embAct) {
        Backend b = x.backend();
        // the convolutions' biases are added in one pass with what follows (the time embedding, the residual), where
        // the backend can: addBiasPerSampleChannel and addBiasAdd have the rounding of separate adds
        boolean fuse = conv1.bias != null && conv2.bias != null;
        Tensor h = fuse && !scaleShift ? conv1.forwardBeforeBias(norm1.forward(x, true)) : conv1.forward(norm1.forward(x, true));
        Tensor e = embProj.forward(embAct);
        int n = x.dim(0);
        if (scaleShift) {
            normed2 = norm2.forward(h);
            scale = b.scratch(Shape.of(n, outChannels));
            shift = b.scratch(Shape.of(n, outChannels));
            b.splitChannels(new Tensor[] {scale, shift}, e);
            h = b.scratch(normed2.shape(), normed2.dtype());
            b.scaleShift(h, normed2, scale, shift);
            h = dropout.forward(ctx, act2.forward(h));
        } else {
            if (fuse) {
                // conv1's bias and the time embedding are added where norm2 reads its input (a backend may do so
                // without storing the sum: one activation pass fewer each way)
                h = norm2.forwardSiluDropoutOffset(ctx, h, conv1.bias.value(), e, dropout);
            } else {
                b.addPerSampleChannel(h, h, e);
                h = norm2.forwardSiluDropout(ctx, h, dropout);
            }
        }
        h = fuse ? conv2.forwardBeforeBias(h) : conv2.forward(h);
        // the output is written over conv2's (which the backward pass does not read): one buffer fewer per block
        if (fuse && skip != null && skip.bias != null) {
            // the skip convolution's bias too: (h + b2) + (skip(x) + bs), one pass
            b.addBiasAdd(h, h, conv2.bias.value(), skip.forwardBeforeBias(x), skip.bias.value());
        } else {
            Tensor s = skip != null ? skip.forward(x) : x;
            if (fuse) b.addBiasAdd(h, h, conv2.bias.value(), s, null);
            else b.add(h, s, h);
        }
        return h;
    }

    /**
     * Whether {@link #forwardSplit} can take the input as the two parts [x1 (c1 channels), x2]: with a skip
     * convolution, no scale-shift, and norm1's groups whole on either side.
     */
    public boolean canSplit(int c1) {
        return !scaleShift && skip != null && skip.bias != null && conv1.bias != null
                && conv2.bias != null && c1 > 0 && c1 < inChannels && norm1.splitsAt(c1);
    }

    /**
     * {@link #forward} of the concatenation [x1, x2] without building it, for inference only ({@link Ctx#training()}
     * false; nothing is kept for backward): norm1 per part, conv1 and the skip convolution as two convolutions each
     * adding into one output ({@link Conv2d#forwardBeforeBiasSplit}). Sums in another order than {@link #forward}.
     */
    public Tensor forwardSplit(Ctx ctx, Tensor x1, Tensor x2, Tensor embAct) {
        if (ctx.training()) throw new IllegalStateException("ResBlock.forwardSplit is for inference");
        Backend b = x1.backend();
        int c1 = x1.dim(1);
        if (!canSplit(c1)) throw new IllegalStateException("this ResBlock cannot take its input in two parts at " + c1);
        Tensor h = conv1.forwardBeforeBiasSplit(norm1.forwardSiluPart(x1, 0), norm1.forwardSiluPart(x2, c1));
        Tensor e = embProj.forward(embAct);
        h = norm2.forwardSiluDropoutOffset(ctx, h, conv1.bias.value(), e, dropout);
        h = conv2.forwardBeforeBias(h);
        b.addBiasAdd(h, h, conv2.bias.value(), skip.forwardBeforeBiasSplit(x1, x2), skip.bias.value());
        return h;
    }

    /** Returns dL/dx and adds dL/d(embAct) into {@code dEmbAct}. */
    public Tensor backward(Tensor dy, Tensor dEmbAct) {
        Backend b = dy.backend();
        // the gradients below are written over their inputs where nothing else reads those (conv outputs): fewer
        // activation-sized buffers in the step's arena
        Tensor dh = dropout.backwardInPlace(conv2.backward(dy));
        Tensor dE;
        int n = dy.dim(0);
        if (scaleShift) {
            dh = act2.backward(dh);
            Tensor dNormed = b.scratch(dh.shape(), dh.dtype());
            Tensor dScale = b.scratch(Shape.of(n, outChannels)), dShift = b.scratch(Shape.of(n, outChannels));
            b.scaleShiftBackward(dNormed, dScale, dShift, dh, normed2, scale);
            dE = b.scratch(Shape.of(n, 2 * outChannels));
            b.concatChannels(dE, dScale, dShift);
            dh = norm2.backwardInPlace(dNormed);
        } else {
            dh = norm2.backwardInPlace(dh);
            dE = b.scratch(Shape.of(n, outChannels));
            b.perSampleChannelSum(dE, dh);
        }
        b.addInPlace(dEmbAct, embProj.backward(dE));
        Tensor dConv1 = conv1.backward(dh);
        // the skip branch's gradient joins in norm1's backward pass (one pass where the backend can)
        return norm1.backwardInPlace(dConv1, skip != null ? skip.backward(dy) : dy);
    }
}
