"""The U-Net configuration of diffusion4j, in plain Python (no PyTorch): presets, the parameter names and shapes in
diffusion4j's registration order, and the multiply-add count of one forward pass. Mirrors `nn/Presets.java`,
`nn/UNetConfig.java` and the constructor of `nn/UNet.java`; `check_reader.py` compares it with a dump's
`model.safetensors` and `config.json`, so a drift on either side shows up without a GPU.
"""
from collections import OrderedDict
from dataclasses import dataclass, field

# the UNet presets of Presets.unetConfig (3 channels, unconditional, no scale-shift norm)
PRESETS = {
    "tiny": dict(image_size=16, base_channels=16, channel_mult=[1, 2], num_res_blocks=1, attn_resolutions=[8],
                 dropout=0.0, groups=4, heads=2),
    # the default of `train` on the CPU: 16 channels at 32x32, 64 at 8x8 and 4x4
    "small": dict(image_size=32, base_channels=16, channel_mult=[1, 2, 4, 4], num_res_blocks=1, attn_resolutions=[8, 4],
                  dropout=0.0, groups=8, heads=4),
    "medium": dict(image_size=32, base_channels=64, channel_mult=[1, 2, 2, 2], num_res_blocks=2, attn_resolutions=[16],
                   dropout=0.1, groups=32, heads=4),
    # Ho et al. 2020, CIFAR-10: 35.7M parameters
    "ddpm-cifar10": dict(image_size=32, base_channels=128, channel_mult=[1, 2, 2, 2], num_res_blocks=2,
                         attn_resolutions=[16], dropout=0.1, groups=32, heads=1),
}


@dataclass
class UNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    image_size: int = 32
    base_channels: int = 32
    channel_mult: list = field(default_factory=lambda: [1, 2, 2])
    num_res_blocks: int = 1
    attn_resolutions: list = field(default_factory=list)
    dropout: float = 0.0
    groups: int = 8
    heads: int = 4
    num_classes: int = 0
    scale_shift: bool = False

    @property
    def emb_dim(self):
        return 4 * self.base_channels

    @property
    def levels(self):
        return len(self.channel_mult)

    @staticmethod
    def from_dict(d):
        """From the "config" object of a diffusion4j config.json (UNetConfig.toMap)."""
        keys = UNetConfig.__dataclass_fields__.keys()
        return UNetConfig(**{k: (list(v) if isinstance(v, list) else v) for k, v in d.items() if k in keys})

    @staticmethod
    def preset(name, image_size=None, channels=3, classes=0, dropout=None):
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r} (UNet presets: {', '.join(PRESETS)})")
        p = dict(PRESETS[name])
        if image_size is not None:
            p["image_size"] = image_size
        if dropout is not None:
            p["dropout"] = dropout
        return UNetConfig(in_channels=channels, out_channels=channels, num_classes=classes, **p)


def param_shapes(cfg):
    """OrderedDict name -> shape of every parameter, in diffusion4j's registration (and file) order."""
    out = OrderedDict()
    ch, emb = cfg.base_channels, cfg.emb_dim

    def linear(prefix, i, o):
        out[prefix + ".weight"] = (o, i)
        out[prefix + ".bias"] = (o,)

    def conv(prefix, i, o, k):
        out[prefix + ".weight"] = (o, i, k, k)
        out[prefix + ".bias"] = (o,)

    def norm(prefix, c):
        out[prefix + ".weight"] = (c,)
        out[prefix + ".bias"] = (c,)

    def resblock(prefix, i, o):
        norm(prefix + ".norm1", i)
        conv(prefix + ".conv1", i, o, 3)
        linear(prefix + ".emb_proj", emb, 2 * o if cfg.scale_shift else o)
        norm(prefix + ".norm2", o)
        conv(prefix + ".conv2", o, o, 3)
        if i != o:
            conv(prefix + ".skip", i, o, 1)

    def attention(prefix, c):
        norm(prefix + ".norm", c)
        conv(prefix + ".qkv", c, 3 * c, 1)
        conv(prefix + ".proj", c, c, 1)

    linear("time_embed.fc1", ch, emb)
    linear("time_embed.fc2", emb, emb)
    if cfg.num_classes > 0:
        out["label_embed.weight"] = (cfg.num_classes + 1, emb)
    conv("conv_in", cfg.in_channels, ch, 3)
    skips, cur, res = [ch], ch, cfg.image_size
    for level in range(cfg.levels):
        o = ch * cfg.channel_mult[level]
        for i in range(cfg.num_res_blocks):
            p = f"down.{level}.block.{i}"
            resblock(p + ".res", cur, o)
            cur = o
            if res in cfg.attn_resolutions:
                attention(p + ".attn", cur)
            skips.append(cur)
        if level != cfg.levels - 1:
            conv(f"down.{level}.downsample.conv", cur, cur, 3)
            res //= 2
            skips.append(cur)
    resblock("mid.block1", cur, cur)
    attention("mid.attn", cur)
    resblock("mid.block2", cur, cur)
    for level in reversed(range(cfg.levels)):
        o = ch * cfg.channel_mult[level]
        for i in range(cfg.num_res_blocks + 1):
            p = f"up.{level}.block.{i}"
            resblock(p + ".res", cur + skips.pop(), o)
            cur = o
            if res in cfg.attn_resolutions:
                attention(p + ".attn", cur)
        if level != 0:
            conv(f"up.{level}.upsample.conv", cur, cur, 3)
            res *= 2
    norm("norm_out", cur)
    conv("conv_out", cur, cfg.out_channels, 3)
    return out


def macs_per_image(cfg):
    """Multiply-adds of one forward pass per image, counted as UNet.java counts them: convolutions, linear layers of
    the time embedding and the blocks' embedding projections, and the attention products (q k^T and A v)."""
    ch, emb = cfg.base_channels, cfg.emb_dim
    macs = ch * emb + emb * emb
    res = cfg.image_size

    def conv(i, o, k, out_res):
        return out_res * out_res * o * i * k * k

    def resblock(i, o, r):
        p = r * r
        return p * 9 * i * o + p * 9 * o * o + emb * (2 * o if cfg.scale_shift else o) + (p * i * o if i != o else 0)

    def attention(c, r):
        p = r * r
        return p * 3 * c * c + 2 * p * p * c + p * c * c

    macs += conv(cfg.in_channels, ch, 3, res)
    skips, cur = [ch], ch
    for level in range(cfg.levels):
        o = ch * cfg.channel_mult[level]
        for _ in range(cfg.num_res_blocks):
            macs += resblock(cur, o, res)
            cur = o
            if res in cfg.attn_resolutions:
                macs += attention(cur, res)
            skips.append(cur)
        if level != cfg.levels - 1:
            res //= 2
            macs += conv(cur, cur, 3, res)   # stride 2: output at half the resolution
            skips.append(cur)
    macs += resblock(cur, cur, res) + attention(cur, res) + resblock(cur, cur, res)
    for level in reversed(range(cfg.levels)):
        o = ch * cfg.channel_mult[level]
        for _ in range(cfg.num_res_blocks + 1):
            macs += resblock(cur + skips.pop(), o, res)
            cur = o
            if res in cfg.attn_resolutions:
                macs += attention(cur, res)
        if level != 0:
            res *= 2
            macs += conv(cur, cur, 3, res)
    macs += conv(cur, cfg.out_channels, 3, res)
    return macs


def parameter_count(cfg):
    n = 0
    for shape in param_shapes(cfg).values():
        k = 1
        for d in shape:
            k *= d
        n += k
    return n
