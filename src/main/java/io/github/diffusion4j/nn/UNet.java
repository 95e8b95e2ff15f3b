package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;

/**
 * The DDPM U-Net (Ho et al. 2020, appendix B; Improved DDPM options): sinusoidal time embedding → MLP;
 * conv_in; per level {@code numResBlocks} residual blocks (each followed by self-attention at the chosen
 * resolutions) and a strided-conv downsample; a middle of ResBlock, attention, ResBlock; per level on the way
 * up {@code numResBlocks + 1} residual blocks over the concatenation with the matching skip, attention, and a
 * nearest+conv upsample; GroupNorm, SiLU, conv_out (zero-initialised). Optional class conditioning adds a
 * learned class embedding (with a null class for classifier-free guidance) to the time embedding.
 */
public final class UNet implements Model {
    private final String name;
    private final UNetConfig cfg;
    private final ParamStore store = new ParamStore();
    private final TimeEmbedding timeEmb;
    private final Param labelEmb;
    private final SiLU embAct = new SiLU();
    private final Conv2d convIn;
    private final List<Object> down = new ArrayList<>();       // ResAttn or Downsample
    private final ResAttn mid1, mid2;
    private final List<Object> up = new ArrayList<>();         // ResAttn (taking a skip) or Upsample
    private final GroupNorm normOut;
    private final Conv2d convOut;
    private final List<LayerRow> rows = new ArrayList<>();
    private long macs;

    // forward caches
    private Tensor oneHot;
    private int[] concatChannels;
    /**
     * In inference, an up-path block takes [h, skip] as two parts instead of their concatenation where its groups
     * allow ({@link ResBlock#forwardSplit}): no concatenation copy, and each of its convolutions over the input as two
     * smaller ones. Off by default, not yet measured on a GPU: {@link #splitConcatInInference(boolean)} turns it on
     * ({@code bench --unet-split-concat} for the A/B measurement that decides whether it becomes the default or goes).
     */
    private boolean splitConcatInInference;
    private int splitBlocks;

    /** A residual block optionally followed by self-attention. */
    private static final class ResAttn {
        final ResBlock res;
        final SelfAttention attn;

        ResAttn(ResBlock res, SelfAttention attn) {
            this.res = res;
            this.attn = attn;
        }

        Tensor forward(Ctx ctx, Tensor x, Tensor emb) {
            Tensor h = res.forward(ctx, x, emb);
            return attn == null ? h : attn.forward(h);
        }

        /** forward of the concatenation [x1, x2], not built (inference: ResBlock.forwardSplit). */
        Tensor forwardSplit(Ctx ctx, Tensor x1, Tensor x2, Tensor emb) {
            Tensor h = res.forwardSplit(ctx, x1, x2, emb);
            return attn == null ? h : attn.forward(h);
        }

        Tensor backward(Tensor dy, Tensor dEmb) {
            return res.backward(attn == null ? dy : attn.backward(dy), dEmb);
        }
    }

    public UNet(String name, UNetConfig cfg) {
        this.name = name;
        this.cfg = cfg;
        ParamStore.Scope root = store.root();
        int ch = cfg.baseChannels(), emb = cfg.embDim();
        int res = cfg.imageSize();

        long before = store.count();
        timeEmb = new TimeEmbedding(root.child("time_embed"), ch, emb);
        macs += (long) ch * emb + (long) emb * emb;
        labelEmb = cfg.numClasses() > 0
                ? root.param("label_embed.weight", Shape.of(cfg.numClasses() + 1, emb), Init.normal(1.0))
                : null;
        row("time_embed" + (labelEmb != null ? " + label_embed" : ""), Shape.of(1, emb), before);

        before = store.count();
        convIn = new Conv2d(root.child("conv_in"), cfg.inChannels(), ch, 3, 1, 1);
        macs += convIn.macs(Shape.of(1, cfg.inChannels(), res, res));
        row("conv_in", Shape.of(1, ch, res, res), before);

        List<Integer> skipChannels = new ArrayList<>();
        skipChannels.add(ch);
        int cur = ch;
        for (int level = 0; level < cfg.levels(); level++) {
            int out = ch * cfg.channelMult()[level];
            for (int i = 0; i < cfg.numResBlocks(); i++) {
                String n = "down." + level + ".block." + i;
                before = store.count();
                down.add(resAttn(root.child("down").child(level).child("block").child(i), cur, out, res));
                cur = out;
                skipChannels.add(cur);
                row(n + (cfg.hasAttentionAt(res) ? " (+attn)" : ""), Shape.of(1, cur, res, res), before);
            }
            if (level != cfg.levels() - 1) {
                before = store.count();
                Downsample ds = new Downsample(root.child("down").child(level).child("downsample"), cur);
                macs += ds.conv.macs(Shape.of(1, cur, res, res));
                down.add(ds);
                res /= 2;
                skipChannels.add(cur);
                row("down." + level + ".downsample", Shape.of(1, cur, res, res), before);
            }
        }

        before = store.count();
        mid1 = new ResAttn(resBlock(root.child("mid").child("block1"), cur, cur, res),
                attention(root.child("mid").child("attn"), cur, res));
        mid2 = new ResAttn(resBlock(root.child("mid").child("block2"), cur, cur, res), null);
        row("mid (res, attn, res)", Shape.of(1, cur, res, res), before);

        for (int level = cfg.levels() - 1; level >= 0; level--) {
            int out = ch * cfg.channelMult()[level];
            for (int i = 0; i <= cfg.numResBlocks(); i++) {
                int skip = skipChannels.remove(skipChannels.size() - 1);
                before = store.count();
                up.add(resAttn(root.child("up").child(level).child("block").child(i), cur + skip, out, res));
                cur = out;
                row("up." + level + ".block." + i + (cfg.hasAttentionAt(res) ? " (+attn)" : ""),
                        Shape.of(1, cur, res, res), before);
            }
            if (level != 0) {
                before = store.count();
                Upsample us = new Upsample(root.child("up").child(level).child("upsample"), cur);
                res *= 2;
                macs += us.conv.macs(Shape.of(1, cur, res, res));
                up.add(us);
                row("up." + level + ".upsample", Shape.of(1, cur, res, res), before);
            }
        }

        before = store.count();
        normOut = new GroupNorm(root.child("norm_out"), cur, cfg.groups(), 1e-6f);
        convOut = new Conv2d(root.child("conv_out"), cur, cfg.outChannels(), 3, 1, 1, true, Init.ZEROS);
        macs += convOut.macs(Shape.of(1, cur, res, res));
        row("norm_out, conv_out", Shape.of(1, cfg.outChannels(), res, res), before);
    }

