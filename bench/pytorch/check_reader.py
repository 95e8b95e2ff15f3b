"""Checks a diffusion4j parity dump (`diffusion4j bench --dump DIR`) with NumPy alone, no PyTorch:

  1. the safetensors reader: every tensor of model.safetensors and batch.safetensors loads with the dtype, shape,
     sum, sum of |x| and first/last values that diffusion4j recorded in checksums.json, in the same order;
  2. the twin's view of the model: parameter names, shapes and order (unet_config.param_shapes), parameter count,
     multiply-adds per image, and which parameters get weight decay, against config.json;
  3. the twin's math, through numpy_ref.py (float64): the forward pass against the dumped output, the loss, and the
     clipped AdamW + EMA update (from the dumped gradients) against the dumped weights after the step;
  4. with --grad-check N: directional derivatives of the loss (central differences of the float64 forward) along
     the dumped gradient, for the whole gradient and for N parameter tensors.

Exit status 0 when everything is within tolerance, 1 otherwise. Usage:
    python3 bench/pytorch/check_reader.py DUMP_DIR [--tol-forward 1e-4] [--grad-check 8]
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_ref  # noqa: E402
import safetensors_np  # noqa: E402
from unet_config import UNetConfig, macs_per_image, param_shapes, parameter_count  # noqa: E402

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def scaled_error(a, ref):
    """(max |a - ref|, max |a - ref| / max |ref|)."""
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    err = float(np.max(np.abs(a - ref))) if a.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return err, err / scale if scale > 0 else (0.0 if err == 0 else math.inf)


def check_file(path, sums):
    tensors, meta = safetensors_np.load(path)
    dtypes = safetensors_np.dtypes(path)
    name = os.path.basename(path)
    check(list(tensors) == list(sums), f"{name}: {len(tensors)} tensors, names and order as recorded ({len(sums)})")
    bad = []
    for k, c in sums.items():
        a = tensors.get(k)
        if a is None:
            bad.append(f"{k} missing")
            continue
        flat = a.reshape(-1)
        if dtypes[k] != c["dtype"] or a.dtype != np.float32:
            bad.append(f"{k} dtype {dtypes[k]}/{a.dtype}")
        if list(a.shape) != list(c["shape"]):
            bad.append(f"{k} shape {a.shape} != {c['shape']}")
            continue
        s, abs_s = float(np.sum(flat, dtype=np.float64)), float(np.sum(np.abs(flat), dtype=np.float64))
        if abs(s - c["sum"]) > 1e-9 * max(1.0, c["abs_sum"]) or abs(abs_s - c["abs_sum"]) > 1e-9 * max(1.0, c["abs_sum"]):
            bad.append(f"{k} sums {s}, {abs_s} != {c['sum']}, {c['abs_sum']}")
        first = [float(v) for v in flat[:len(c["first"])]]
        if first != list(c["first"]) or (flat.size and float(flat[-1]) != c["last"]):
            bad.append(f"{k} first/last values differ")
    check(not bad, f"{name}: dtype, shape, sums, first and last values of every tensor" + (f" ({bad[:3]})" if bad else ""))
    return tensors, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dump")
    ap.add_argument("--tol-forward", type=float, default=1e-4, help="max |out - ref| / max |ref| of the forward pass")
    ap.add_argument("--tol-update", type=float, default=1e-3, help="same for the AdamW update (after - before) and EMA")
    ap.add_argument("--grad-check", type=int, default=0, help="parameter tensors to check by directional derivatives")
    args = ap.parse_args()

    cfg_json = json.load(open(os.path.join(args.dump, "config.json")))
    sums = json.load(open(os.path.join(args.dump, "checksums.json")))
    cfg = UNetConfig.from_dict(cfg_json["config"])
    print(f"dump {args.dump}: preset {cfg_json['preset']}, {cfg_json['parameters']} parameters, batch "
          f"{cfg_json['batch_size']}, written by {cfg_json['backend']}")

    # 1. the reader
    weights, meta = check_file(os.path.join(args.dump, "model.safetensors"), sums["model.safetensors"])
    batch, _ = check_file(os.path.join(args.dump, "batch.safetensors"), sums["batch.safetensors"])
    check(meta.get("format") == "diffusion4j-parity-dump", f"metadata {meta}")

    # 2. the model's names, shapes, sizes
    shapes = param_shapes(cfg)
    check([(k, tuple(v.shape)) for k, v in weights.items()] == list(shapes.items()),
          "parameter names, shapes and order equal unet_config.param_shapes (the PyTorch state_dict keys)")
    check(parameter_count(cfg) == cfg_json["parameters"], f"parameter count {parameter_count(cfg)}")
    check(macs_per_image(cfg) == cfg_json["macs_per_image"], f"multiply-adds per image {macs_per_image(cfg)}")
    decayed = set(cfg_json["decayed_parameters"])
    check(decayed == {k for k, v in weights.items() if v.ndim >= 2}, "weight decay exactly on the tensors of rank >= 2")
    for prefix in ("grad.", "after.", "ema."):
        check(all(prefix + k in batch and batch[prefix + k].shape == weights[k].shape for k in weights),
              f"batch has {prefix}<name> for every parameter")

    # 3. forward, loss, update
    ref = numpy_ref.UNetNumpy(cfg, weights)
    labels = batch.get("labels")
    out = ref.forward(batch["xt"], batch["timesteps"], labels)
    err, rel = scaled_error(batch["output"], out)
    check(rel <= args.tol_forward, f"forward: max abs error {err:.3e}, relative to max |output| {rel:.3e} "
                                   f"(tolerance {args.tol_forward:g})")
    loss_dump = float(batch["loss"][0])
    loss_ref = numpy_ref.loss(out, batch["target"], batch["weights"])
    loss_of_dump = numpy_ref.loss(batch["output"], batch["target"], batch["weights"])
    check(abs(loss_of_dump - loss_dump) <= 1e-6 * abs(loss_dump), f"loss of the dumped output {loss_of_dump:.8f} = dumped loss {loss_dump:.8f}")
    check(abs(loss_ref - loss_dump) <= 10 * args.tol_forward * abs(loss_dump), f"loss of the reference forward {loss_ref:.8f}")
    grads = {k: batch["grad." + k] for k in weights}
    new, ema, norm, clip, decay = numpy_ref.adamw_ema_step(weights, grads, decayed, cfg_json["train_settings"])
    step = cfg_json["step"]
    check(abs(norm - step["grad_norm"]) <= 1e-5 * norm, f"gradient norm {norm:.6f} (dump {step['grad_norm']:.6f}), "
                                                        f"clip scale {clip:.6f} (dump {step['clip_scale']:.6f})")
    check(abs(decay - step["ema_decay"]) <= 1e-6, f"EMA decay {decay:.6f} (dump {step['ema_decay']:.6f})")
    worst_u = worst_e = (0.0, "")
    bad_u, bad_e = [], []
    for k, p in weights.items():
        p64 = p.astype(np.float64)
        # float32 weights round (after - before) to their ulp: allow 2 ulps of the largest weight on top
        slack = 2.0 * float(np.spacing(np.max(np.abs(p))))
        delta = float(np.max(np.abs(new[k] - p64)))
        eu, ru = scaled_error(batch["after." + k].astype(np.float64) - p64, new[k] - p64)
        ee, re = scaled_error(batch["ema." + k].astype(np.float64) - p64, ema[k] - p64)
        if eu > args.tol_update * delta + slack:
            bad_u.append(k)
        if ee > args.tol_update * delta + slack:
            bad_e.append(k)
        worst_u, worst_e = max(worst_u, (ru, k)), max(worst_e, (re, k))
    check(not bad_u, f"AdamW update (after - before): worst relative error {worst_u[0]:.3e} ({worst_u[1]}); "
                     f"beyond tolerance + 2 ulps: {bad_u[:3]}")
    check(not bad_e, f"EMA (ema - before): worst relative error {worst_e[0]:.3e} ({worst_e[1]}); "
                     f"beyond tolerance + 2 ulps: {bad_e[:3]}")

    # 4. gradients by directional derivatives
    if args.grad_check > 0:
        xt, t, target, w = batch["xt"], batch["timesteps"], batch["target"], batch["weights"]

        def loss_at(shift):
            ws = {k: v.astype(np.float64) + shift.get(k, 0.0) for k, v in weights.items()}
            return numpy_ref.loss(numpy_ref.UNetNumpy(cfg, ws).forward(xt, t, labels), target, w)

        names = list(weights)
        picks = [names[round(i * (len(names) - 1) / max(1, args.grad_check - 1))] for i in range(args.grad_check)]
        for sel in [None] + picks:
            keys = names if sel is None else [sel]
            d = {k: grads[k].astype(np.float64) for k in keys}
            gd = sum(float(np.sum(d[k] * d[k])) for k in keys)          # the dumped directional derivative
            if gd == 0:
                check(True, f"grad {sel}: zero")
                continue
            dmax = max(float(np.max(np.abs(d[k]))) for k in keys)
            pmax = max(float(np.max(np.abs(weights[k]))) for k in keys) or 1.0
            eps = 1e-4 * pmax / dmax
            fd = (loss_at({k: eps * d[k] for k in keys}) - loss_at({k: -eps * d[k] for k in keys})) / (2 * eps)
            rel = abs(fd - gd) / abs(gd)
            check(rel <= 1e-3, f"grad {'(all parameters)' if sel is None else sel}: g.g {gd:.6e}, central "
                               f"difference {fd:.6e}, relative error {rel:.2e}")

    print(f"{len(failures)} failure(s)" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
