package io.github.diffusion4j.nn;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Hyper-parameters of {@link UNet} (DDPM / Improved DDPM architecture).
 *
 * @param inChannels       image channels in (3 for RGB, 1 for greyscale)
 * @param outChannels      channels predicted (same as in for ε, x0 or v prediction)
 * @param imageSize        input height = width; must be divisible by 2^(levels-1)
 * @param baseChannels     channels at the first level ("ch")
 * @param channelMult      multiplier of baseChannels per level
 * @param numResBlocks     residual blocks per level on the way down (one more on the way up)
 * @param attnResolutions  feature-map sizes at which self-attention follows each residual block
 * @param dropout          dropout inside residual blocks
 * @param groups           GroupNorm groups
 * @param heads            attention heads
 * @param numClasses       0 for an unconditional model; else class labels 0..numClasses-1 plus a "null"
 *                         class numClasses used by classifier-free guidance
 * @param scaleShift       Improved-DDPM scale-shift norm in residual blocks
 */
public record UNetConfig(int inChannels, int outChannels, int imageSize, int baseChannels, int[] channelMult,
                         int numResBlocks, int[] attnResolutions, float dropout, int groups, int heads,
                         int numClasses, boolean scaleShift) {

    public UNetConfig {
        if (inChannels <= 0 || outChannels <= 0) throw new IllegalArgumentException("channel counts must be positive");
        if (channelMult.length == 0) throw new IllegalArgumentException("channelMult must have at least one level");
        int div = 1 << (channelMult.length - 1);
        if (imageSize <= 0 || imageSize % div != 0) {
            throw new IllegalArgumentException("image size " + imageSize + " must be a positive multiple of " + div
                    + " for " + channelMult.length + " levels");
        }
        for (int m : channelMult) {
            if (m <= 0 || (baseChannels * m) % groups != 0) {
                throw new IllegalArgumentException("channels " + baseChannels * m + " not divisible by " + groups + " groups");
            }
        }
        if (baseChannels < 1) throw new IllegalArgumentException("base channels must be >= 1, not " + baseChannels);
        if (numResBlocks < 1) throw new IllegalArgumentException("numResBlocks must be >= 1");
        if (dropout < 0 || dropout >= 1) throw new IllegalArgumentException("dropout must be in [0, 1)");
        if (numClasses < 0) throw new IllegalArgumentException("numClasses must be >= 0");
        channelMult = channelMult.clone();
        attnResolutions = attnResolutions.clone();
    }

    public int levels() { return channelMult.length; }

    public int embDim() { return 4 * baseChannels; }

    public boolean hasAttentionAt(int resolution) {
        for (int r : attnResolutions) if (r == resolution) return true;
        return false;
    }

    public UNetConfig withImage(int channels, int size) {
        return new UNetConfig(channels, channels, size, baseChannels, channelMult, numResBlocks, attnResolutions,
                dropout, groups, heads, numClasses, scaleShift);
    }

    /** The same network with {@code out} output channels (twice the input's for a learned variance). */
    public UNetConfig withOutChannels(int out) {
        return new UNetConfig(inChannels, out, imageSize, baseChannels, channelMult, numResBlocks, attnResolutions,
                dropout, groups, heads, numClasses, scaleShift);
    }

    public UNetConfig withClasses(int classes) {
        return new UNetConfig(inChannels, outChannels, imageSize, baseChannels, channelMult, numResBlocks,
                attnResolutions, dropout, groups, heads, classes, scaleShift);
    }

    public UNetConfig withBaseChannels(int base) {
        return new UNetConfig(inChannels, outChannels, imageSize, base, channelMult, numResBlocks, attnResolutions,
                dropout, groups, heads, numClasses, scaleShift);
    }

    public UNetConfig withResBlocks(int blocks) {
        return new UNetConfig(inChannels, outChannels, imageSize, baseChannels, channelMult, blocks, attnResolutions,
                dropout, groups, heads, numClasses, scaleShift);
    }

    public UNetConfig withDropout(float p) {
        return new UNetConfig(inChannels, outChannels, imageSize, baseChannels, channelMult, numResBlocks,
                attnResolutions, p, groups, heads, numClasses, scaleShift);
    }

    /** The JSON-friendly form used in checkpoints' config.json. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("in_channels", inChannels);
        m.put("out_channels", outChannels);
        m.put("image_size", imageSize);
        m.put("base_channels", baseChannels);
        m.put("channel_mult", channelMult.clone());
        m.put("num_res_blocks", numResBlocks);
        m.put("attn_resolutions", attnResolutions.clone());
        m.put("dropout", dropout);
        m.put("groups", groups);
        m.put("heads", heads);
        m.put("num_classes", numClasses);
        m.put("scale_shift", scaleShift);
        return m;
    }

    @Override public boolean equals(Object o) {
        return o instanceof UNetConfig c && inChannels == c.inChannels && outChannels == c.outChannels
                && imageSize == c.imageSize && baseChannels == c.baseChannels
                && Arrays.equals(channelMult, c.channelMult) && numResBlocks == c.numResBlocks
                && Arrays.equals(attnResolutions, c.attnResolutions) && dropout == c.dropout && groups == c.groups
                && heads == c.heads && numClasses == c.numClasses && scaleShift == c.scaleShift;
    }

    @Override public int hashCode() {
        return java.util.Objects.hash(inChannels, outChannels, imageSize, baseChannels, Arrays.hashCode(channelMult),
                numResBlocks, Arrays.hashCode(attnResolutions), dropout, groups, heads, numClasses, scaleShift);
    }

    @Override public String toString() {
        return "UNetConfig{ch=" + baseChannels + ", mult=" + Arrays.toString(channelMult) + ", blocks=" + numResBlocks
                + ", attn=" + Arrays.toString(attnResolutions) + ", image=" + inChannels + "x" + imageSize + "x"
                + imageSize + ", dropout=" + dropout + ", groups=" + groups + ", heads=" + heads + ", classes="
                + numClasses + ", scaleShift=" + scaleShift + "}";
    }
}
