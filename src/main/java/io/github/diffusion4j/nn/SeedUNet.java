package io.github.diffusion4j.nn;

import io.github.diffusion4j.tensor.Backend;
import io.github.diffusion4j.tensor.DType;
import io.github.diffusion4j.tensor.Shape;
import io.github.diffusion4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The simpler U-Net of the article this project was founded on ("diffusion models from scratch"):
 * sinusoidal time embedding → Linear → SiLU; a 3×3 input conv; three down blocks (conv3×3 → GN → SiLU, plus
 * the block's own time projection added per channel, conv3×3 → GN → SiLU, then a 4×4 stride-2 conv);
 * a two-conv bottleneck; three up blocks (4×4 stride-2 transposed conv, concatenation with the matching
 * skip, conv3×3 → GN → SiLU, time projection, conv3×3 → GN → SiLU); and a 1×1 output conv. (The article
 * used BatchNorm and ReLU; GroupNorm and SiLU keep every sample independent of its batch.)
 *
 * <p>channels = {c0, c1, c2, c3}: the input conv gives c0, down block i maps c_i → c_{i+1}.
 */
public final class SeedUNet implements Model {
    private final String name;
    private final int inChannels, imageSize, timeDim, groups;
    private final ParamStore store = new ParamStore();
    private final Linear timeFc;
    private final SiLU timeAct = new SiLU();
    private final Conv2d conv0;
    private final Block[] downs = new Block[3];
    private final Conv2d[] downsample = new Conv2d[3];
    private final ConvNormAct bottleneck1, bottleneck2;
    private final ConvTranspose2d[] upsample = new ConvTranspose2d[3];
    private final Block[] ups = new Block[3];
    private final Conv2d output;
    private final List<LayerRow> rows = new ArrayList<>();
    private long macs;

    /** conv3×3 → GroupNorm → SiLU. */
    private static final class ConvNormAct {
        final Conv2d conv;
        final GroupNorm norm;
        final SiLU act = new SiLU();

        ConvNormAct(ParamStore.Scope s, int in, int out, int groups) {
            conv = new Conv2d(s.child("conv"), in, out, 3, 1, 1);
            norm = new GroupNorm(s.child("norm"), out, groups, 1e-5f);
        }

        Tensor forward(Tensor x) { return act.forward(norm.forward(conv.forward(x))); }

        Tensor backward(Tensor dy) { return conv.backward(norm.backward(act.backward(dy))); }
    }

    /** Two ConvNormAct with the time projection SiLU(Linear(t)) added per channel between them. */
    private static final class Block {
        final ConvNormAct first, second;
        final Linear timeProj;
        final SiLU timeAct = new SiLU();

        Block(ParamStore.Scope s, int in, int out, int timeDim, int groups) {
            first = new ConvNormAct(s.child("block1"), in, out, groups);
            timeProj = new Linear(s.child("time_proj"), timeDim, out);
            second = new ConvNormAct(s.child("block2"), out, out, groups);
        }

        Tensor forward(Tensor x, Tensor t) {
            Backend b = x.backend();
            Tensor h = first.forward(x);
            Tensor tp = timeAct.forward(timeProj.forward(t));
            Tensor sum = b.scratch(h.shape(), h.dtype());
            b.addPerSampleChannel(sum, h, tp);
            return second.forward(sum);
        }

        /** Returns dL/dx; adds dL/dt into dT. */
        Tensor backward(Tensor dy, Tensor dT) {
            Backend b = dy.backend();
            Tensor dSum = second.backward(dy);
            Tensor dTp = b.scratch(Shape.of(dy.dim(0), timeProj.out));
            b.perSampleChannelSum(dTp, dSum);
            b.addInPlace(dT, timeProj.backward(timeAct.backward(dTp)));
            return first.backward(dSum);
        }
    }

    public SeedUNet(String name, int inChannels, int imageSize, int[] channels, int timeDim, int groups) {
        if (channels.length != 4) throw new IllegalArgumentException("SeedUNet needs 4 channel counts, got " + channels.length);
        if (imageSize % 8 != 0) throw new IllegalArgumentException("SeedUNet needs an image size divisible by 8, got " + imageSize);
        for (int c : channels) {
            if (c % groups != 0) throw new IllegalArgumentException("channels " + c + " not divisible by " + groups + " groups");
        }
        this.name = name;
        this.inChannels = inChannels;
        this.imageSize = imageSize;
        this.timeDim = timeDim;
        this.groups = groups;
        ParamStore.Scope root = store.root();
        int res = imageSize;

        long before = store.count();
        timeFc = new Linear(root.child("time_mlp"), timeDim, timeDim);
        macs += (long) timeDim * timeDim;
        row("time_mlp", Shape.of(1, timeDim), before);

        before = store.count();
        conv0 = new Conv2d(root.child("conv0"), inChannels, channels[0], 3, 1, 1);
        macs += conv0.macs(Shape.of(1, inChannels, res, res));
        row("conv0", Shape.of(1, channels[0], res, res), before);

        for (int i = 0; i < 3; i++) {
            before = store.count();
            int in = channels[i], out = channels[i + 1];
            downs[i] = new Block(root.child("downs").child(i), in, out, timeDim, groups);
            downsample[i] = new Conv2d(root.child("downs").child(i).child("transform"), out, out, 4, 2, 1);
            long p = (long) res * res;
            macs += p * 9 * in * out + p * 9 * out * out + (long) timeDim * out + (p / 4) * 16 * out * out;
            res /= 2;
            row("downs." + i, Shape.of(1, out, res, res), before);
        }

        before = store.count();
        int c3 = channels[3];
        bottleneck1 = new ConvNormAct(root.child("bottleneck1"), c3, c3, groups);
        bottleneck2 = new ConvNormAct(root.child("bottleneck2"), c3, c3, groups);
        macs += 2L * res * res * 9 * c3 * c3;
        row("bottleneck", Shape.of(1, c3, res, res), before);

        for (int i = 2; i >= 0; i--) {
            before = store.count();
            int in = channels[i + 1], out = channels[i];
            upsample[i] = new ConvTranspose2d(root.child("ups").child(i).child("transform"), in, in, 4, 2, 1);
            macs += (long) res * res * 16 * in * in;
            res *= 2;
            ups[i] = new Block(root.child("ups").child(i), 2 * in, out, timeDim, groups);
            long p = (long) res * res;
            macs += p * 9 * 2 * in * out + p * 9 * out * out + (long) timeDim * out;
            row("ups." + i, Shape.of(1, out, res, res), before);
        }

        before = store.count();
        output = new Conv2d(root.child("output"), channels[0], inChannels, 1, 1, 0);
        macs += output.macs(Shape.of(1, channels[0], res, res));
        row("output", Shape.of(1, inChannels, res, res), before);
    }

    private void row(String n, Shape out, long before) {
        rows.add(new LayerRow(n, out, store.count() - before));
    }

    @Override public ParamStore params() { return store; }

    @Override public String name() { return name; }

    @Override public int inChannels() { return inChannels; }

    @Override public int imageSize() { return imageSize; }

    @Override public int numClasses() { return 0; }

    @Override public List<LayerRow> summary() { return Collections.unmodifiableList(rows); }

    @Override public long macsPerImage() { return macs; }

    // forward caches
    private Tensor[] skips = new Tensor[3];
    private Tensor[] upIn = new Tensor[3];

    @Override public Tensor forward(Ctx ctx, Tensor x, Tensor timesteps, Tensor labels) {
        if (labels != null) throw new IllegalArgumentException("model " + name + " is unconditional but labels were given");
        if (x.rank() != 4 || x.dim(1) != inChannels || x.dim(2) != imageSize || x.dim(3) != imageSize) {
            throw new IllegalArgumentException("model " + name + " expects [N, " + inChannels + ", " + imageSize + ", "
                    + imageSize + "] input, got " + x.shape());
        }
        Backend b = x.backend();
        int n = x.dim(0);
        Tensor sin = b.scratch(Shape.of(n, timeDim));
        b.timestepEmbedding(sin, timesteps, 10000f, false);
        Tensor t = timeAct.forward(timeFc.forward(sin));
        DType act = store.copyDType();
        Tensor h = conv0.forward(Cast.to(act, x));
        for (int i = 0; i < 3; i++) {
            skips[i] = downs[i].forward(h, t);
            h = downsample[i].forward(skips[i]);
        }
        h = bottleneck2.forward(bottleneck1.forward(h));
        for (int i = 2; i >= 0; i--) {
            Tensor u = upsample[i].forward(h);
            Tensor cat = b.scratch(Shape.of(n, 2 * u.dim(1), u.dim(2), u.dim(3)), act);
            b.concatChannels(cat, u, skips[i]);
            upIn[i] = u;
            h = ups[i].forward(cat, t);
        }
        return Cast.to(DType.F32, output.forward(h));
    }

    @Override public void backward(Tensor dOut) {
        Backend b = dOut.backend();
        int n = dOut.dim(0);
        Tensor dT = b.scratch(Shape.of(n, timeDim));
        b.fill(dT, 0f);
        DType act = store.copyDType();
        Tensor dh = output.backward(Cast.to(act, dOut));
        Tensor[] dSkips = new Tensor[3];
        for (int i = 0; i < 3; i++) {
            Tensor dCat = ups[i].backward(dh, dT);
            Tensor dU = b.scratch(upIn[i].shape(), act);
            dSkips[i] = b.scratch(skips[i].shape(), act);
            b.splitChannels(new Tensor[] {dU, dSkips[i]}, dCat);
            dh = upsample[i].backward(dU);
        }
        dh = bottleneck1.backward(bottleneck2.backward(dh));
        for (int i = 2; i >= 0; i--) {
            Tensor dSkip = downsample[i].backward(dh);
            b.addInPlace(dSkip, dSkips[i]);
            dh = downs[i].backward(dSkip, dT);
        }
        conv0.backward(dh, false);
        timeFc.backward(timeAct.backward(dT));
    }
}