    private ResBlock resBlock(ParamStore.Scope s, int in, int out, int res) {
        ResBlock rb = new ResBlock(s, in, out, cfg.embDim(), cfg.dropout(), cfg.groups(), cfg.scaleShift());
        long p = (long) res * res;
        macs += p * 9L * in * out + p * 9L * out * out + (long) cfg.embDim() * rb.embProj.out
                + (rb.skip != null ? p * in * out : 0);
        return rb;
    }

    private SelfAttention attention(ParamStore.Scope s, int c, int res) {
        long p = (long) res * res;
        macs += p * 3L * c * c + 2L * p * p * c + p * (long) c * c;
        return new SelfAttention(s, c, cfg.heads(), cfg.groups());
    }

    private ResAttn resAttn(ParamStore.Scope s, int in, int out, int res) {
        ResBlock rb = resBlock(s.child("res"), in, out, res);
        return new ResAttn(rb, cfg.hasAttentionAt(res) ? attention(s.child("attn"), out, res) : null);
    }

    private void row(String n, Shape out, long before) {
        rows.add(new LayerRow(n, out, store.count() - before));
    }

    public UNetConfig config() { return cfg; }

    @Override public ParamStore params() { return store; }

    @Override public String name() { return name; }

    @Override public int inChannels() { return cfg.inChannels(); }

    @Override public int outChannels() { return cfg.outChannels(); }

    @Override public int imageSize() { return cfg.imageSize(); }

    @Override public int numClasses() { return cfg.numClasses(); }

    @Override public List<LayerRow> summary() { return Collections.unmodifiableList(rows); }

    @Override public long macsPerImage() { return macs; }

