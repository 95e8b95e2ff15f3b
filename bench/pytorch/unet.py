"""diffusion4j's U-Net in plain PyTorch: the same module tree (so `state_dict()` keys are our safetensors names), the
same layer order and math, and the same initialisation scheme (not the same random numbers: ours come from Philox).

Math, as in `nn/*.java` of diffusion4j:
  time embedding  DDPM sinusoidal embedding of dim = base channels, freq_j = exp(-ln(10000) j / (half - 1)),
                  [sin | cos], then Linear -> SiLU -> Linear (time_embed.fc1, fc2); the class embedding (one-hot of
                  classes + 1 ids, the last the null class) @ label_embed.weight is added; SiLU(temb) is computed once
                  and fed to every residual block's emb_proj
  ResBlock        h = conv1(SiLU(norm1(x))); h = norm2(h + emb_proj(e)) (scale-shift: norm2(h) (1 + scale) + shift);
                  h = conv2(Dropout(SiLU(h))); out = skip(x) + h (skip a 1x1 conv when channels change)
  attention       h = norm(x); qkv = 1x1 conv (channels q | k | v, each heads x head_dim); A = softmax_j(q_i . k_j /
                  sqrt(d)); out[d, i] = sum_j v[d, j] A[i, j]; x + proj(out)
  down / up       conv3x3 stride 2 pad 1 / nearest x2 then conv3x3; on the way up the input is cat([h, skip])
  out             conv_out(SiLU(norm_out(h))); GroupNorm eps 1e-6 everywhere
  init            weights U(-l, l), l = sqrt(3 / ((fan_in + fan_out) / 2)) (DDPM's variance_scaling fan_avg
                  uniform); biases 0; GroupNorm 1 / 0; zero: every conv2, attention proj and conv_out; label_embed N(0, 1)
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from unet_config import UNetConfig

GN_EPS = 1e-6


def timestep_embedding(t, dim, max_period=10000.0):
    """[N] timesteps -> [N, dim], computed in float64 and rounded once, as the CPU backend does."""
    half = dim // 2
    j = torch.arange(half, device=t.device, dtype=torch.float64)
    freqs = torch.exp(-math.log(max_period) * j / (half - 1))
    args = t.to(torch.float64)[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1))
    return emb.to(torch.float32)


class TimeEmbedding(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.dim = dim
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, t):
        return self.fc2(F.silu(self.fc1(timestep_embedding(t, self.dim))))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, dropout, groups, scale_shift):
        super().__init__()
        self.scale_shift = scale_shift
        self.norm1 = nn.GroupNorm(groups, cin, eps=GN_EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, 2 * cout if scale_shift else cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=GN_EPS)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb_act):
        h = self.conv1(F.silu(self.norm1(x)))
        e = self.emb_proj(emb_act)[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        else:
            h = self.norm2(h + e)
        h = self.conv2(self.dropout(F.silu(h)))
        return (x if self.skip is None else self.skip(x)) + h


class SelfAttention(nn.Module):
    """`impl`: "math" (explicit softmax, the formula above; used for parity) or "sdpa"
    (F.scaled_dot_product_attention, PyTorch's fused kernels; the same function)."""

    def __init__(self, channels, heads, groups, impl="math"):
        super().__init__()
        self.heads, self.impl = heads, impl
        self.norm = nn.GroupNorm(groups, channels, eps=GN_EPS)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        n, c, hh, ww = x.shape
        p, d = hh * ww, c // self.heads
        qkv = self.qkv(self.norm(x)).reshape(n, 3, self.heads, d, p)
        q, k, v = qkv.unbind(1)                                     # [n, heads, d, p] each
        if self.impl == "sdpa":
            out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
            out = out.transpose(-1, -2)                             # [n, heads, d, p]
        else:
            a = torch.softmax(torch.matmul(q.transpose(-1, -2), k) * (1.0 / math.sqrt(d)), dim=-1)   # [n, h, i, j]
            out = torch.matmul(v, a.transpose(-1, -2))              # out[d, i] = sum_j v[d, j] a[i, j]
        return x + self.proj(out.reshape(n, c, hh, ww))


class ResAttn(nn.Module):
    """A residual block, followed by self-attention at the configured resolutions (names: .res, .attn)."""

    def __init__(self, res, attn):
        super().__init__()
        self.res = res
        self.attn = attn

    def forward(self, x, emb_act):
        h = self.res(x, emb_act)
        return h if self.attn is None else self.attn(h)


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """One resolution: `block` (ResAttn list) and `downsample` (down path) or `upsample` (up path) where present."""

    def __init__(self, blocks, downsample=None, upsample=None):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.downsample = downsample
        self.upsample = upsample


class Mid(nn.Module):
    def __init__(self, block1, attn, block2):
        super().__init__()
        self.block1, self.attn, self.block2 = block1, attn, block2


class UNet(nn.Module):
    def __init__(self, cfg: UNetConfig, attention="math"):
        super().__init__()
        self.cfg = cfg
        ch, emb = cfg.base_channels, cfg.emb_dim
        res = cfg.image_size

        def rb(i, o):
            return ResBlock(i, o, emb, cfg.dropout, cfg.groups, cfg.scale_shift)

        def attn(c, r):
            return SelfAttention(c, cfg.heads, cfg.groups, attention) if r in cfg.attn_resolutions else None

        self.time_embed = TimeEmbedding(ch, emb)
        self.label_embed = nn.Embedding(cfg.num_classes + 1, emb) if cfg.num_classes > 0 else None
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)
        skips, cur, down = [ch], ch, []
        for level in range(cfg.levels):
            o, blocks = ch * cfg.channel_mult[level], []
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResAttn(rb(cur, o), attn(o, res)))
                cur = o
                skips.append(cur)
            ds = None
            if level != cfg.levels - 1:
                ds = Downsample(cur)
                res //= 2
                skips.append(cur)
            down.append(Level(blocks, downsample=ds))
        self.down = nn.ModuleList(down)
        self.mid = Mid(rb(cur, cur), SelfAttention(cur, cfg.heads, cfg.groups, attention), rb(cur, cur))
        up = {}
        for level in reversed(range(cfg.levels)):
            o, blocks = ch * cfg.channel_mult[level], []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResAttn(rb(cur + skips.pop(), o), attn(o, res)))
                cur = o
            us = None
            if level != 0:
                us = Upsample(cur)
                res *= 2
            up[level] = Level(blocks, upsample=us)
        self.up = nn.ModuleList([up[level] for level in range(cfg.levels)])
        self.norm_out = nn.GroupNorm(cfg.groups, cur, eps=GN_EPS)
        self.conv_out = nn.Conv2d(cur, cfg.out_channels, 3, padding=1)

    def forward(self, x, t, labels=None):
        emb = self.time_embed(t)
        if self.label_embed is not None:
            if labels is None:
                raise ValueError("class-conditional model needs labels")
            emb = emb + self.label_embed(labels.long())   # = one_hot(labels) @ label_embed.weight
        e = F.silu(emb)
        h = self.conv_in(x)
        skips = [h]
        for level in self.down:
            for blk in level.block:
                h = blk(h, e)
                skips.append(h)
            if level.downsample is not None:
                h = level.downsample(h)
                skips.append(h)
        h = self.mid.block2(self.mid.attn(self.mid.block1(h, e)), e)
        for level in reversed(self.up):
            for blk in level.block:
                h = blk(torch.cat([h, skips.pop()], dim=1), e)
            if level.upsample is not None:
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


