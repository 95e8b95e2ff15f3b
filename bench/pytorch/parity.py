"""Parity of diffusion4j against PyTorch on one training step, from a dump written by `diffusion4j bench --dump DIR`:

  * builds unet.UNet from the dump's config.json and loads model.safetensors (strict: same keys and shapes);
  * runs the forward pass on the dumped x_t, timesteps (and labels), compares the output with ours;
  * computes the same loss, (1/N) sum_n w_n mean_i (out - eps)^2, runs backward and compares every parameter
    gradient with ours;
  * feeds OUR gradients to torch.optim.AdamW (after the same global-norm clipping) and compares the updated weights
    and the EMA with ours (this checks the optimizer and EMA independently of the gradients' rounding).

Errors are printed as max |ours - torch| and that divided by max |torch| of the tensor (a tensor whose gradient is
tiny compared with the largest gradient uses 1% of the largest as its scale, so rounding noise on near-zero gradients
does not count as a failure). The run fails (exit 1) above the tolerances; FP32 defaults, --tf32 for looser ones.

    python3 bench/pytorch/parity.py DUMP_DIR [--device cuda] [--tf32] [--json FILE]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402
from unet import UNet, decayed, load_numpy_state  # noqa: E402
from unet_config import UNetConfig, param_shapes  # noqa: E402


def errors(ours, ref, floor=0.0):
    d = (ours.double() - ref.double()).abs()
    err = float(d.max()) if d.numel() else 0.0
    scale = max(float(ref.double().abs().max()) if ref.numel() else 0.0, floor)
    return err, (err / scale if scale > 0 else (0.0 if err == 0 else math.inf))


def main():
    ap = argparse.ArgumentParser(description="diffusion4j vs PyTorch: output, gradients, AdamW and EMA of one step")
    ap.add_argument("dump")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in PyTorch (and use the TF32 tolerances)")
    ap.add_argument("--tol-output", type=float, default=None, help="default 1e-4 (FP32), 1e-2 (TF32)")
    ap.add_argument("--tol-grad", type=float, default=None, help="default 1e-3 (FP32), 5e-2 (TF32)")
    ap.add_argument("--tol-update", type=float, default=1e-3)
    ap.add_argument("--json", help="also write the summary as JSON to this file")
    ap.add_argument("--quiet", action="store_true", help="print only the worst tensors, not every gradient")
    args = ap.parse_args()
    tol_out = args.tol_output if args.tol_output is not None else (1e-2 if args.tf32 else 1e-4)
    tol_grad = args.tol_grad if args.tol_grad is not None else (5e-2 if args.tf32 else 1e-3)

    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    dev = torch.device(args.device)

    cj = json.load(open(os.path.join(args.dump, "config.json")))
    cfg = UNetConfig.from_dict(cj["config"])
    weights, _ = safetensors_np.load(os.path.join(args.dump, "model.safetensors"))
    batch, _ = safetensors_np.load(os.path.join(args.dump, "batch.safetensors"))
    print(f"parity: dump {args.dump} ({cj['preset']}, {cj['parameters']} parameters, batch {cj['batch_size']}, "
          f"written by {cj['backend']})")
    print(f"torch {torch.__version__}, device {dev}" + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else "")
          + f", TF32 matmul {torch.backends.cuda.matmul.allow_tf32}, TF32 cuDNN {torch.backends.cudnn.allow_tf32}, "
          f"cudnn.deterministic True, attention math")

    model = UNet(cfg, attention="math")
    names = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert names == dict(param_shapes(cfg)), "unet.UNet's state_dict differs from unet_config.param_shapes"
    load_numpy_state(model, weights).to(dev).train()

    def t(name):
        return torch.from_numpy(batch[name].copy()).to(dev)

    xt, ts, target, w = t("xt"), t("timesteps"), t("target"), t("weights")
    labels = t("labels") if "labels" in batch else None
    t0 = time.time()
    out = model(xt, ts, labels)
    loss = (w * ((out - target) ** 2).flatten(1).mean(dim=1)).mean()
    loss.backward()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    summary = {"dump": args.dump, "preset": cj["preset"], "dump_backend": cj["backend"], "torch": torch.__version__,
               "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "tf32": args.tf32,
               "forward_backward_s": round(time.time() - t0, 3)}
    failures = []

    oe, orl = errors(t("output"), out.detach())
    summary["output"] = {"max_abs": oe, "max_rel": orl}
    print(f"output      max abs {oe:.3e}  rel {orl:.3e}  (tolerance {tol_out:g})")
    if orl > tol_out:
        failures.append("output")
    loss_ours = float(batch["loss"][0])
    lrel = abs(loss_ours - float(loss)) / abs(float(loss))
    summary["loss"] = {"ours": loss_ours, "torch": float(loss), "rel": lrel}
    print(f"loss        ours {loss_ours:.8f}  torch {float(loss):.8f}  rel {lrel:.3e}")
    if lrel > tol_out:
        failures.append("loss")

    params = dict(model.named_parameters())
    gmax = max(float(p.grad.abs().max()) for p in params.values() if p.grad is not None)
    grad_rows = []
    for k, p in params.items():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        e, r = errors(t("grad." + k), g, floor=1e-2 * gmax)
        grad_rows.append((r, e, k))
        if r > tol_grad:
            failures.append("grad." + k)
    grad_rows_sorted = sorted(grad_rows, reverse=True)
    for r, e, k in (grad_rows_sorted[:10] if args.quiet else grad_rows):
        print(f"grad  {k:<45} max abs {e:.3e}  rel {r:.3e}")
    worst = grad_rows_sorted[0]
    print(f"gradients   {len(grad_rows)} tensors, worst {worst[2]}: rel {worst[0]:.3e} (tolerance {tol_grad:g})")
    summary["gradients"] = {"tensors": len(grad_rows), "worst": worst[2], "worst_rel": worst[0], "worst_abs": worst[1],
                            "median_rel": float(np.median([r for r, _, _ in grad_rows]))}

    # AdamW + EMA from OUR gradients (independent of gradient rounding)
    s = cj["train_settings"]
    load_numpy_state(model, weights).to(dev)
    before = {k: p.detach().clone() for k, p in params.items()}
    for k, p in params.items():
        p.grad = t("grad." + k)
    norm = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in params.values()))
    clip = s["grad_clip"] / norm if s["grad_clip"] > 0 and norm > s["grad_clip"] else 1.0
    for p in params.values():
        p.grad.mul_(clip)
    groups = [{"params": [p for k, p in params.items() if decayed(k, p)], "weight_decay": s["weight_decay"]},
              {"params": [p for k, p in params.items() if not decayed(k, p)], "weight_decay": 0.0}]
    assert {k for k, p in params.items() if decayed(k, p)} == set(cj["decayed_parameters"])
    opt = torch.optim.AdamW(groups, lr=s["lr"], betas=(s["beta1"], s["beta2"]), eps=s["eps"], foreach=False)
    opt.step()
    d = min(s["ema_decay"], 2.0 / 11.0)
    worst_u = worst_e = (0.0, "")
    update_bad = []
    for k, p in params.items():
        ema = before[k] * d + p.detach() * (1 - d)
        # float32 weights round (after - before) to their ulp: allow 2 ulps of the largest weight on top
        slack = 2.0 * float(np.spacing(np.float32(before[k].abs().max().item())))
        eu, ru = errors(t("after." + k) - before[k], p.detach() - before[k])
        ee, re = errors(t("ema." + k) - before[k], ema - before[k])
        delta = float((p.detach() - before[k]).abs().max())
        if eu > args.tol_update * delta + slack or ee > args.tol_update * delta + slack:
            update_bad.append(k)
        worst_u, worst_e = max(worst_u, (ru, k)), max(worst_e, (re, k))
    step = cj["step"]
    print(f"grad norm   ours {step['grad_norm']:.6f}  torch {norm:.6f}; clip scale ours {step['clip_scale']:.6f} torch {clip:.6f}")
    print(f"AdamW       worst rel error of the update {worst_u[0]:.3e} ({worst_u[1]}); EMA {worst_e[0]:.3e} ({worst_e[1]}) "
          f"(tolerance {args.tol_update:g} of the largest update + 2 float32 ulps of the largest weight)")
    summary["adamw"] = {"worst_rel": worst_u[0], "tensor": worst_u[1]}
    summary["ema"] = {"worst_rel": worst_e[0], "tensor": worst_e[1]}
    failures += ["update." + k for k in update_bad]
    if abs(norm - step["grad_norm"]) > 1e-5 * norm:
        failures.append("grad_norm")

    summary["tolerances"] = {"output": tol_out, "grad": tol_grad, "update": args.tol_update}
    summary["failures"] = failures
    summary["pass"] = not failures
    print("PARITY " + ("PASS" if not failures else f"FAIL ({len(failures)}: {', '.join(failures[:8])})"))
    print("parity-json " + json.dumps(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