    @Override public Tensor forward(Ctx ctx, Tensor x, Tensor timesteps, Tensor labels) {
        if (x.rank() != 4 || x.dim(1) != cfg.inChannels() || x.dim(2) != cfg.imageSize() || x.dim(3) != cfg.imageSize()) {
            throw new IllegalArgumentException("model " + name + " expects [N, " + cfg.inChannels() + ", "
                    + cfg.imageSize() + ", " + cfg.imageSize() + "] input, got " + x.shape());
        }
        Backend b = x.backend();
        int n = x.dim(0);
        Tensor emb = timeEmb.forward(timesteps);
        oneHot = null;
        if (labelEmb != null) {
            if (labels == null) throw new IllegalArgumentException("class-conditional model " + name + " needs labels");
            oneHot = b.scratch(Shape.of(n, cfg.numClasses() + 1));
            b.oneHot(oneHot, labels);
            b.matmul(emb, oneHot, labelEmb.value(), false, false, 1f, 1f);
        } else if (labels != null) {
            throw new IllegalArgumentException("model " + name + " is unconditional but labels were given");
        }
        Tensor e = embAct.forward(emb);

        // the network computes in its parameters' compute dtype between an F32 input and an F32 output
        DType act = store.copyDType();
        Deque<Tensor> skips = new ArrayDeque<>();
        Tensor h = convIn.forward(Cast.to(act, x));
        skips.push(h);
        for (Object op : down) {
            h = op instanceof ResAttn ra ? ra.forward(ctx, h, e) : ((Downsample) op).forward(h);
            skips.push(h);
        }
        h = mid2.forward(ctx, mid1.forward(ctx, h, e), e);
        concatChannels = new int[2 * up.size()];
        splitBlocks = 0;
        int k = 0;
        for (Object op : up) {
            if (op instanceof ResAttn ra) {
                Tensor s = skips.pop();
                concatChannels[2 * k] = h.dim(1);
                concatChannels[2 * k + 1] = s.dim(1);
                if (splitConcatInInference && !ctx.training() && ra.res.canSplit(h.dim(1))) {
                    h = ra.forwardSplit(ctx, h, s, e);   // the concatenation is never built
                    splitBlocks++;
                } else {
                    Tensor cat = b.scratch(Shape.of(n, h.dim(1) + s.dim(1), h.dim(2), h.dim(3)), act);
                    b.concatChannels(cat, h, s);
                    h = ra.forward(ctx, cat, e);
                }
            } else {
                h = ((Upsample) op).forward(h);
            }
            k++;
        }
        return Cast.to(DType.F32, convOut.forward(normOut.forward(h, true)));
    }

    /** How many up-path blocks the last forward pass ran on two parts instead of a concatenation. */
    public int splitBlocksLastForward() { return splitBlocks; }

    /** Whether inference skips the up path's concatenations where it can (see the field). */
    public boolean splitConcatInInference() { return splitConcatInInference; }

    /** See the field: whether inference skips the up path's concatenations where it can. */
    public UNet splitConcatInInference(boolean on) {
        this.splitConcatInInference = on;
        return this;
    }

    /**
     * The backward pass, block by block in alternating scratch regions ({@link Backend#scratchRegion}): block k's
     * temporaries and its input gradient live until block k - 2 starts, so the step's arena holds two blocks' worth of
     * backward temporaries, not all of them. The skips' gradients, read much later by the down path, are taken in the
     * main arena before their block starts. Between blocks it tells the parameter store that the gradients taken so
     * far are written ({@link ParamStore#backwardProgress}).
     */
    @Override public void backward(Tensor dOut) {
        Backend b = dOut.backend();
        int n = dOut.dim(0);
        Tensor dEmbAct = b.scratch(Shape.of(n, cfg.embDim()));
        b.fill(dEmbAct, 0f);
        int[] turn = {0};
        // between blocks: the gradients of the blocks done so far are written (data-parallel training starts their
        // all-reduce then, behind the rest of the backward pass)
        Runnable nextBlock = () -> {
            store.backwardProgress();
            b.scratchRegion(turn[0]++ % 2);
        };
        try {
            nextBlock.run();
            DType act = store.copyDType();
            Tensor dh = normOut.backwardInPlace(convOut.backward(Cast.to(act, dOut)));
            // gradients of the skips; pushed shallowest first, so the deepest skip's gradient ends up on top
            Deque<Tensor> dSkips = new ArrayDeque<>();
            for (int k = up.size() - 1; k >= 0; k--) {
                Object op = up.get(k);
                if (op instanceof ResAttn ra) {
                    int hc = concatChannels[2 * k], sc = concatChannels[2 * k + 1];
                    b.scratchRegion(-1);
                    Tensor dS = b.scratch(Shape.of(n, sc, dh.dim(2), dh.dim(3)), act);
                    nextBlock.run();
                    Tensor dCat = ra.backward(dh, dEmbAct);
                    Tensor dH = b.scratch(Shape.of(n, hc, dCat.dim(2), dCat.dim(3)), act);
                    b.splitChannels(new Tensor[] {dH, dS}, dCat);
                    dSkips.push(dS);
                    dh = dH;
                } else {
                    nextBlock.run();
                    dh = ((Upsample) op).backward(dh);
                }
            }
            nextBlock.run();
            dh = mid2.backward(dh, dEmbAct);
            nextBlock.run();
            dh = mid1.backward(dh, dEmbAct);
            for (int k = down.size() - 1; k >= 0; k--) {
                b.addInPlace(dh, dSkips.pop());
                Object op = down.get(k);
                nextBlock.run();
                dh = op instanceof ResAttn ra ? ra.backward(dh, dEmbAct) : ((Downsample) op).backward(dh);
            }
            b.addInPlace(dh, dSkips.pop());
            convIn.backward(dh, false);
            Tensor dEmb = embAct.backward(dEmbAct);
            if (labelEmb != null) b.matmul(labelEmb.grad(), oneHot, dEmb, true, false, 1f, 1f);
            timeEmb.backward(dEmb);
        } finally {
            b.scratchRegion(-1);
        }
    }
}