@torch.no_grad()
def init_ddpm(model: UNet, generator=None):
    """diffusion4j's initialisation scheme (see the module docstring); random numbers from torch, not Philox."""
    zero = ("conv2", "proj", "conv_out")
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if name.split(".")[-1] in zero:
                m.weight.zero_()
            else:
                fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
                limit = math.sqrt(3.0 / ((fan_in + fan_out) / 2.0))
                m.weight.uniform_(-limit, limit, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.GroupNorm):
            m.weight.fill_(1.0)
            m.bias.zero_()
        elif isinstance(m, nn.Embedding):
            m.weight.normal_(0.0, 1.0, generator=generator)
    return model


def decayed(name, p):
    """AdamW weight decay applies to weights (rank >= 2: convolutions, linear layers, label_embed), not to biases
    and GroupNorm parameters, as in diffusion4j's ParamStore."""
    return p.ndim >= 2


def load_numpy_state(model, tensors):
    """Loads a dict name -> np.ndarray (e.g. from safetensors_np.load) with strict key and shape checks."""
    sd = model.state_dict()
    missing = [k for k in sd if k not in tensors]
    extra = [k for k in tensors if k not in sd]
    if missing or extra:
        raise KeyError(f"state_dict mismatch: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                       f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(tensors[k].shape):
            raise ValueError(f"{k}: file shape {tuple(tensors[k].shape)}, model shape {tuple(v.shape)}")
    model.load_state_dict({k: torch.from_numpy(tensors[k].copy()) for k in sd}, strict=True)
    return model
