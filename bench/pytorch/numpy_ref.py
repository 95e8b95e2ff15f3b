"""The forward pass of unet.py written again in NumPy (float64), step for step, from a dict of named weights.

It exists so that the twin's understanding of the architecture (names, layer order, concat order, attention layout,
time embedding, loss, AdamW and EMA formulas) can be checked against a diffusion4j dump on a machine without
PyTorch (`check_reader.py`). `parity.py` then checks the PyTorch module itself on the GPU machine.
"""
import math

import numpy as np

from unet_config import UNetConfig

GN_EPS = 1e-6


def silu(x):
    return x / (1.0 + np.exp(-x))


def conv2d(x, w, b, stride=1, pad=0):
    """x [N, C, H, W], w [O, C, k, k] -> [N, O, Ho, Wo] (cross-correlation, as PyTorch)."""
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))          # [N, Ho, Wo, O]
    y = y.transpose(0, 3, 1, 2)
    return y + b[None, :, None, None] if b is not None else y


def linear(x, w, b):
    return x @ w.T + b


def group_norm(x, groups, gamma, beta, eps=GN_EPS):
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1)
    mean = g.mean(axis=2, keepdims=True)
    var = g.var(axis=2, keepdims=True)
    y = ((g - mean) / np.sqrt(var + eps)).reshape(x.shape)
    return y * gamma[None, :, None, None] + beta[None, :, None, None]


def timestep_embedding(t, dim, max_period=10000.0):
    half = dim // 2
    freqs = np.exp(-math.log(max_period) * np.arange(half) / (half - 1))
    args = t.astype(np.float64)[:, None] * freqs[None, :]
    emb = np.concatenate([np.sin(args), np.cos(args)], axis=1)
    if dim % 2 == 1:
        emb = np.pad(emb, ((0, 0), (0, 1)))
    return emb.astype(np.float32).astype(np.float64)   # the backends round the table to float32 once


class UNetNumpy:
    def __init__(self, cfg: UNetConfig, weights):
        self.cfg = cfg
        self.w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}

    def _p(self, name):
        return self.w[name]

    def _conv(self, prefix, x, stride=1):
        w = self._p(prefix + ".weight")
        return conv2d(x, w, self._p(prefix + ".bias"), stride, (w.shape[2] - 1) // 2 if stride == 1 else 1)

    def _norm(self, prefix, x):
        return group_norm(x, self.cfg.groups, self._p(prefix + ".weight"), self._p(prefix + ".bias"))

    def _resblock(self, p, x, e):
        h = self._conv(p + ".conv1", silu(self._norm(p + ".norm1", x)))
        ep = linear(e, self._p(p + ".emb_proj.weight"), self._p(p + ".emb_proj.bias"))[:, :, None, None]
        if self.cfg.scale_shift:
            c = h.shape[1]
            h = self._norm(p + ".norm2", h) * (1 + ep[:, :c]) + ep[:, c:]
        else:
            h = self._norm(p + ".norm2", h + ep)
        h = self._conv(p + ".conv2", silu(h))            # dropout 0 in a dump
        skip = self._conv(p + ".skip", x) if (p + ".skip.weight") in self.w else x
        return skip + h

    def _attention(self, p, x):
        n, c, hh, ww = x.shape
        heads = self.cfg.heads
        d, P = c // heads, hh * ww
        qkv = self._conv(p + ".qkv", self._norm(p + ".norm", x)).reshape(n, 3, heads, d, P)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        s = np.einsum("nhdi,nhdj->nhij", q, k) / math.sqrt(d)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        a = s / s.sum(axis=-1, keepdims=True)
        out = np.einsum("nhdj,nhij->nhdi", v, a).reshape(n, c, hh, ww)
        return x + self._conv(p + ".proj", out)

    def _resattn(self, p, x, e, res):
        h = self._resblock(p + ".res", x, e)
        return self._attention(p + ".attn", h) if res in self.cfg.attn_resolutions else h

    def forward(self, x, t, labels=None):
        cfg = self.cfg
        x = np.asarray(x, dtype=np.float64)
        emb = timestep_embedding(np.asarray(t), cfg.base_channels)
        emb = linear(silu(linear(emb, self._p("time_embed.fc1.weight"), self._p("time_embed.fc1.bias"))),
                     self._p("time_embed.fc2.weight"), self._p("time_embed.fc2.bias"))
        if cfg.num_classes > 0:
            onehot = np.eye(cfg.num_classes + 1)[np.asarray(labels).astype(np.int64)]
            emb = emb + onehot @ self._p("label_embed.weight")
        e = silu(emb)
        h = self._conv("conv_in", x)
        skips, res = [h], cfg.image_size
        for level in range(cfg.levels):
            for i in range(cfg.num_res_blocks):
                h = self._resattn(f"down.{level}.block.{i}", h, e, res)
                skips.append(h)
            if level != cfg.levels - 1:
                h = self._conv(f"down.{level}.downsample.conv", h, stride=2)
                res //= 2
                skips.append(h)
        h = self._resblock("mid.block1", h, e)
        h = self._attention("mid.attn", h)
        h = self._resblock("mid.block2", h, e)
        for level in reversed(range(cfg.levels)):
            for i in range(cfg.num_res_blocks + 1):
                h = self._resattn(f"up.{level}.block.{i}", np.concatenate([h, skips.pop()], axis=1), e, res)
            if level != 0:
                h = self._conv(f"up.{level}.upsample.conv", h.repeat(2, axis=2).repeat(2, axis=3))
                res *= 2
        return self._conv("conv_out", silu(self._norm("norm_out", h)))


def loss(output, target, weights):
    """(1/N) sum_n w_n mean_i (output - target)^2, the loss of TrainingObjective.loss."""
    d = (np.asarray(output, np.float64) - np.asarray(target, np.float64)).reshape(len(weights), -1)
    return float(np.mean(np.asarray(weights, np.float64) * np.mean(d * d, axis=1)))


def adamw_ema_step(params, grads, decayed, s, step=1):
    """One clipped AdamW update from zero moments, then the EMA, as PyTorch's AdamW and diffusion4j's Ema compute them.

    params, grads: dict name -> array; decayed: set of names with weight decay; s: the dump's train_settings.
    Returns (new params, ema, grad_norm, clip_scale, ema_decay)."""
    norm = math.sqrt(sum(float(np.sum(np.asarray(g, np.float64) ** 2)) for g in grads.values()))
    clip = s["grad_clip"] / norm if s["grad_clip"] > 0 and norm > s["grad_clip"] else 1.0
    lr, b1, b2, eps, wd = s["lr"], s["beta1"], s["beta2"], s["eps"], s["weight_decay"]
    bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
    d = min(s["ema_decay"], (1.0 + step) / (10.0 + step))
    new, ema = {}, {}
    for k, p in params.items():
        p = np.asarray(p, np.float64)
        g = np.asarray(grads[k], np.float64) * clip
        m = (1 - b1) * g
        v = (1 - b2) * g * g
        q = p * (1 - lr * wd) if k in decayed else p
        q = q - (lr / bc1) * m / (np.sqrt(v) / math.sqrt(bc2) + eps)
        new[k] = q
        ema[k] = d * p + (1 - d) * q
    return new, ema, norm, clip, d
